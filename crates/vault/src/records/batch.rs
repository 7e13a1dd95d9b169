//! Bulk provisioning batches: `bulk_generate` captures a fresh random 160-bit seed for every user
//! of a list in one transaction (all or nothing, audit source `bulk`) and keeps the set as a
//! batch, whose progress is the state of its records. `bulk_fetch` hands one seed of a batch to
//! a remote desk only after binding it to the serial of the token on the desk's reader (audited
//! `burn.claim`, in the fetch's transaction with its `export` entry), so a seed never reaches
//! two tokens however the desk is interrupted.

use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokendesk_otp::Secret;

use crate::error::{RecordError, Result, StoreError, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Authorized, Permission};
use crate::records::{
    NewRecord, RECORD_COLUMNS, Record, RecordId, TokenParams, check_language_tag, check_params,
    record_from_row, record_in, sealed_row, validate_upn,
};
use crate::reveal::ExportedSeed;
use crate::state::State;
use crate::store::audit_chain::{self, AuditEvent};
use crate::store::bulk;
use crate::vault::Vault;

/// Bytes of a generated seed (160 bits, as RFC 4226 recommends and Entra issues).
pub const BULK_SEED_BYTES: usize = 20;

/// A batch with its records in the order of the user list.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Short id (12 hex digits).
    pub id: String,
    /// Who generated it.
    pub created_by: String,
    /// When.
    pub created_unix_secs: i64,
    /// Algorithm and period of every seed (6 digits).
    pub params: TokenParams,
    /// The users' language, when one was chosen.
    pub language: Option<String>,
    /// The records, in list order.
    pub records: Vec<Record>,
}

impl Batch {
    /// Records whose token is burned (burned, shipped or delivered).
    pub fn burned(&self) -> usize {
        self.records.iter().filter(|r| is_burned(r.state)).count()
    }
}

/// Whether a record of a batch has its token burned.
pub fn is_burned(state: State) -> bool {
    matches!(state, State::Burned | State::Shipped | State::Delivered)
}

/// One line of the list of batches.
#[derive(Debug, Clone)]
pub struct BatchSummary {
    /// Id.
    pub id: String,
    /// Who generated it.
    pub created_by: String,
    /// When.
    pub created_unix_secs: i64,
    /// Users in it.
    pub total: i64,
    /// Of which burned, shipped or delivered.
    pub burned: i64,
}

fn corrupt(what: &str) -> VaultError {
    VaultError::Store(StoreError::Corrupt(what.to_owned()))
}

fn new_batch_id() -> Result<String> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
    Ok(data_encoding::HEXLOWER.encode(&b))
}

impl Vault {
    /// The users among `upns` who already have an active record (captured, burned, shipped),
    /// with its state: the users a `bulk_generate` of this list would stop at.
    ///
    /// # Errors
    /// Database errors.
    pub async fn bulk_conflicts(&self, upns: &[String]) -> Result<Vec<(String, State)>> {
        let mut conn = self.store.pool().acquire().await?;
        active_among(&mut conn, upns).await
    }

    /// Captures a new random 160-bit seed for each of `upns` (6 digits, `params`' algorithm
    /// and period; the users' `language` when given), in one transaction with a `capture`
    /// entry per record (source `bulk`) and a `bulk.generate` entry, and keeps them as a batch.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Capture`; [`VaultError::Invalid`] for a bad UPN (its
    /// item number), parameters, language or an empty list; [`RecordError::ActiveRecordExists`]
    /// naming a user who already has an active record (nothing is captured then); database
    /// errors.
    pub async fn bulk_generate(
        &self,
        auth: &Authorized,
        upns: &[String],
        params: TokenParams,
        language: Option<&str>,
    ) -> Result<Batch> {
        let actor = auth.require(Permission::Capture)?;
        check_params(&params)?;
        if params.digits != 6 {
            return Err(Invalid::BulkDigits.into());
        }
        if upns.is_empty() {
            return Err(Invalid::EmptyUserList.into());
        }
        let language = language.map(check_language_tag).transpose()?;
        let new = NewRecord {
            params,
            ..NewRecord::default()
        };
        let mut prepared: Vec<(String, Secret)> = Vec::with_capacity(upns.len());
        for (n, upn) in upns.iter().enumerate() {
            let upn = validate_upn(upn).map_err(|e| match e {
                VaultError::Invalid(why) => Invalid::Item {
                    item: n + 1,
                    reason: Box::new(why),
                }
                .into(),
                e => e,
            })?;
            let seed = Secret::generate(BULK_SEED_BYTES)
                .map_err(|_| tokendesk_crypto::CryptoError::Random)?;
            prepared.push((upn, seed));
        }
        let id = new_batch_id()?;
        let now = self.now();
        self.store
            .write(async |conn: &mut AnyConnection| {
                let names: Vec<String> = prepared.iter().map(|(u, _)| u.clone()).collect();
                if let Some((upn, state)) = active_among(conn, &names).await?.into_iter().next() {
                    return Err(VaultError::Record(RecordError::ActiveRecordExists {
                        upn,
                        state,
                    }));
                }
                sqlx::query(
                    "INSERT INTO bulk_batches (id, created_by, created_unix_secs, algorithm, \
                     period_secs, language) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&actor.name)
                .bind(now.0)
                .bind(params.algorithm.as_str())
                .bind(i64::from(params.period_secs))
                .bind(language.clone())
                .execute(&mut *conn)
                .await?;
                let mut position = 0_i64;
                for chunk in prepared.chunks(bulk::ROWS_PER_STATEMENT) {
                    let items: Vec<(String, &NewRecord, &Secret)> =
                        chunk.iter().map(|(u, s)| (u.clone(), &new, s)).collect();
                    let ids = self.insert_records_bulk(conn, actor, &items).await?;
                    let mut events = Vec::with_capacity(ids.len());
                    for ((upn, _), record_id) in chunk.iter().zip(&ids) {
                        position += 1;
                        sqlx::query(
                            "INSERT INTO bulk_batch_records (batch_id, position, record_id) \
                             VALUES ($1, $2, $3)",
                        )
                        .bind(&id)
                        .bind(position)
                        .bind(record_id)
                        .execute(&mut *conn)
                        .await?;
                        events.push(AuditEvent {
                            actor: actor.name.clone(),
                            action: "capture".into(),
                            subject: Some(upn.clone()),
                            record_id: Some(record_id.clone()),
                            detail: json!({ "source": "bulk", "batch": id }),
                        });
                    }
                    if let Some(language) = &language {
                        // The id list is `$1` in `text_list_sql`.
                        let sql = format!(
                            "UPDATE records SET language = $2 WHERE id IN ({})",
                            bulk::text_list_sql(conn)
                        );
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(bulk::text_list(ids.iter().map(String::as_str)))
                            .bind(language.clone())
                            .execute(&mut *conn)
                            .await?;
                    }
                    audit_chain::append_many(conn, &self.keys.audit, now, events).await?;
                }
                let detail = json!({
                    "batch": id,
                    "records": prepared.len(),
                    "algorithm": params.algorithm.as_str(),
                    "period": params.period_secs,
                    "language": language,
                });
                self.audit(conn, actor, "bulk.generate", None, detail)
                    .await?;
                Ok(())
            })
            .await?;
        self.batch(&id).await
    }

    /// The batch `id` with its records' current state.
    ///
    /// # Errors
    /// [`RecordError::NoBatch`]; database errors.
    pub async fn batch(&self, id: &str) -> Result<Batch> {
        let mut conn = self.store.pool().acquire().await?;
        let no_batch = || {
            VaultError::Record(RecordError::NoBatch {
                id: id.chars().take(40).collect(),
            })
        };
        let row = sqlx::query(
            "SELECT id, created_by, created_unix_secs, algorithm, period_secs, language \
             FROM bulk_batches WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(no_batch)?;
        let algorithm: String = row.try_get("algorithm")?;
        let params = TokenParams {
            algorithm: algorithm.parse().map_err(|_| corrupt("batch algorithm"))?,
            digits: 6,
            period_secs: u32::try_from(row.try_get::<i64, _>("period_secs")?)
                .map_err(|_| corrupt("batch period"))?,
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records JOIN bulk_batch_records \
             ON bulk_batch_records.record_id = records.id \
             WHERE bulk_batch_records.batch_id = $1 ORDER BY bulk_batch_records.position"
        );
        let records = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch {
            id: row.try_get("id")?,
            created_by: row.try_get("created_by")?,
            created_unix_secs: row.try_get("created_unix_secs")?,
            params,
            language: row.try_get("language")?,
            records,
        })
    }

    /// The newest `limit` batches, newest first, with their progress.
    ///
    /// # Errors
    /// Database errors.
    pub async fn batches(&self, limit: i64) -> Result<Vec<BatchSummary>> {
        let rows = sqlx::query(
            "SELECT b.id, b.created_by, b.created_unix_secs, COUNT(r.id) AS total, \
             CAST(COALESCE(SUM(CASE WHEN r.state IN ('burned', 'shipped', 'delivered') \
             THEN 1 ELSE 0 END), 0) AS BIGINT) AS burned \
             FROM bulk_batches b JOIN bulk_batch_records m ON m.batch_id = b.id \
             JOIN records r ON r.id = m.record_id \
             GROUP BY b.id, b.created_by, b.created_unix_secs \
             ORDER BY b.created_unix_secs DESC, b.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BatchSummary {
                    id: row.try_get("id")?,
                    created_by: row.try_get("created_by")?,
                    created_unix_secs: row.try_get("created_unix_secs")?,
                    total: row.try_get("total")?,
                    burned: row.try_get("burned")?,
                })
            })
            .collect()
    }

    /// Hands the seed of `record` (of batch `batch`) to a desk about to burn it onto the token
    /// `serial`: in one transaction the record is bound to that serial (audited `burn.claim`,
    /// unless it already is) and the seed is read with an `export` entry (format `nfc-bulk`).
    /// A record bound to another token, or a serial that stands for another record, is refused
    /// with what to do at the reader, and nothing changes.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `Capture`; [`RecordError::NoBatch`];
    /// [`RecordError::NotInBatch`]; [`RecordError::WrongToken`]; [`VaultError::Invalid`] when the
    /// record is not captured; database errors.
    pub async fn bulk_fetch(
        &self,
        auth: &Authorized,
        batch: &str,
        record: &RecordId,
        serial: &str,
        model: Option<&str>,
    ) -> Result<ExportedSeed> {
        let actor = auth.require(Permission::Capture)?;
        let serial = serial.trim();
        if serial.is_empty() || serial.len() > 64 {
            return Err(Invalid::SerialMissing.into());
        }
        self.store
            .write(async |conn: &mut AnyConnection| {
                let known = sqlx::query("SELECT id FROM bulk_batches WHERE id = $1")
                    .bind(batch)
                    .fetch_optional(&mut *conn)
                    .await?;
                if known.is_none() {
                    return Err(VaultError::Record(RecordError::NoBatch {
                        id: batch.chars().take(40).collect(),
                    }));
                }
                let member = sqlx::query(
                    "SELECT record_id FROM bulk_batch_records WHERE batch_id = $1 \
                     AND record_id = $2",
                )
                .bind(batch)
                .bind(&record.0)
                .fetch_optional(&mut *conn)
                .await?;
                if member.is_none() {
                    return Err(VaultError::Record(RecordError::NotInBatch {
                        batch: batch.to_owned(),
                        record: record.0.chars().take(40).collect(),
                    }));
                }
                let current = record_in(conn, record).await?;
                if current.state != State::Captured || !current.has_seed {
                    return Err(Invalid::ClaimNotCaptured {
                        upn: current.upn,
                        state: current.state,
                    }
                    .into());
                }
                if current.serial.as_deref() != Some(serial) {
                    self.bind_serial(conn, actor, &current, serial, model, Some("Token2"))
                        .await?;
                }
                let sealed = sealed_row(conn, &current.id).await?.ok_or_else(|| {
                    VaultError::Record(RecordError::Purged {
                        upn: current.upn.clone(),
                    })
                })?;
                let detail = json!({ "format": "nfc-bulk", "batch": batch, "serial": serial });
                self.audit(
                    conn,
                    actor,
                    "export",
                    Some((&current.id, &current.upn)),
                    detail,
                )
                .await?;
                let seed = self.open_sealed(&sealed)?;
                let record = record_in(conn, record).await?;
                Ok(ExportedSeed { record, seed })
            })
            .await
    }
}

/// Users among `upns` with an active record, and its state, in UPN order.
async fn active_among(conn: &mut AnyConnection, upns: &[String]) -> Result<Vec<(String, State)>> {
    let sql = format!(
        "SELECT upn, state FROM records WHERE state IN ('captured', 'burned', 'shipped') \
         AND upn IN ({}) ORDER BY upn",
        bulk::text_list_sql(conn)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(bulk::text_list(upns.iter().map(String::as_str)))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let state: String = row.try_get("state")?;
            Ok((
                row.try_get("upn")?,
                state.parse().map_err(StoreError::Corrupt)?,
            ))
        })
        .collect()
}
