//! An export's file written record by record, in any of the formats tokendesk exports: the one
//! writer the CLI (to a file) and the API (to a streamed answer) share. Pure text work on seeds
//! the vault handed out; every piece of text holding a seed is zeroizing.

use tokendesk_formats::graph::{self, GraphError};
use tokendesk_formats::pskc::{self, PskcError};
use tokendesk_formats::{csv, token2};
use tokendesk_otp::{Algorithm, Digits, OtpAuth, ParamError, Period};
use zeroize::Zeroizing;

use crate::reveal::ExportedSeed;

/// Why a record cannot be written in the export's format.
#[derive(Debug, thiserror::Error)]
pub enum ExportWriteError {
    /// Microsoft Graph cannot take the token.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The PSKC writer failed (key derivation, encryption).
    #[error(transparent)]
    Pskc(#[from] PskcError),
    /// An otpauth link cannot carry the record's digits or period.
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// One export format, written record by record: [`ExportWriter::head`], then
/// [`ExportWriter::record`] for each record, then [`ExportWriter::tail`].
pub enum ExportWriter {
    /// Microsoft Entra ID's CSV (SHA-1 records only: the file assumes SHA-1).
    Entra,
    /// One otpauth link a line.
    Otpauth,
    /// Token2's TOTPVault CSV, profiles numbered from 0.
    Token2 {
        /// The next record's profile number.
        profile: u32,
    },
    /// PSKC (RFC 6030).
    Pskc(pskc::Writer),
    /// Microsoft Graph request bodies.
    Graph(graph::Writer),
}

impl ExportWriter {
    /// A PSKC file protected as `protection` says.
    ///
    /// # Errors
    /// [`ExportWriteError::Pskc`] when the key cannot be derived.
    pub fn pskc(protection: &pskc::Protection<'_>) -> Result<Self, ExportWriteError> {
        Ok(Self::Pskc(pskc::Writer::new(protection)?))
    }

    /// The file up to its first record.
    ///
    /// # Errors
    /// [`ExportWriteError::Graph`] (not expected).
    pub fn head(&self) -> Result<String, ExportWriteError> {
        Ok(match self {
            Self::Entra => csv::entra_header(),
            Self::Otpauth => String::new(),
            Self::Token2 { .. } => token2::header(),
            Self::Pskc(w) => w.head().to_owned(),
            Self::Graph(w) => w.head()?,
        })
    }

    /// The record's text, or `None` when the format skips it (Entra: SHA-1 only).
    ///
    /// # Errors
    /// [`ExportWriteError`] for a record the format cannot hold.
    pub fn record(
        &mut self,
        item: &ExportedSeed,
    ) -> Result<Option<Zeroizing<String>>, ExportWriteError> {
        let r = &item.record;
        let secret = item.secret();
        Ok(Some(match self {
            Self::Entra if r.params.algorithm != Algorithm::Sha1 => return Ok(None),
            Self::Entra => csv::entra_line(
                &r.upn,
                r.serial.as_deref(),
                &secret,
                r.params.period_secs,
                r.manufacturer.as_deref(),
                r.model.as_deref(),
            ),
            Self::Otpauth => {
                let mut uri = OtpAuth::new_totp(secret, Some("Microsoft".into()), r.upn.clone());
                uri.algorithm = r.params.algorithm;
                uri.digits = Digits::new(r.params.digits)?;
                uri.period = Period::new(u64::from(r.params.period_secs))?;
                let text = uri.to_uri();
                let mut line = Zeroizing::new(String::with_capacity(text.len() + 1));
                line.push_str(&text);
                line.push('\n');
                line
            }
            Self::Token2 { profile } => {
                let line = token2::line(&token2::Profile {
                    profile: *profile,
                    title: &r.upn,
                    secret: &secret,
                    algorithm: r.params.algorithm,
                    digits: r.params.digits,
                    period_secs: r.params.period_secs,
                });
                *profile = profile.saturating_add(1);
                line
            }
            Self::Pskc(w) => w.key(&item.pskc_key(&secret))?,
            Self::Graph(w) => w.token(&item.graph_token(&secret))?,
        }))
    }

    /// The end of the file after the last record.
    pub fn tail(&self) -> &'static str {
        match self {
            Self::Entra | Self::Otpauth | Self::Token2 { .. } => "",
            Self::Pskc(_) => pskc::DOCUMENT_END,
            Self::Graph(w) => w.tail(),
        }
    }
}
