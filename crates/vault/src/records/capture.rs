//! Capture: new records with their sealed seeds, one at a time or in bulk, with the rule of one
//! active record per user.

use super::current_record;
use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Actor, Authorized, Permission};
use crate::records::{
    NewRecord, Record, check_email, check_params, check_time_zone_name, new_time_ordered_id,
    validate_upn,
};
use crate::state::State;
use crate::store::audit_chain::{self, AuditEvent};
use crate::store::bulk::{self, Col};
use crate::store::clock::UnixTime;
use crate::store::on_unique;
use crate::vault::Vault;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_otp::Secret;

impl Vault {
    /// Inserts new records, [`bulk::ROWS_PER_STATEMENT`] per statement, returning their ids.
    pub(crate) async fn insert_records_bulk(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        items: &[(String, &NewRecord, &Secret)],
    ) -> Result<Vec<String>> {
        let now = self.now().0;
        let mut ids = Vec::with_capacity(items.len());
        for chunk in items.chunks(bulk::ROWS_PER_STATEMENT) {
            let (rows, chunk_ids) = self.record_rows(actor, now, chunk)?;
            insert_record_rows(conn, chunk, rows).await?;
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }

    /// The `records` rows of `items` (new ids, seeds sealed), ready for [`insert_record_rows`],
    /// and their ids: the one place the `records` column list is written, for single captures
    /// and imports alike. No database: imports run it while the previous chunk is written.
    fn record_rows(
        &self,
        actor: &Actor,
        now: i64,
        items: &[(String, &NewRecord, &Secret)],
    ) -> Result<(bulk::Rows, Vec<String>)> {
        // About 500 bytes of JSON per record (hex blobs, id, UPN, numbers).
        let mut rows = bulk::Rows::with_capacity(items.len() * 560);
        let mut ids = Vec::with_capacity(items.len());
        for (upn, new, seed) in items {
            let id = new_time_ordered_id(UnixTime(now))?;
            let (wrapped, sealed, fingerprint) = self.seal_new(&id, upn, seed.expose_bytes())?;
            rows.row()
                .text(Some(&id))
                .text(Some(upn))
                .text(new.display_name.as_deref())
                .text(new.phone.as_deref())
                .text(new.notes.as_deref())
                .text(new.serial.as_deref())
                .text(new.model.as_deref())
                .text(new.manufacturer.as_deref())
                .text(Some(new.params.algorithm.as_str()))
                .int(i64::from(new.params.digits))
                .int(i64::from(new.params.period_secs))
                .text(Some(&actor.name))
                .int(now)
                .int(now)
                .int(self.keys.version)
                .blob(&wrapped)
                .blob(&sealed)
                .blob(&fingerprint);
            ids.push(id);
        }
        Ok((rows, ids))
    }

    /// Captures a seed: one new record in state `captured` plus its audit event. The seed is
    /// sealed at once and never returned by any read path.
    ///
    /// # Errors
    /// Invalid UPN or parameters; [`RecordError::ActiveRecordExists`]; database errors.
    pub async fn capture(
        &self,
        auth: &Authorized,
        new: NewRecord,
        seed: &Secret,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Capture)?;
        let upn = validate_upn(&new.upn)?;
        check_params(&new.params)?;
        let email = new.email.as_deref().map(check_email).transpose()?;
        let time_zone = new
            .time_zone
            .as_deref()
            .map(check_time_zone_name)
            .transpose()?;
        let id = self
            .store
            .write(async |conn: &mut AnyConnection| {
                if let Some(active) = current_record(conn, &upn).await?
                    && active.state.is_active()
                {
                    return Err(VaultError::Record(RecordError::ActiveRecordExists {
                        upn: upn.clone(),
                        state: active.state,
                    }));
                }
                let id = self
                    .insert_records_bulk(conn, actor, &[(upn.clone(), &new, seed)])
                    .await?
                    .pop()
                    .ok_or(VaultError::Invalid(Invalid::NotStored))?;
                if email.is_some() || time_zone.is_some() {
                    sqlx::query("UPDATE records SET email = $1, time_zone = $2 WHERE id = $3")
                        .bind(email.clone())
                        .bind(time_zone.clone())
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?;
                }
                let detail = json!({ "serial": new.serial, "source": "capture" });
                self.audit(conn, actor, "capture", Some((&id, &upn)), detail)
                    .await?;
                Ok(id)
            })
            .await?;
        self.record_by_id(&id).await
    }

    /// Captures many seeds in one transaction (an import): every record and its audit event,
    /// then one `import` summary event. Any failure (for example a user who already has an
    /// active record) rolls back the whole batch.
    ///
    /// # Errors
    /// Invalid UPN or parameters (with the 1-based item number); [`RecordError::ActiveRecordExists`];
    /// database errors.
    pub async fn capture_batch(
        &self,
        auth: &Authorized,
        items: &[(NewRecord, Secret)],
        source: &str,
    ) -> Result<usize> {
        let actor = auth.require(Permission::Import)?;
        let mut prepared = Vec::with_capacity(items.len());
        for (n, (new, seed)) in items.iter().enumerate() {
            let upn = validate_upn(&new.upn)
                .and_then(|u| check_params(&new.params).map(|()| u))
                .map_err(|e| match e {
                    VaultError::Invalid(reason) => Invalid::Item {
                        item: n + 1,
                        reason: Box::new(reason),
                    }
                    .into(),
                    other => other,
                })?;
            prepared.push((upn, new, seed));
        }
        let now = self.now();
        let source_detail = |serial: &Option<String>| json!({ "serial": serial, "source": source });
        // One chunk's rows: its records (seeds sealed) and their audit entries (hashed and
        // MAC'd in chain order). Pure work, no database.
        let rows_of = |chunk: &[(String, &NewRecord, &Secret)],
                       chain: &mut audit_chain::Chain<'_>|
         -> Result<(bulk::Rows, bulk::Rows)> {
            let (records, ids) = self.record_rows(actor, now.0, chunk)?;
            // About 400 bytes of JSON per entry (three hex hashes, id, UPN, detail).
            let mut audit = bulk::Rows::with_capacity(chunk.len() * 460);
            for ((upn, new, _), id) in chunk.iter().zip(ids) {
                let event = AuditEvent {
                    actor: actor.name.clone(),
                    action: "capture".into(),
                    subject: Some(upn.clone()),
                    record_id: Some(id),
                    detail: source_detail(&new.serial),
                };
                chain.push(&mut audit, event)?;
            }
            Ok((records, audit))
        };
        self.store
            .write(async |conn: &mut AnyConnection| {
                check_no_active(conn, &prepared).await?;
                // Every capture entry and the summary, reserved at once.
                let mut chain =
                    audit_chain::Chain::reserve(conn, &self.keys.audit, now, prepared.len() + 1)
                        .await?;
                // Chunk by chunk, records then their audit entries, so memory stays one or two
                // chunks' worth whatever the size of the import. While the database writes a
                // chunk, the next one is sealed and hashed (`biased`: the write is sent first),
                // so the two halves of the work overlap on two cores.
                let mut chunks = prepared.chunks(bulk::ROWS_PER_STATEMENT);
                let mut ready = match chunks.next() {
                    Some(chunk) => Some((chunk, rows_of(chunk, &mut chain)?)),
                    None => None,
                };
                while let Some((chunk, (records, audit))) = ready.take() {
                    let following = chunks.next();
                    let (written, next) = tokio::join!(
                        biased;
                        async {
                            insert_record_rows(conn, chunk, records).await?;
                            audit_chain::Chain::insert(conn, audit).await
                        },
                        async {
                            following
                                .map(|c| rows_of(c, &mut chain).map(|rows| (c, rows)))
                                .transpose()
                        },
                    );
                    written?;
                    ready = next?;
                }
                let mut summary = bulk::Rows::new();
                chain.push(
                    &mut summary,
                    AuditEvent {
                        actor: actor.name.clone(),
                        action: "import".into(),
                        subject: None,
                        record_id: None,
                        detail: json!({ "source": source, "records": prepared.len() }),
                    },
                )?;
                audit_chain::Chain::insert(conn, summary).await?;
                chain.finish(conn).await?;
                Ok(prepared.len())
            })
            .await
    }
}

/// Writes rows made by [`Vault::record_rows`] for `chunk`, naming the user when the rule of one
/// active record per user refuses them.
async fn insert_record_rows(
    conn: &mut AnyConnection,
    chunk: &[(String, &NewRecord, &Secret)],
    rows: bulk::Rows,
) -> Result<()> {
    const COLS: [Col; 18] = [
        Col::Text("id"),
        Col::Text("upn"),
        Col::Text("display_name"),
        Col::Text("phone"),
        Col::Text("notes"),
        Col::Text("serial"),
        Col::Text("model"),
        Col::Text("manufacturer"),
        Col::Text("algorithm"),
        Col::Int("digits"),
        Col::Int("period_secs"),
        Col::Text("created_by"),
        Col::Int("created_unix_secs"),
        Col::Int("updated_unix_secs"),
        Col::Int("key_version"),
        Col::Blob("wrapped_dek"),
        Col::Blob("sealed_seed"),
        Col::Blob("seed_fingerprint"),
    ];
    const CONSTANTS: [(&str, &str); 2] = [("drift_steps", "0"), ("state", "'captured'")];
    bulk::insert(conn, "records", &COLS, &CONSTANTS, rows)
        .await
        .map_err(|e| {
            on_unique(e, || match chunk {
                [(upn, _, _)] => VaultError::Record(RecordError::ActiveRecordExists {
                    upn: upn.clone(),
                    state: State::Captured,
                }),
                _ => Invalid::BatchActiveRecord.into(),
            })
        })
}

/// Refuses a batch naming the first user who already has an active record.
async fn check_no_active(
    conn: &mut AnyConnection,
    items: &[(String, &NewRecord, &Secret)],
) -> Result<()> {
    let sql = format!(
        "SELECT upn, state FROM records WHERE state IN ('captured', 'burned', 'shipped') \
         AND upn IN ({}) ORDER BY upn LIMIT 1",
        bulk::text_list_sql(conn)
    );
    let upns = bulk::text_list(items.iter().map(|(upn, _, _)| upn.as_str()));
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(upns)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        let state: String = row.try_get("state")?;
        return Err(VaultError::Record(RecordError::ActiveRecordExists {
            upn: row.try_get("upn")?,
            state: state.parse().map_err(StoreError::Corrupt)?,
        }));
    }
    Ok(())
}
