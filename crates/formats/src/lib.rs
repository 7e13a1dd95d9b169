//! Seed exchange formats, pure (no I/O, no clock, no async): the guide's spreadsheet
//! (`username,secret`), Entra ID's hardware OATH token CSV, and PSKC (RFC 6030) in and out;
//! the exports of other tools in (Token2 TOTPVault, Aegis, 2FAS, Bitwarden, KeePassXC, Google
//! Authenticator), with the format detected from the file.
//!
//! Parsers return every valid row and a per-row error list; row errors name the line (or the
//! key package) and never the secret. Callers decide whether one bad row stops the import.
//! The one system call is the OS CSPRNG for PSKC export salts and IVs.

mod account;
pub mod aegis;
pub mod csv;
mod detect;
pub mod google;
pub mod graph;
mod import;
pub mod password_csv;
pub mod pskc;
mod records;
pub mod token2;
pub mod twofas;
mod xml;

pub use detect::detect;
pub use import::{ImportFormat, ReadError, read};

use tokendesk_otp::{Algorithm, Secret};

/// One token read from a file, ready to capture.
pub struct TokenRow {
    /// The line (CSV) or key package number (PSKC, 1-based) it came from.
    pub line: usize,
    /// The user, already normalised by the caller's rule.
    pub upn: String,
    /// Token serial number.
    pub serial: Option<String>,
    /// Token manufacturer.
    pub manufacturer: Option<String>,
    /// Token model.
    pub model: Option<String>,
    /// Hash function.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u32,
    /// Time step in seconds.
    pub period_secs: u32,
    /// The seed (zeroized, redacted `Debug`).
    pub secret: Secret,
}

impl std::fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRow")
            .field("line", &self.line)
            .field("upn", &self.upn)
            .field("serial", &self.serial)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period_secs", &self.period_secs)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// The outcome of parsing a file: the valid rows and one message per bad row.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Valid rows, in file order.
    pub rows: Vec<TokenRow>,
    /// `line N: problem` (CSV) or `key N: problem` (PSKC), in file order.
    pub errors: Vec<String>,
    /// Entries left out on purpose, not errors: password-manager rows without a TOTP field,
    /// a Google export code seen twice.
    pub left_out: usize,
}

impl Parsed {
    /// Adds a row unless its user already appeared, which is reported against the new row.
    pub(crate) fn push_unique(
        &mut self,
        seen: &mut std::collections::HashMap<String, usize>,
        what: &str,
        row: TokenRow,
    ) {
        if let Some(prev) = seen.insert(row.upn.clone(), row.line) {
            self.errors.push(format!(
                "{what} {}: {} already appears on {what} {prev}",
                row.line, row.upn
            ));
            seen.insert(row.upn.clone(), prev);
        } else {
            self.rows.push(row);
        }
    }
}

/// The caller's rule for users: normalises a UPN or says why it is not one. (The vault owns the
/// rule; this crate stays free of the database.)
pub type NormaliseUpn<'a> = &'a dyn Fn(&str) -> Result<String, String>;
