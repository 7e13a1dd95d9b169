//! The one dispatch from an import format to its reader, shared by `tokendesk import` and
//! `POST /api/v1/import`.

use std::fmt;
use std::str::FromStr;

use crate::csv::{self, CsvKind};
use crate::pskc::{self, Credentials, PskcError, Scheme};
use crate::{NormaliseUpn, Parsed, aegis, google, password_csv, token2, twofas};

/// The files seeds are imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// The vendor guide's spreadsheet (`username,secret[,…]`).
    Spreadsheet,
    /// Entra ID's hardware OATH token CSV.
    Entra,
    /// PSKC, RFC 6030 (plain, password or pre-shared key).
    Pskc,
    /// Token2 TOTPVault / Molto2 CSV (`profile,seed,title,algorithm,digits,period`).
    Token2,
    /// Aegis Authenticator plain-text JSON export.
    Aegis,
    /// 2FAS Authenticator backup (`.2fas`, without a password).
    TwoFas,
    /// Bitwarden CSV export (`login_totp`).
    Bitwarden,
    /// KeePassXC CSV export (`TOTP`).
    KeePassXc,
    /// Google Authenticator export: `otpauth-migration://` payloads, one per line (the CLI
    /// also reads them from a folder of screenshots).
    Google,
}

impl ImportFormat {
    /// Every format.
    pub const ALL: [ImportFormat; 9] = [
        ImportFormat::Spreadsheet,
        ImportFormat::Entra,
        ImportFormat::Pskc,
        ImportFormat::Token2,
        ImportFormat::Aegis,
        ImportFormat::TwoFas,
        ImportFormat::Bitwarden,
        ImportFormat::KeePassXc,
        ImportFormat::Google,
    ];

    /// The name on the command line, in the API and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Spreadsheet => "spreadsheet",
            ImportFormat::Entra => "entra",
            ImportFormat::Pskc => "pskc",
            ImportFormat::Token2 => "token2",
            ImportFormat::Aegis => "aegis",
            ImportFormat::TwoFas => "2fas",
            ImportFormat::Bitwarden => "bitwarden",
            ImportFormat::KeePassXc => "keepassxc",
            ImportFormat::Google => "google",
        }
    }

    /// What the format is, for "detected: …" messages.
    pub fn describe(self) -> &'static str {
        match self {
            ImportFormat::Spreadsheet => "spreadsheet CSV (username,secret)",
            ImportFormat::Entra => "Entra ID hardware OATH token CSV",
            ImportFormat::Pskc => "PSKC (RFC 6030) XML",
            ImportFormat::Token2 => "Token2 TOTPVault / Molto2 CSV",
            ImportFormat::Aegis => "Aegis plain-text JSON export",
            ImportFormat::TwoFas => "2FAS backup",
            ImportFormat::Bitwarden => "Bitwarden CSV export",
            ImportFormat::KeePassXc => "KeePassXC CSV export",
            ImportFormat::Google => "Google Authenticator export (otpauth-migration)",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<&str> = ImportFormat::ALL.iter().map(|f| f.as_str()).collect();
        ImportFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("format {s:?}: use {}", names.join(", ")))
    }
}

/// Why a file could not be read at all (as opposed to the per-row errors in [`Parsed`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A text format given bytes that are not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotText,
    /// The PSKC document is malformed, or its protection cannot be opened.
    #[error(transparent)]
    Pskc(#[from] PskcError),
    /// An encrypted export of another tool; tokendesk reads only plain exports of it.
    #[error("this {format} export is encrypted, and tokendesk reads only unencrypted ones: {hint}")]
    Encrypted {
        /// The tool.
        format: &'static str,
        /// How to make a plain export.
        hint: &'static str,
    },
    /// Not a document of the format at all.
    #[error("this is not a {format} export: {problem}")]
    Malformed {
        /// The format expected.
        format: &'static str,
        /// What is wrong, without any value from the file.
        problem: String,
    },
}

/// Reads `bytes` as `format`: the valid rows and one message per bad row, and for PSKC how the
/// document was protected.
///
/// # Errors
/// [`ReadError::NotText`] for a text format that is not UTF-8; [`ReadError::Pskc`] when a PSKC
/// document cannot be read or opened with `creds`; [`ReadError::Encrypted`] for an encrypted
/// Aegis or 2FAS export; [`ReadError::Malformed`] for JSON that is not the format (nothing is
/// returned then).
pub fn read(
    format: ImportFormat,
    bytes: &[u8],
    creds: &Credentials<'_>,
    normalise: NormaliseUpn<'_>,
) -> Result<(Parsed, Option<Scheme>), ReadError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| ReadError::NotText);
    Ok(match format {
        ImportFormat::Spreadsheet => (csv::parse(text()?, CsvKind::Spreadsheet, normalise), None),
        ImportFormat::Entra => (csv::parse(text()?, CsvKind::Entra, normalise), None),
        ImportFormat::Pskc => {
            let doc = pskc::read(bytes, creds)?;
            let scheme = doc.scheme;
            (pskc::to_rows(doc, normalise), Some(scheme))
        }
        ImportFormat::Token2 => (token2::parse(text()?, normalise), None),
        ImportFormat::Aegis => (aegis::parse(text()?, normalise)?, None),
        ImportFormat::TwoFas => (twofas::parse(text()?, normalise)?, None),
        ImportFormat::Bitwarden => (
            password_csv::parse(text()?, password_csv::Tool::Bitwarden, normalise),
            None,
        ),
        ImportFormat::KeePassXc => (
            password_csv::parse(text()?, password_csv::Tool::KeePassXc, normalise),
            None,
        ),
        ImportFormat::Google => (
            google::parse(&google::payloads_of_text(text()?), normalise),
            None,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(upn: &str) -> Result<String, String> {
        Ok(upn.to_owned())
    }

    #[test]
    fn formats_round_trip_their_names() {
        for f in ImportFormat::ALL {
            assert_eq!(f.as_str().parse::<ImportFormat>(), Ok(f));
        }
        let err = "xlsx".parse::<ImportFormat>().unwrap_err();
        assert!(
            err.contains(
                "spreadsheet, entra, pskc, token2, aegis, 2fas, bitwarden, keepassxc, google"
            ),
            "{err}"
        );
    }

    #[test]
    fn csv_formats_refuse_bytes_that_are_not_text() {
        let creds = Credentials::default();
        for f in ImportFormat::ALL
            .into_iter()
            .filter(|f| *f != ImportFormat::Pskc)
        {
            assert!(matches!(
                read(f, &[0xff, 0xfe, 0x00], &creds, &keep),
                Err(ReadError::NotText)
            ));
        }
        let (parsed, scheme) = read(
            ImportFormat::Spreadsheet,
            b"username,secret\nalice@contoso.com,JBSWY3DPEHPK3PXP\n",
            &creds,
            &keep,
        )
        .unwrap();
        assert_eq!(parsed.rows.len(), 1, "{:?}", parsed.errors);
        assert_eq!(scheme, None);
    }
}
