//! Aegis Authenticator's plain-text (unencrypted) vault export, per Aegis `docs/vault.md`:
//! `{"version":1,"header":{"slots":null,"params":null},"db":{"version":N,"entries":[…]}}`.
//! An encrypted export (slots present, `db` a base64 string) is refused with what to do.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::account::{self, Params, json_problem};
use crate::{NormaliseUpn, Parsed, ReadError};

#[derive(Deserialize)]
struct Export<'a> {
    header: Header,
    #[serde(borrow)]
    db: &'a RawValue,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    slots: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Db<'a> {
    #[serde(borrow)]
    entries: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    info: Info,
}

#[derive(Deserialize)]
struct Info {
    secret: Zeroizing<String>,
    #[serde(default)]
    algo: Option<String>,
    #[serde(default)]
    digits: Option<u64>,
    #[serde(default)]
    period: Option<u64>,
}

/// Whether `text` looks like an Aegis export (for format detection).
pub(crate) fn looks_like(text: &str) -> bool {
    serde_json::from_str::<Export<'_>>(text).is_ok()
}

/// Reads a plain Aegis export; each bad entry is `entry N (issuer): …`.
///
/// # Errors
/// [`ReadError::Encrypted`] for an encrypted export; [`ReadError::Malformed`] when the file is
/// not an Aegis export at all.
pub fn parse(text: &str, normalise: NormaliseUpn<'_>) -> Result<Parsed, ReadError> {
    let malformed = |e: &serde_json::Error| ReadError::Malformed {
        format: "Aegis",
        problem: json_problem(e),
    };
    let export: Export<'_> = serde_json::from_str(text).map_err(|e| malformed(&e))?;
    if export.header.slots.is_some() || export.db.get().trim_start().starts_with('"') {
        return Err(ReadError::Encrypted {
            format: "Aegis",
            hint: "in Aegis choose Settings, Import & Export, Export, and turn encryption off \
                   (plain-text JSON); import that file, then delete it",
        });
    }
    let db: Db<'_> = serde_json::from_str(export.db.get()).map_err(|e| malformed(&e))?;
    let mut parsed = Parsed::default();
    let mut seen = HashMap::new();
    for (i, raw) in db.entries.iter().enumerate() {
        let n = i + 1;
        let result = serde_json::from_str::<Entry>(raw.get())
            .map_err(|e| (String::new(), json_problem(&e)))
            .and_then(|entry| {
                let label = entry
                    .issuer
                    .as_deref()
                    .filter(|i| !i.trim().is_empty())
                    .map(|i| format!(" ({})", i.trim()))
                    .unwrap_or_default();
                entry_row(n, &entry, normalise).map_err(|e| (label, e))
            });
        match result {
            Ok(row) => parsed.push_unique(&mut seen, "entry", row),
            Err((label, e)) => parsed.errors.push(format!("entry {n}{label}: {e}")),
        }
    }
    Ok(parsed)
}

fn entry_row(
    n: usize,
    entry: &Entry,
    normalise: NormaliseUpn<'_>,
) -> Result<crate::TokenRow, String> {
    account::require_totp(&entry.kind)?;
    let upn = account::pick_user(&[entry.name.as_deref().unwrap_or_default()], normalise)?;
    let params = Params {
        algorithm: account::algorithm(entry.info.algo.as_deref().unwrap_or_default())?,
        digits: account::digits(entry.info.digits.unwrap_or(6))?,
        period_secs: account::period(entry.info.period.unwrap_or(30))?,
    };
    let secret = account::secret(&entry.info.secret)?;
    Ok(account::row(n, upn, secret, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokendesk_otp::Algorithm;

    const PLAIN: &str = include_str!("../tests/fixtures/aegis_plain.json");
    const ENCRYPTED: &str = include_str!("../tests/fixtures/aegis_encrypted.json");

    use crate::account::test_upn as upn;

    #[test]
    fn the_documented_plain_export_reads() {
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
        // The fixture also holds a personal account, a HOTP and a Steam entry: each refused
        // by number, with what it is, never with the secret.
        assert_eq!(
            parsed.errors,
            [
                "entry 3 (GitHub): the user \"octocat\" is not a UPN",
                "entry 4 (Contoso VPN): HOTP (counter-based) accounts are not supported; \
                 tokendesk keeps TOTP seeds",
                "entry 5 (Steam): Steam Guard accounts are not supported; tokendesk keeps TOTP \
                 seeds",
            ]
        );
    }

    #[test]
    fn an_encrypted_export_is_refused_not_read_as_empty() {
        let err = parse(ENCRYPTED, &upn).err().unwrap();
        assert!(matches!(
            err,
            ReadError::Encrypted {
                format: "Aegis",
                ..
            }
        ));
        assert!(err.to_string().contains("turn encryption off"), "{err}");
    }

    #[test]
    fn broken_entries_are_numbered_and_never_echo_values() {
        let text = r#"{"version":1,"header":{"slots":null,"params":null},"db":{"version":3,
            "entries":[{"type":"totp","name":"a@b.c","info":{"secret":"JBSWY3DPEHPK3PXP","digits":"JBSWY3DPEHPK3PXQ"}},
                       {"type":"totp","name":"c@b.c","info":{"algo":"SHA1"}},
                       {"type":"totp","name":"d@b.c","info":{"secret":"JBSWY3DPEHPK3PX1"}}]}}"#;
        let parsed = parse(text, &upn).unwrap();
        assert!(parsed.rows.is_empty());
        assert_eq!(parsed.errors.len(), 3, "{:?}", parsed.errors);
        assert!(parsed.errors[0].starts_with("entry 1: a value has the wrong type"));
        assert_eq!(parsed.errors[1], "entry 2: missing field `secret`");
        assert!(parsed.errors[2].starts_with("entry 3: "));
        assert!(parsed.errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
    }

    #[test]
    fn not_an_aegis_file_is_malformed() {
        let err = parse("{\"services\":[]}", &upn).err().unwrap();
        assert!(
            matches!(
                err,
                ReadError::Malformed {
                    format: "Aegis",
                    ..
                }
            ),
            "{err}"
        );
        assert!(parse("[1,", &upn).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text, &upn);
        }
    }
}
