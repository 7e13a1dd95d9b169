//! 2FAS Authenticator backups (`.2fas`, 2fas-android `BackupContent`): top-level `services[]`,
//! `groups`, `updatedAt`, `schemaVersion`, `appVersionCode`/`appVersionName`, `appOrigin`; each
//! service has `name`, `secret` and `otp {label, account, issuer, digits, period, algorithm,
//! counter, tokenType, source}`. A password-protected backup carries `servicesEncrypted`
//! instead and is refused with what to do.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::account::{self, Params, json_problem};
use crate::{NormaliseUpn, Parsed, ReadError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Backup<'a> {
    #[serde(default, borrow)]
    services: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    services_encrypted: Option<IgnoredAny>,
    schema_version: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    name: Option<String>,
    secret: Zeroizing<String>,
    #[serde(default)]
    otp: Option<Otp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Otp {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    digits: Option<u64>,
    #[serde(default)]
    period: Option<u64>,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

/// Whether `text` looks like a 2FAS backup (for format detection).
pub(crate) fn looks_like(text: &str) -> bool {
    serde_json::from_str::<Backup<'_>>(text)
        .is_ok_and(|b| b.services.is_some() || b.services_encrypted.is_some())
}

/// Reads a 2FAS backup; each bad service is `service N (name): …`.
///
/// # Errors
/// [`ReadError::Encrypted`] for a password-protected backup; [`ReadError::Malformed`] when
/// the file is not a 2FAS backup.
pub fn parse(text: &str, normalise: NormaliseUpn<'_>) -> Result<Parsed, ReadError> {
    let backup: Backup<'_> = serde_json::from_str(text).map_err(|e| ReadError::Malformed {
        format: "2FAS",
        problem: json_problem(&e),
    })?;
    let _ = backup.schema_version;
    if backup.services_encrypted.is_some() {
        return Err(ReadError::Encrypted {
            format: "2FAS",
            hint: "export the backup from 2FAS again without a password (Settings, 2FAS \
                   Backup, Export to file, no password); import that file, then delete it",
        });
    }
    let services = backup.services.ok_or_else(|| ReadError::Malformed {
        format: "2FAS",
        problem: "it has neither `services` nor `servicesEncrypted`".to_owned(),
    })?;
    let mut parsed = Parsed::default();
    let mut seen = HashMap::new();
    for (i, raw) in services.iter().enumerate() {
        let n = i + 1;
        let result = serde_json::from_str::<Service>(raw.get())
            .map_err(|e| (String::new(), json_problem(&e)))
            .and_then(|s| {
                let label = s
                    .name
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| format!(" ({})", n.trim()))
                    .unwrap_or_default();
                service_row(n, &s, normalise).map_err(|e| (label, e))
            });
        match result {
            Ok(row) => parsed.push_unique(&mut seen, "service", row),
            Err((label, e)) => parsed.errors.push(format!("service {n}{label}: {e}")),
        }
    }
    Ok(parsed)
}

fn service_row(
    n: usize,
    s: &Service,
    normalise: NormaliseUpn<'_>,
) -> Result<crate::TokenRow, String> {
    let otp = s.otp.as_ref();
    account::require_totp(otp.and_then(|o| o.token_type.as_deref()).unwrap_or("TOTP"))?;
    let account_name = otp.and_then(|o| o.account.as_deref()).unwrap_or_default();
    // A label is `Issuer:account`; its account part is the next best name.
    let label_account = otp
        .and_then(|o| o.label.as_deref())
        .map(|l| l.rsplit_once(':').map_or(l, |(_, a)| a))
        .unwrap_or_default();
    let upn = account::pick_user(&[account_name, label_account], normalise)?;
    let params = Params {
        algorithm: account::algorithm(
            otp.and_then(|o| o.algorithm.as_deref()).unwrap_or_default(),
        )?,
        digits: account::digits(otp.and_then(|o| o.digits).unwrap_or(6))?,
        period_secs: account::period(otp.and_then(|o| o.period).unwrap_or(30))?,
    };
    let secret = account::secret(&s.secret)?;
    Ok(account::row(n, upn, secret, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokendesk_otp::Algorithm;

    const PLAIN: &str = include_str!("../tests/fixtures/backup.2fas");
    const ENCRYPTED: &str = include_str!("../tests/fixtures/backup_encrypted.2fas");

    use crate::account::test_upn as upn;

    #[test]
    fn the_documented_backup_reads() {
        let parsed = parse(PLAIN, &upn).unwrap();
        let got: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| (r.line, r.upn.as_str(), r.algorithm, r.digits, r.period_secs))
            .collect();
        assert_eq!(
            got,
            [
                (1, "alice@contoso.com", Algorithm::Sha1, 6, 30),
                (2, "bob@contoso.com", Algorithm::Sha256, 8, 60),
            ]
        );
        assert_eq!(
            parsed.errors,
            [
                "service 3 (GitHub): the user \"octocat\" is not a UPN",
                "service 4 (Steam): Steam Guard accounts are not supported; tokendesk keeps \
                 TOTP seeds",
            ]
        );
    }

    #[test]
    fn an_encrypted_backup_is_refused_not_read_as_empty() {
        let err = parse(ENCRYPTED, &upn).err().unwrap();
        assert!(matches!(err, ReadError::Encrypted { format: "2FAS", .. }));
        assert!(err.to_string().contains("without a password"), "{err}");
    }

    #[test]
    fn broken_services_are_numbered_and_never_echo_values() {
        let text = r#"{"schemaVersion":4,"services":[
            {"name":"A","secret":"JBSWY3DPEHPK3PX1","otp":{"account":"a@b.c"}},
            {"name":"B","otp":{"account":"b@b.c"}},
            {"name":"C","secret":"JBSWY3DPEHPK3PXP","otp":{"account":"c@b.c","period":"JBSWY3DPEHPK3PXQ"}}]}"#;
        let parsed = parse(text, &upn).unwrap();
        assert!(parsed.rows.is_empty());
        assert!(
            parsed.errors[0].starts_with("service 1 (A): "),
            "{:?}",
            parsed.errors
        );
        assert_eq!(parsed.errors[1], "service 2: missing field `secret`");
        assert!(parsed.errors[2].starts_with("service 3: a value has the wrong type"));
        assert!(parsed.errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text, &upn);
        }
    }
}
