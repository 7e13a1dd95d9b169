//! The one dispatch from an import format to its reader, shared by `tokendesk import` and
//! `POST /api/v1/import`.

use std::fmt;
use std::str::FromStr;

use crate::csv::{self, CsvKind};
use crate::pskc::{self, Credentials, PskcError, Scheme};
use crate::{NormaliseUpn, Parsed};

/// The files seeds are imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// The vendor guide's spreadsheet (`username,secret[,…]`).
    Spreadsheet,
    /// Entra ID's hardware OATH token CSV.
    Entra,
    /// PSKC, RFC 6030 (plain, password or pre-shared key).
    Pskc,
}

impl ImportFormat {
    /// Every format.
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::Spreadsheet,
        ImportFormat::Entra,
        ImportFormat::Pskc,
    ];

    /// The name on the command line, in the API and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Spreadsheet => "spreadsheet",
            ImportFormat::Entra => "entra",
            ImportFormat::Pskc => "pskc",
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
        ImportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s.trim())
            .ok_or_else(|| format!("format {s:?}: use spreadsheet, entra or pskc"))
    }
}

/// Why a file could not be read at all (as opposed to the per-row errors in [`Parsed`]).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A CSV format given bytes that are not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotText,
    /// The PSKC document is malformed, or its protection cannot be opened.
    #[error(transparent)]
    Pskc(#[from] PskcError),
}

/// Reads `bytes` as `format`: the valid rows and one message per bad row, and for PSKC how the
/// document was protected.
///
/// # Errors
/// [`ReadError::NotText`] for a CSV that is not UTF-8; [`ReadError::Pskc`] when a PSKC
/// document cannot be read or opened with `creds` (nothing is returned then).
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
        assert!(err.contains("spreadsheet, entra or pskc"), "{err}");
    }

    #[test]
    fn csv_formats_refuse_bytes_that_are_not_text() {
        let creds = Credentials::default();
        for f in [ImportFormat::Spreadsheet, ImportFormat::Entra] {
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
