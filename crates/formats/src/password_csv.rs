//! Password-manager CSV exports with a TOTP column: Bitwarden (individual vault:
//! `folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,login_password,
//! login_totp`) and KeePassXC (`Group,Title,Username,Password,URL,Notes,TOTP,…`). The TOTP field
//! holds an `otpauth://` URI or a bare base32 secret; rows without one are passwords only and
//! are left out (counted in [`Parsed::left_out`]).

use std::collections::HashMap;

use crate::account::{self, Params};
use crate::records::{self, Record};
use crate::{NormaliseUpn, Parsed, TokenRow};

/// Which password manager wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Bitwarden's `login_totp` column.
    Bitwarden,
    /// KeePassXC's `TOTP` column.
    KeePassXc,
}

impl Tool {
    fn columns(self) -> Columns {
        match self {
            Tool::Bitwarden => Columns {
                totp: "login_totp",
                user: "login_username",
                name: "name",
            },
            Tool::KeePassXc => Columns {
                totp: "totp",
                user: "username",
                name: "title",
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tool::Bitwarden => "Bitwarden",
            Tool::KeePassXc => "KeePassXC",
        }
    }
}

struct Columns {
    totp: &'static str,
    user: &'static str,
    name: &'static str,
}

/// The tool whose export header this is, if any (for format detection).
pub(crate) fn tool_of(header: &[String]) -> Option<Tool> {
    [Tool::Bitwarden, Tool::KeePassXc].into_iter().find(|t| {
        let c = t.columns();
        [c.totp, c.user, c.name]
            .iter()
            .all(|want| header.iter().any(|h| h == want))
    })
}

/// Reads a Bitwarden or KeePassXC CSV export; row errors are `line N (name): …`.
pub fn parse(text: &str, tool: Tool, normalise: NormaliseUpn<'_>) -> Parsed {
    let mut parsed = Parsed::default();
    let records = match records::read(text.trim_start_matches('\u{feff}'), ',') {
        Ok(r) => r,
        Err(e) => {
            parsed.errors.push(e);
            return parsed;
        }
    };
    let mut iter = records.into_iter();
    let header = iter
        .next()
        .map(|h| records::header_names(&h))
        .unwrap_or_default();
    let c = tool.columns();
    let at = |name: &str| header.iter().position(|h| h == name);
    let (Some(totp), Some(user), Some(name)) = (at(c.totp), at(c.user), at(c.name)) else {
        parsed.errors.push(format!(
            "line 1: a {} export needs the columns {}, {} and {} in its header",
            tool.name(),
            c.name,
            c.user,
            c.totp
        ));
        return parsed;
    };
    let mut seen = HashMap::new();
    for rec in iter.filter(|r| !r.is_blank()) {
        if rec.get(totp).is_empty() {
            parsed.left_out += 1;
            continue;
        }
        let label = match rec.get(name) {
            "" => String::new(),
            n => format!(" ({n})"),
        };
        match row(&rec, totp, user, normalise) {
            Ok(row) => parsed.push_unique(&mut seen, "line", row),
            Err(e) => parsed.errors.push(format!("line {}{label}: {e}", rec.line)),
        }
    }
    parsed
}

fn row(
    rec: &Record,
    totp: usize,
    user: usize,
    normalise: NormaliseUpn<'_>,
) -> Result<TokenRow, String> {
    let field = rec.get(totp);
    let lower = field.get(..10).unwrap_or(field).to_ascii_lowercase();
    if lower.starts_with("otpauth://") {
        return account::from_otpauth(rec.line, field, &[rec.get(user)], normalise);
    }
    if lower.starts_with("steam://") {
        account::require_totp("steam")?;
    }
    let upn = account::pick_user(&[rec.get(user)], normalise)?;
    let secret = account::secret(field)?;
    Ok(account::row(rec.line, upn, secret, Params::default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokendesk_otp::Algorithm;

    const BITWARDEN: &str = include_str!("../tests/fixtures/bitwarden.csv");
    const KEEPASSXC: &str = include_str!("../tests/fixtures/keepassxc.csv");

    use crate::account::test_upn as upn;

    fn summary(p: &Parsed) -> Vec<(usize, &str, Algorithm, u32, u32)> {
        p.rows
            .iter()
            .map(|r| (r.line, r.upn.as_str(), r.algorithm, r.digits, r.period_secs))
            .collect()
    }

    #[test]
    fn bitwarden_rows_with_totp_read_and_passwords_only_are_left_out() {
        let parsed = parse(BITWARDEN, Tool::Bitwarden, &upn);
        assert_eq!(
            summary(&parsed),
            [
                (2, "alice@contoso.com", Algorithm::Sha1, 6, 30),
                (4, "bob@contoso.com", Algorithm::Sha256, 6, 60),
            ]
        );
        assert_eq!(parsed.left_out, 4);
        // Row 7's notes span two lines, so the next record starts on line 9.
        assert_eq!(
            parsed.errors,
            [
                "line 9 (VPN): HOTP (counter-based) accounts are not supported; tokendesk keeps \
              TOTP seeds"
            ]
        );
    }

    #[test]
    fn keepassxc_rows_read() {
        let parsed = parse(KEEPASSXC, Tool::KeePassXc, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(
            summary(&parsed),
            [
                (2, "alice@contoso.com", Algorithm::Sha1, 6, 30),
                (3, "carol@contoso.com", Algorithm::Sha1, 8, 30),
            ]
        );
        assert_eq!(parsed.left_out, 1);
    }

    #[test]
    fn bad_rows_name_their_line_and_never_the_secret() {
        let text = "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,login_password,login_totp\n\
                    ,,login,A,,,0,,a@contoso.com,pw,JBSWY3DPEHPK3PX1\n\
                    ,,login,B,,,0,,octocat,pw,JBSWY3DPEHPK3PXP\n\
                    ,,login,C,,,0,,c@contoso.com,pw,steam://JBSWY3DPEHPK3PXP\n\
                    ,,login,D,,,0,,d@contoso.com,pw,otpauth://totp/x?secret=JBSWY3DPEHPK3PX1\n";
        let parsed = parse(text, Tool::Bitwarden, &upn);
        let lines: Vec<&str> = parsed
            .errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            ["line 2 (A)", "line 3 (B)", "line 4 (C)", "line 5 (D)"]
        );
        assert!(parsed.errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
    }

    #[test]
    fn headers_name_their_tool() {
        let header = |t: &str| records::header_names(&records::read(t, ',').unwrap()[0]);
        assert_eq!(tool_of(&header(BITWARDEN)), Some(Tool::Bitwarden));
        assert_eq!(tool_of(&header(KEEPASSXC)), Some(Tool::KeePassXc));
        assert_eq!(tool_of(&header("username,secret")), None);
        let parsed = parse("username,secret\n", Tool::KeePassXc, &upn);
        assert!(
            parsed.errors[0].contains("title, username and totp"),
            "{:?}",
            parsed.errors
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text, Tool::Bitwarden, &upn);
            let _ = parse(&text, Tool::KeePassXc, &upn);
        }
    }
}
