//! Exports: seeds handed to an export writer, each with its `export` audit event written in the
//! transaction that reads it.

use crate::error::RecordError;
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Authorized, Permission};
use crate::records::{RECORD_COLUMNS, Record, record_from_row};
use crate::records::{current_record, sealed_rows};
use crate::state::State;
use crate::store::audit_chain::{AuditEvent, append_many};
use crate::vault::Vault;
use futures_util::TryStreamExt as _;
use serde_json::json;
use sqlx::AnyConnection;
use std::fmt;
use tokendesk_formats::graph::GraphError;
use tokendesk_otp::Secret;
use zeroize::Zeroizing;

/// A seed handed to an export writer together with its record. Redacted in Debug.
pub struct ExportedSeed {
    /// The record (no secret fields).
    pub record: Record,
    /// The seed bytes; write them to the export file only.
    pub seed: Zeroizing<Vec<u8>>,
}

impl ExportedSeed {
    /// The seed as an OTP secret (zeroized on drop), for an export writer.
    pub fn secret(&self) -> Secret {
        Secret::from_bytes(self.seed.to_vec())
    }

    /// The record as a Microsoft Graph hardware token, with `secret` from
    /// [`ExportedSeed::secret`]: the one mapping used by the CLI and the JSON API exports
    /// (missing fields stay empty; [`graph_ready`] refuses them before anything is decrypted).
    pub fn graph_token<'a>(
        &'a self,
        secret: &'a Secret,
    ) -> tokendesk_formats::graph::GraphToken<'a> {
        let r = &self.record;
        tokendesk_formats::graph::GraphToken {
            upn: &r.upn,
            serial: r.serial.as_deref().unwrap_or_default(),
            manufacturer: r.manufacturer.as_deref().unwrap_or_default(),
            model: r.model.as_deref().unwrap_or_default(),
            secret,
            algorithm: r.params.algorithm,
            period_secs: r.params.period_secs,
        }
    }

    /// The record as a PSKC key (RFC 6030), issuer `tokendesk`, with `secret` from
    /// [`ExportedSeed::secret`]: the one mapping used by the CLI and the JSON API exports.
    pub fn pskc_key<'a>(&'a self, secret: &'a Secret) -> tokendesk_formats::pskc::ExportKey<'a> {
        let r = &self.record;
        tokendesk_formats::pskc::ExportKey {
            id: &r.id,
            upn: &r.upn,
            issuer: "tokendesk",
            serial: r.serial.as_deref(),
            manufacturer: r.manufacturer.as_deref(),
            model: r.model.as_deref(),
            algorithm: r.params.algorithm,
            digits: r.params.digits,
            period_secs: r.params.period_secs,
            secret,
        }
    }
}

impl fmt::Debug for ExportedSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedSeed")
            .field("record", &self.record.id)
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Vault {
    /// Decrypts seeds for an export, writing one `export` audit event per record in the same
    /// transaction. Asking for purged, cancelled or lost records is refused.
    ///
    /// # Errors
    /// [`RecordError::Purged`] when a requested state has no seeds or a named user's seed is
    /// gone; [`StoreError::Tampered`]; database errors.
    pub async fn export_seeds(
        &self,
        auth: &Authorized,
        state: Option<State>,
        upn: Option<&str>,
        format: &str,
    ) -> Result<Vec<ExportedSeed>> {
        self.export_seeds_checked(auth, state, upn, format, &|_| Ok(()))
            .await
    }

    /// [`Vault::export_seeds`], refusing the whole export — before any seed is decrypted or
    /// any audit entry written — when `check` refuses one of the records (a format that cannot
    /// hold it, such as Microsoft Graph's required serial number).
    ///
    /// # Errors
    /// As [`Vault::export_seeds`]; [`VaultError::Invalid`] with `check`'s message.
    pub async fn export_seeds_checked(
        &self,
        auth: &Authorized,
        state: Option<State>,
        upn: Option<&str>,
        format: &str,
        check: &(dyn Fn(&Record) -> std::result::Result<(), GraphError> + Sync),
    ) -> Result<Vec<ExportedSeed>> {
        let actor = auth.require(Permission::Export)?;
        if let Some(s) = state.filter(|s| !s.has_seed()) {
            return Err(VaultError::Invalid(Invalid::ExportPurged { state: s }));
        }
        let upn = upn.map(crate::records::normalise_upn).transpose()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let records = match &upn {
                    Some(u) => {
                        let r = current_record(conn, u).await?.ok_or_else(|| {
                            VaultError::Record(RecordError::NoRecord { upn: u.clone() })
                        })?;
                        if !r.has_seed {
                            return Err(VaultError::Record(RecordError::Purged { upn: u.clone() }));
                        }
                        vec![r]
                    }
                    None => {
                        let sql = format!(
                            "SELECT {RECORD_COLUMNS} FROM records WHERE sealed_seed IS NOT NULL \
                             AND (CAST($1 AS TEXT) IS NULL OR state = $1) ORDER BY upn"
                        );
                        // Row by row: 100,000 database rows are never held beside their
                        // records (issue 18: export memory).
                        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(state.map(State::as_str))
                            .fetch(&mut *conn);
                        let mut records = Vec::new();
                        while let Some(row) = rows.try_next().await? {
                            records.push(record_from_row(&row)?);
                        }
                        records
                    }
                };
                for record in &records {
                    check(record)
                        .map_err(|reason| VaultError::Invalid(Invalid::ExportRefused { reason }))?;
                }
                // Audit entries before the seeds are opened, a chunk of records at a time (one
                // statement per chunk, not one per record: 100,000-record exports).
                for chunk in records.chunks(crate::store::bulk::ROWS_PER_STATEMENT) {
                    let events: Vec<AuditEvent> = chunk
                        .iter()
                        .map(|record| AuditEvent {
                            actor: actor.name.clone(),
                            action: "export".into(),
                            subject: Some(record.upn.clone()),
                            record_id: Some(record.id.clone()),
                            detail: json!({ "format": format }),
                        })
                        .collect();
                    append_many(conn, &self.keys.audit, self.now(), events).await?;
                }
                let mut out = Vec::with_capacity(records.len());
                let mut records = records.into_iter().peekable();
                while records.peek().is_some() {
                    let chunk: Vec<Record> = records
                        .by_ref()
                        .take(crate::store::bulk::ROWS_PER_STATEMENT)
                        .collect();
                    let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
                    let mut sealed = sealed_rows(conn, &ids).await?;
                    for record in chunk {
                        let row = sealed.remove(&record.id).ok_or_else(|| {
                            VaultError::Record(RecordError::Purged {
                                upn: record.upn.clone(),
                            })
                        })?;
                        let seed = self.open_sealed(&row)?;
                        out.push(ExportedSeed { record, seed });
                    }
                }
                Ok(out)
            })
            .await
    }
}

/// The check for a Microsoft Graph export ([`Vault::export_seeds_checked`]): what Graph requires
/// of a token that the record can tell without its seed.
///
/// # Errors
/// Graph's refusal, naming the user and what to record first.
pub fn graph_ready(record: &Record) -> std::result::Result<(), GraphError> {
    tokendesk_formats::graph::check_token(
        &record.upn,
        record.serial.as_deref().unwrap_or_default(),
        record.manufacturer.as_deref().unwrap_or_default(),
        record.model.as_deref().unwrap_or_default(),
        record.params.algorithm,
        record.params.period_secs,
    )
}
