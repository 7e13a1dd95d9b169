//! Capture: new records with their sealed seeds, one at a time or in bulk, with the rule of one
//! active record per user.

use super::current_record;
use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::policy::{Actor, Authorized, Permission};
use crate::records::{
    NewRecord, Record, check_email, check_params, check_time_zone_name, new_record_id, validate_upn,
};
use crate::state::State;
use crate::store::audit_chain::{self, AuditEvent};
use crate::store::on_unique;
use crate::vault::Vault;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_otp::Secret;

/// Rows per multi-row INSERT: 18 parameters each stays far below SQLite's and PostgreSQL's
/// parameter limits.
pub(crate) const BULK_ROWS: usize = 200;

impl Vault {
    /// Inserts new records with multi-row statements, returning their ids: the one place the
    /// `records` column list is written, for single captures and imports alike.
    pub(crate) async fn insert_records_bulk(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        items: &[(String, &NewRecord, &Secret)],
    ) -> Result<Vec<String>> {
        const PER_ROW: usize = 18;
        let now = self.now().0;
        let mut ids = Vec::with_capacity(items.len());
        for chunk in items.chunks(BULK_ROWS) {
            let mut sql = String::from(
                "INSERT INTO records (id, upn, display_name, phone, notes, serial, model, \
                 manufacturer, algorithm, digits, period_secs, created_by, created_unix_secs, \
                 updated_unix_secs, key_version, wrapped_dek, sealed_seed, seed_fingerprint, \
                 drift_steps, state) VALUES ",
            );
            for i in 0..chunk.len() {
                let base = i * PER_ROW;
                let params: Vec<String> = (1..=PER_ROW).map(|k| format!("${}", base + k)).collect();
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("({}, 0, 'captured')", params.join(", ")));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (upn, new, seed) in chunk {
                let id = new_record_id()?;
                let (wrapped, sealed, fingerprint) =
                    self.seal_new(&id, upn, seed.expose_bytes())?;
                query = query
                    .bind(id.clone())
                    .bind(upn.clone())
                    .bind(new.display_name.clone())
                    .bind(new.phone.clone())
                    .bind(new.notes.clone())
                    .bind(new.serial.clone())
                    .bind(new.model.clone())
                    .bind(new.manufacturer.clone())
                    .bind(new.params.algorithm.as_str())
                    .bind(i64::from(new.params.digits))
                    .bind(i64::from(new.params.period_secs))
                    .bind(actor.name.clone())
                    .bind(now)
                    .bind(now)
                    .bind(self.keys.version)
                    .bind(wrapped)
                    .bind(sealed)
                    .bind(fingerprint);
                ids.push(id);
            }
            query.execute(&mut *conn).await.map_err(|e| {
                on_unique(e, || match chunk {
                    [(upn, _, _)] => VaultError::Record(RecordError::ActiveRecordExists {
                        upn: upn.clone(),
                        state: State::Captured,
                    }),
                    _ => VaultError::Invalid(
                        "a user in this batch already has an active record".into(),
                    ),
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
                    .ok_or_else(|| VaultError::Invalid("the record was not stored".into()))?;
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
                .map_err(|e| VaultError::Invalid(format!("item {}: {e}", n + 1)))?;
            prepared.push((upn, new, seed));
        }
        self.store
            .write(async |conn: &mut AnyConnection| {
                check_no_active(conn, &prepared).await?;
                let ids = self.insert_records_bulk(conn, actor, &prepared).await?;
                let mut events = Vec::with_capacity(prepared.len() + 1);
                for ((upn, new, _), id) in prepared.iter().zip(ids) {
                    events.push(AuditEvent {
                        actor: actor.name.clone(),
                        action: "capture".into(),
                        subject: Some(upn.clone()),
                        record_id: Some(id),
                        detail: json!({ "serial": new.serial, "source": source }),
                    });
                }
                events.push(AuditEvent {
                    actor: actor.name.clone(),
                    action: "import".into(),
                    subject: None,
                    record_id: None,
                    detail: json!({ "source": source, "records": prepared.len() }),
                });
                audit_chain::append_many(conn, &self.keys.audit, self.now(), events).await?;
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
    for chunk in items.chunks(BULK_ROWS * 4) {
        let params: Vec<String> = (1..=chunk.len()).map(|k| format!("${k}")).collect();
        let sql = format!(
            "SELECT upn, state FROM records WHERE state IN ('captured', 'burned', 'shipped') \
             AND upn IN ({}) ORDER BY upn LIMIT 1",
            params.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (upn, _, _) in chunk {
            query = query.bind(upn.clone());
        }
        if let Some(row) = query.fetch_optional(&mut *conn).await? {
            let state: String = row.try_get("state")?;
            return Err(VaultError::Record(RecordError::ActiveRecordExists {
                upn: row.try_get("upn")?,
                state: state.parse().map_err(StoreError::Corrupt)?,
            }));
        }
    }
    Ok(())
}
