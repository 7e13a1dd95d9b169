//! Which format a file is, from its content: XML is PSKC; JSON is Aegis or 2FAS by their
//! top-level fields; `otpauth-migration://` lines are a Google export; a CSV by its header
//! (Token2, Entra, Bitwarden, KeePassXC), else the guide's spreadsheet when its first row is a
//! user and a secret.

use crate::csv::{ENTRA_HEADER, split_csv};
use crate::{ImportFormat, aegis, password_csv, token2, twofas};

/// The format of `bytes`, or `None` when it is none that tokendesk reads (the caller then asks
/// for `--format`).
pub fn detect(bytes: &[u8]) -> Option<ImportFormat> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = bytes.get(start..)?;
    if rest.starts_with(b"<") {
        return Some(ImportFormat::Pskc);
    }
    let text = std::str::from_utf8(rest).ok()?;
    if text.starts_with('{') {
        if aegis::looks_like(text) {
            return Some(ImportFormat::Aegis);
        }
        return twofas::looks_like(text).then_some(ImportFormat::TwoFas);
    }
    let first = text.lines().next().unwrap_or_default().trim();
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("otpauth-migration://") || lower.starts_with("otpauth://") {
        return Some(ImportFormat::Google);
    }
    let header: Vec<String> = split_csv(first, ',')
        .into_iter()
        .map(|h| h.to_lowercase())
        .collect();
    if token2::is_header(&header) {
        return Some(ImportFormat::Token2);
    }
    let entra: Vec<String> = header
        .iter()
        .map(|h| h.replace("timeinterval", "time interval"))
        .collect();
    if entra == ENTRA_HEADER {
        return Some(ImportFormat::Entra);
    }
    match password_csv::tool_of(&header) {
        Some(password_csv::Tool::Bitwarden) => return Some(ImportFormat::Bitwarden),
        Some(password_csv::Tool::KeePassXc) => return Some(ImportFormat::KeePassXc),
        None => {}
    }
    let sep = if first.contains(';') && !first.contains(',') {
        ';'
    } else {
        ','
    };
    let cells = split_csv(first, sep);
    let user = cells.first().map(|c| c.to_lowercase()).unwrap_or_default();
    let spreadsheet = cells.len() >= 2
        && (["username", "user", "upn", "email"].contains(&user.as_str()) || user.contains('@'));
    spreadsheet.then_some(ImportFormat::Spreadsheet)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! detects {
        ($($name:ident: $file:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(detect(include_bytes!(concat!("../tests/fixtures/", $file))), $want);
            }
        )*};
    }

    detects! {
        pskc_from_xml: "rfc6030_plain_minimal.xml" => Some(ImportFormat::Pskc),
        token2_from_its_header: "token2_totpvault.csv" => Some(ImportFormat::Token2),
        aegis_from_header_and_db: "aegis_plain.json" => Some(ImportFormat::Aegis),
        encrypted_aegis_is_still_aegis: "aegis_encrypted.json" => Some(ImportFormat::Aegis),
        twofas_from_services: "backup.2fas" => Some(ImportFormat::TwoFas),
        encrypted_twofas_is_still_twofas: "backup_encrypted.2fas" => Some(ImportFormat::TwoFas),
        bitwarden_from_login_totp: "bitwarden.csv" => Some(ImportFormat::Bitwarden),
        keepassxc_from_totp: "keepassxc.csv" => Some(ImportFormat::KeePassXc),
        google_from_migration_lines: "google_export.txt" => Some(ImportFormat::Google),
    }

    #[test]
    fn csv_dialects_and_unknown_files() {
        let entra = b"upn,serial number,secret key,timeinterval,manufacturer,model\n";
        assert_eq!(detect(entra), Some(ImportFormat::Entra));
        let sheet = b"\xef\xbb\xbfalice@contoso.com;JBSWY3DPEHPK3PXP\r\n";
        assert_eq!(detect(sheet), Some(ImportFormat::Spreadsheet));
        assert_eq!(
            detect(b"Username,Secret\n"),
            Some(ImportFormat::Spreadsheet)
        );
        assert_eq!(detect(b"hello world\n"), None);
        assert_eq!(detect(b"{\"name\": 1}"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(&[0xff, 0xfe, 0x00]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = detect(&bytes);
        }
    }
}
