//! One account from another tool's export (Token2 TOTPVault, Aegis, 2FAS, Bitwarden, KeePassXC,
//! Google Authenticator) made into a [`TokenRow`]: the checks every such reader shares. Messages
//! name the problem, never the secret.

use tokendesk_otp::{Algorithm, OtpAuth, OtpKind, Secret, decode_base32};

use crate::{NormaliseUpn, TokenRow};

/// The hash, code length and step of one account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period_secs: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period_secs: 30,
        }
    }
}

/// The user: the first candidate the caller's rule accepts. When none is accepted, the error
/// of the first non-empty one (the account name the tool shows).
pub(crate) fn pick_user(
    candidates: &[&str],
    normalise: NormaliseUpn<'_>,
) -> Result<String, String> {
    let mut first_error = None;
    for c in candidates
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        match normalise(c) {
            Ok(upn) => return Ok(upn),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        "the account has no name to use as the user; give it the user's UPN".to_owned()
    }))
}

/// The hash function named by a tool (`SHA1`, `sha256`, `HmacSHA1`, …); empty means SHA-1.
pub(crate) fn algorithm(name: &str) -> Result<Algorithm, String> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(Algorithm::Sha1);
    }
    if name.eq_ignore_ascii_case("md5") {
        return Err("MD5 accounts are not supported (tokens do SHA-1 or SHA-256)".to_owned());
    }
    name.parse::<Algorithm>().map_err(|e| e.to_string())
}

/// Checks a code length: 6 to 10 digits, as the vault stores.
pub(crate) fn digits(n: u64) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|d| (6..=10).contains(d))
        .ok_or_else(|| format!("{n} digits is not supported; use 6 or 8"))
}

/// Checks a time step: 1 to 3600 seconds.
pub(crate) fn period(secs: u64) -> Result<u32, String> {
    u32::try_from(secs)
        .ok()
        .filter(|p| (1..=3600).contains(p))
        .ok_or_else(|| format!("a period of {secs} s is not supported; use 30 or 60"))
}

/// A base32 seed as the tools write it (any case, spaces, padding).
pub(crate) fn secret(text: &str) -> Result<Secret, String> {
    if text.trim().is_empty() {
        return Err("the secret is empty".to_owned());
    }
    decode_base32(text, false).map_err(|e| e.to_string())
}

/// Refuses anything but TOTP, naming what it is.
pub(crate) fn require_totp(kind: &str) -> Result<(), String> {
    match kind.trim().to_ascii_lowercase().as_str() {
        "" | "totp" => Ok(()),
        "hotp" => Err(
            "HOTP (counter-based) accounts are not supported; tokendesk keeps TOTP \
                       seeds"
                .to_owned(),
        ),
        "steam" => {
            Err("Steam Guard accounts are not supported; tokendesk keeps TOTP seeds".to_owned())
        }
        _ => Err("this account type is not supported; tokendesk keeps TOTP seeds".to_owned()),
    }
}

/// The row for one account.
pub(crate) fn row(line: usize, upn: String, secret: Secret, params: Params) -> TokenRow {
    TokenRow {
        line,
        upn,
        serial: None,
        manufacturer: None,
        model: None,
        algorithm: params.algorithm,
        digits: params.digits,
        period_secs: params.period_secs,
        secret,
    }
}

/// An otpauth URI's account (TOTP only); the user is its account name, else `fallback_users`.
pub(crate) fn from_otpauth(
    line: usize,
    uri: &str,
    fallback_users: &[&str],
    normalise: NormaliseUpn<'_>,
) -> Result<TokenRow, String> {
    let parsed = OtpAuth::parse(uri, false).map_err(|e| e.to_string())?;
    from_parsed(line, parsed, fallback_users, normalise)
}

/// A parsed otpauth account; HOTP is refused.
pub(crate) fn from_parsed(
    line: usize,
    parsed: OtpAuth,
    fallback_users: &[&str],
    normalise: NormaliseUpn<'_>,
) -> Result<TokenRow, String> {
    if let OtpKind::Hotp { .. } = parsed.kind {
        require_totp("hotp")?;
    }
    let mut users = vec![parsed.account.as_str()];
    users.extend_from_slice(fallback_users);
    let upn = pick_user(&users, normalise)?;
    let params = Params {
        algorithm: parsed.algorithm,
        digits: u32::from(parsed.digits.get()),
        period_secs: period(parsed.period.secs())?,
    };
    Ok(row(line, upn, parsed.secret.duplicate(), params))
}

/// A JSON problem in words, never with the value that caused it (it could be a secret):
/// missing fields by name, anything else by position.
pub(crate) fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let head = text.split(" at line ").next().unwrap_or_default();
    match e.classify() {
        serde_json::error::Category::Data if head.starts_with("missing field") => head.to_owned(),
        serde_json::error::Category::Data => format!(
            "a value has the wrong type or is out of range (line {}, column {})",
            e.line(),
            e.column()
        ),
        _ => format!("not valid JSON (line {}, column {})", e.line(), e.column()),
    }
}

/// The UPN rule the importers' tests use: trimmed, lowercase, exactly one `@` (the vault's
/// own rule is stricter; these tests only need a rule that refuses some names).
#[cfg(test)]
pub(crate) fn test_upn(text: &str) -> Result<String, String> {
    let t = text.trim().to_lowercase();
    if t.matches('@').count() == 1 {
        Ok(t)
    } else {
        Err(format!("the user {t:?} is not a UPN"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upn(text: &str) -> Result<String, String> {
        if text.contains('@') {
            Ok(text.to_lowercase())
        } else {
            Err(format!("the user {text:?} is not a UPN"))
        }
    }

    #[test]
    fn the_first_acceptable_user_wins_else_the_first_error() {
        assert_eq!(pick_user(&["", "Bob@X.com"], &upn).unwrap(), "bob@x.com");
        assert_eq!(
            pick_user(&["octocat", "also-not"], &upn).unwrap_err(),
            "the user \"octocat\" is not a UPN"
        );
        assert!(pick_user(&["", " "], &upn).unwrap_err().contains("no name"));
    }

    #[test]
    fn algorithms_digits_periods_and_kinds() {
        assert_eq!(algorithm("").unwrap(), Algorithm::Sha1);
        assert_eq!(algorithm("HmacSHA256").unwrap(), Algorithm::Sha256);
        assert!(algorithm("MD5").unwrap_err().contains("MD5"));
        assert!(algorithm("sha3").is_err());
        assert_eq!(digits(8).unwrap(), 8);
        assert!(digits(5).is_err() && digits(u64::MAX).is_err());
        assert_eq!(period(60).unwrap(), 60);
        assert!(period(0).is_err() && period(7200).is_err());
        assert!(require_totp("TOTP").is_ok());
        assert!(require_totp("steam").unwrap_err().contains("Steam"));
        assert!(require_totp("hotp").unwrap_err().contains("HOTP"));
    }

    #[test]
    fn otpauth_accounts_use_their_label_then_the_fallback() {
        let r = from_otpauth(
            4,
            "otpauth://totp/Contoso:alice%40contoso.com?secret=JBSWY3DPEHPK3PXP&period=60",
            &[],
            &upn,
        )
        .unwrap();
        assert_eq!(
            (r.line, r.upn.as_str(), r.period_secs),
            (4, "alice@contoso.com", 60)
        );
        let r = from_otpauth(
            5,
            "otpauth://totp/GitHub?secret=JBSWY3DPEHPK3PXP",
            &["bob@contoso.com"],
            &upn,
        )
        .unwrap();
        assert_eq!(r.upn, "bob@contoso.com");
        let err = from_otpauth(
            6,
            "otpauth://hotp/a@b.c?secret=JBSWY3DPEHPK3PXP&counter=1",
            &[],
            &upn,
        )
        .unwrap_err();
        assert!(err.contains("HOTP"), "{err}");
    }
}
