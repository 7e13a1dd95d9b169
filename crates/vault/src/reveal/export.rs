//! Exports: seeds handed to an export writer a chunk at a time, after the `export` audit event of
//! every record was committed.

use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Authorized, Permission};
use crate::records::{RECORD_COLUMNS, Record, record_from_row};
use crate::records::{current_record, sealed_from_row};
use crate::state::State;
use crate::store::audit_chain::{AuditEvent, append_many};
use crate::vault::Vault;
use futures_util::TryStreamExt as _;
use serde_json::json;
use sqlx::{AnyConnection, Row as _};
use std::collections::HashMap;
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

/// The check a whole export must pass before any seed is decrypted or audited.
pub type ExportCheck<'a> = dyn Fn(&Record) -> std::result::Result<(), GraphError> + Sync + 'a;

/// An export whose `export` audit entries are committed: it hands out the seeds of exactly
/// those records, a chunk at a time, decrypting each chunk only when asked for it, so memory
/// stays flat whatever the number of records (issue 18: 100,000 held at once took 123 MB).
/// A caller writing a file writes each chunk and drops it. The entries are durable before any
/// seed is decrypted: a crash at any point never leaves a seed outside the vault without its
/// entry (at worst an audited export whose file was not finished).
#[derive(Debug)]
pub struct SeedExport<'v> {
    vault: &'v Vault,
    /// Ids of the audited records still to hand out, in UPN order.
    ids: std::collections::VecDeque<String>,
    total: usize,
}

impl SeedExport<'_> {
    /// The number of records audited for this export.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether no record matched.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The next records with their seeds (at most 1,000), in UPN order; `None` once every
    /// audited record was handed out.
    ///
    /// # Errors
    /// [`RecordError::Purged`] when a record lost its seed since its audit entry was written
    /// (the export should then be abandoned); [`StoreError::Tampered`]; database errors.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<ExportedSeed>>> {
        let take = self.ids.len().min(crate::store::bulk::ROWS_PER_STATEMENT);
        if take == 0 {
            return Ok(None);
        }
        let chunk: Vec<String> = self.ids.drain(..take).collect();
        let mut conn = self.vault.store.pool().acquire().await?;
        // The record and its sealed seed from one row: one point in time.
        let sql = format!(
            "SELECT {RECORD_COLUMNS}, wrapped_dek, sealed_seed FROM records WHERE id IN ({})",
            crate::store::bulk::text_list_sql(&conn)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::bulk::text_list(
                chunk.iter().map(String::as_str),
            ))
            .fetch_all(&mut *conn)
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            let record = record_from_row(row)?;
            if !record.has_seed {
                return Err(VaultError::Record(RecordError::Purged { upn: record.upn }));
            }
            found.insert(record.id.clone(), (record, sealed_from_row(row)?));
        }
        drop(rows);
        let mut out = Vec::with_capacity(chunk.len());
        for id in chunk {
            let (record, sealed) = found.remove(&id).ok_or_else(|| {
                VaultError::Store(StoreError::Corrupt(format!(
                    "record {id} vanished during an export"
                )))
            })?;
            let seed = self.vault.open_sealed(&sealed)?;
            out.push(ExportedSeed { record, seed });
        }
        Ok(Some(out))
    }
}

impl Vault {
    /// Decrypts seeds for an export, writing one `export` audit event per record first.
    /// Asking for purged, cancelled or lost records is refused. For one record or a few; a
    /// large export goes through [`Vault::export_start`].
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
        self.export_seeds_checked(auth, state, upn, format, None)
            .await
    }

    /// [`Vault::export_seeds`] with a `check` as [`Vault::export_start`] takes, every seed
    /// held at once.
    ///
    /// # Errors
    /// As [`Vault::export_start`] and [`SeedExport::next_chunk`].
    pub async fn export_seeds_checked(
        &self,
        auth: &Authorized,
        state: Option<State>,
        upn: Option<&str>,
        format: &str,
        check: Option<&ExportCheck<'_>>,
    ) -> Result<Vec<ExportedSeed>> {
        let mut export = self.export_start(auth, state, upn, format, check).await?;
        let mut out = Vec::with_capacity(export.len());
        while let Some(chunk) = export.next_chunk().await? {
            out.extend(chunk);
        }
        Ok(out)
    }

    /// Starts an export: picks the records (one user's, one state's or all with a seed, in UPN
    /// order), refuses the whole export when `check` refuses one of them (a format that cannot
    /// hold it, such as Microsoft Graph's required serial number; `None` when every record
    /// fits), and commits one `export` audit entry per record — all before any seed is
    /// decrypted. The seeds then come from [`SeedExport::next_chunk`].
    ///
    /// # Errors
    /// [`Invalid::ExportPurged`] for a state without seeds; [`RecordError::NoRecord`] or
    /// [`RecordError::Purged`] for a named user without a record or a seed;
    /// [`VaultError::Invalid`] with `check`'s message; database errors. Nothing is audited then.
    pub async fn export_start(
        &self,
        auth: &Authorized,
        state: Option<State>,
        upn: Option<&str>,
        format: &str,
        check: Option<&ExportCheck<'_>>,
    ) -> Result<SeedExport<'_>> {
        let actor = auth.require(Permission::Export)?;
        if let Some(s) = state.filter(|s| !s.has_seed()) {
            return Err(VaultError::Invalid(Invalid::ExportPurged { state: s }));
        }
        let upn = upn.map(crate::records::normalise_upn).transpose()?;
        let check_given = check.is_some();
        let check = |r: &Record| match check {
            Some(check) => {
                check(r).map_err(|reason| VaultError::Invalid(Invalid::ExportRefused { reason }))
            }
            None => Ok(()),
        };
        let ids: std::collections::VecDeque<String> = self
            .store
            .write(async |conn: &mut AnyConnection| {
                // (id, upn) of each record; the records themselves are checked as they are
                // read and not kept (issue 18: export memory).
                let mut picked: Vec<(String, String)> = Vec::new();
                match &upn {
                    Some(u) => {
                        let r = current_record(conn, u).await?.ok_or_else(|| {
                            VaultError::Record(RecordError::NoRecord { upn: u.clone() })
                        })?;
                        if !r.has_seed {
                            return Err(VaultError::Record(RecordError::Purged { upn: u.clone() }));
                        }
                        check(&r)?;
                        picked.push((r.id, r.upn));
                    }
                    None => {
                        // Without a check, only the id and the user: whole records are read
                        // once, when their seeds are handed out.
                        let columns = if check_given {
                            RECORD_COLUMNS
                        } else {
                            "id, upn"
                        };
                        let sql = format!(
                            "SELECT {columns} FROM records WHERE sealed_seed IS NOT NULL \
                             AND (CAST($1 AS TEXT) IS NULL OR state = $1) ORDER BY upn, id"
                        );
                        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(state.map(State::as_str))
                            .fetch(&mut *conn);
                        while let Some(row) = rows.try_next().await? {
                            if check_given {
                                let r = record_from_row(&row)?;
                                check(&r)?;
                                picked.push((r.id, r.upn));
                            } else {
                                picked.push((row.try_get("id")?, row.try_get("upn")?));
                            }
                        }
                    }
                }
                // One statement per chunk of entries, not one per record.
                for chunk in picked.chunks(crate::store::bulk::ROWS_PER_STATEMENT) {
                    let events: Vec<AuditEvent> = chunk
                        .iter()
                        .map(|(id, upn)| AuditEvent {
                            actor: actor.name.clone(),
                            action: "export".into(),
                            subject: Some(upn.clone()),
                            record_id: Some(id.clone()),
                            detail: json!({ "format": format }),
                        })
                        .collect();
                    append_many(conn, &self.keys.audit, self.now(), events).await?;
                }
                Ok(picked.into_iter().map(|(id, _)| id).collect())
            })
            .await?;
        Ok(SeedExport {
            vault: self,
            total: ids.len(),
            ids,
        })
    }
}

/// The check for a Microsoft Graph export ([`Vault::export_start`]): what Graph requires
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
