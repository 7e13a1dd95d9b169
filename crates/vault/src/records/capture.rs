//! Capture: new records with their sealed seeds, one at a time or in bulk, with the rule of one
//! active record per user.

use super::current_record;
use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Actor, Authorized, Permission};
use crate::records::{
    NewRecord, Record, check_email, check_params, check_time_zone_name, new_record_id, validate_upn,
};
use crate::state::State;
use crate::store::audit_chain::{self, AuditEvent};
use crate::store::bulk::{self, Col};
use crate::store::on_unique;
use crate::vault::Vault;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_otp::Secret;

impl Vault {
    /// Inserts new records, [`bulk::ROWS_PER_STATEMENT`] per statement, returning their ids:
    /// the one place the `records` column list is written, for single captures and imports alike.
    pub(crate) async fn insert_records_bulk(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        items: &[(String, &NewRecord, &Secret)],
    ) -> Result<Vec<String>> {
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
        let now = self.now().0;
        let mut ids = Vec::with_capacity(items.len());
        for chunk in items.chunks(bulk::ROWS_PER_STATEMENT) {
            let mut rows = bulk::Rows::new();
            for (upn, new, seed) in chunk {
                let id = new_record_id()?;
                let (wrapped, sealed, fingerprint) =
                    self.seal_new(&id, upn, seed.expose_bytes())?;
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
                })?;
        }
        Ok(ids)
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
        self.store
            .write(async |conn: &mut AnyConnection| {
                check_no_active(conn, &prepared).await?;
                // Chunk by chunk, records then their audit entries: memory stays one chunk's
                // worth whatever the size of the import.
                for chunk in prepared.chunks(bulk::ROWS_PER_STATEMENT) {
                    let ids = self.insert_records_bulk(conn, actor, chunk).await?;
                    let events: Vec<AuditEvent> = chunk
                        .iter()
                        .zip(ids)
                        .map(|((upn, new, _), id)| AuditEvent {
                            actor: actor.name.clone(),
                            action: "capture".into(),
                            subject: Some(upn.clone()),
                            record_id: Some(id),
                            detail: json!({ "serial": new.serial, "source": source }),
                        })
                        .collect();
                    audit_chain::append_many(conn, &self.keys.audit, self.now(), events).await?;
                }
                let summary = AuditEvent {
                    actor: actor.name.clone(),
                    action: "import".into(),
                    subject: None,
                    record_id: None,
                    detail: json!({ "source": source, "records": prepared.len() }),
                };
                audit_chain::append(conn, &self.keys.audit, self.now(), summary).await?;
                Ok(prepared.len())
            })
            .await
    }
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
