//! Lifecycle moves (burned, shipped, delivered, lost, cancelled, purged): each checked against
//! the transition table and written with its audit event in one transaction.

use super::record_in;
use super::sealed_row;
use crate::error::RecordError;
use crate::error::{Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Actor, Authorized, Permission};
use crate::records::{
    RECORD_COLUMNS, Record, RecordId, Shipment, check_email, check_language_tag,
    check_time_zone_name, normalise_upn, record_from_row,
};
use crate::state::State;
use crate::vault::Vault;
use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_otp::Secret;

/// Token details learnt when burning.
#[derive(Debug, Clone, Default)]
pub struct TokenUpdate {
    /// Serial number.
    pub serial: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
}

impl Vault {
    /// Moves exactly the record `id` to `to` after the transition table allows it, applies
    /// `extra` column changes, and writes the audit event, all in one transaction. A stale id
    /// (the record moved on since the caller looked) is refused with the record's current
    /// state, never applied to another record of the user.
    pub(crate) async fn change_state(
        &self,
        actor: &Actor,
        id: &RecordId,
        to: State,
        detail: serde_json::Value,
        extra: Extra,
    ) -> Result<Record> {
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                self.apply_change(conn, actor, &record, to, detail, extra)
                    .await?;
                Ok(())
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    pub(crate) async fn apply_change(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        record: &Record,
        to: State,
        detail: serde_json::Value,
        extra: Extra,
    ) -> Result<()> {
        record.state.transition(to)?;
        let now = self.now().0;
        let done = sqlx::query(
            "UPDATE records SET state = $1, updated_unix_secs = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(&record.id)
        .bind(record.state.as_str())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Invalid::ChangedMeanwhile {
                upn: record.upn.clone(),
            }
            .into());
        }
        extra.apply(conn, &record.id, now).await?;
        if !to.has_seed() {
            shred(conn, &record.id).await?;
        }
        let action = format!("state.{to}");
        let mut detail = detail;
        if let Some(map) = detail.as_object_mut() {
            map.insert("from".into(), json!(record.state.as_str()));
            map.insert(
                "seed_destroyed".into(),
                json!(!to.has_seed() && record.has_seed),
            );
        }
        self.audit(
            conn,
            actor,
            &action,
            Some((&record.id, &record.upn)),
            detail,
        )
        .await?;
        Ok(())
    }

    /// Sets or clears where the user's codes and notices are e-mailed and the user's time
    /// zone, with an audit event naming both. Needs [`Permission::Capture`]: the people who
    /// reveal codes cannot redirect where codes go.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; a bad address or zone name; no record; database errors.
    pub async fn set_contact(
        &self,
        auth: &Authorized,
        id: &RecordId,
        email: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Capture)?;
        let email = email
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(check_email)
            .transpose()?;
        let time_zone = time_zone
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .map(check_time_zone_name)
            .transpose()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                sqlx::query(
                    "UPDATE records SET email = $1, time_zone = $2, updated_unix_secs = $3 \
                     WHERE id = $4",
                )
                .bind(email.clone())
                .bind(time_zone.clone())
                .bind(self.now().0)
                .bind(&record.id)
                .execute(&mut *conn)
                .await?;
                let detail = json!({ "email": email, "time_zone": time_zone });
                self.audit(
                    conn,
                    actor,
                    "contact",
                    Some((&record.id, &record.upn)),
                    detail,
                )
                .await
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// Sets the user's language for e-mails and the message for the user (`None` or blank:
    /// not recorded), audited as `language`.
    ///
    /// # Errors
    /// A tag of the wrong shape; no record; database errors.
    pub async fn set_language(
        &self,
        auth: &Authorized,
        id: &RecordId,
        language: Option<&str>,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Capture)?;
        let language = language
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(check_language_tag)
            .transpose()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                sqlx::query(
                    "UPDATE records SET language = $1, updated_unix_secs = $2 WHERE id = $3",
                )
                .bind(language.clone())
                .bind(self.now().0)
                .bind(&record.id)
                .execute(&mut *conn)
                .await?;
                self.audit(
                    conn,
                    actor,
                    "language",
                    Some((&record.id, &record.upn)),
                    json!({ "language": language }),
                )
                .await
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// captured → burned, recording token details.
    ///
    /// # Errors
    /// Illegal transition (naming the current state); no record; database errors.
    pub async fn mark_burned(
        &self,
        auth: &Authorized,
        id: &RecordId,
        token: TokenUpdate,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        let detail = json!({ "serial": token.serial, "model": token.model });
        self.change_state(actor, id, State::Burned, detail, Extra::Token(token))
            .await
    }

    /// burned → shipped.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn ship(
        &self,
        auth: &Authorized,
        id: &RecordId,
        shipment: Shipment,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        let detail = json!({
            "carrier": shipment.carrier,
            "tracking": shipment.tracking,
            "expected_unix_secs": shipment.expected_unix_secs,
        });
        self.change_state(actor, id, State::Shipped, detail, Extra::Ship(shipment))
            .await
    }

    /// captured/burned → cancelled; the seed is destroyed at once.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn cancel(&self, auth: &Authorized, id: &RecordId, reason: &str) -> Result<Record> {
        let actor = auth.require(Permission::Cancel)?;
        let detail = json!({ "reason": reason });
        self.change_state(actor, id, State::Cancelled, detail, Extra::None)
            .await
    }

    /// shipped → lost; the seed is destroyed at once and the user must re-enrol.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn lose(&self, auth: &Authorized, id: &RecordId, reason: &str) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        let detail = json!({ "reason": reason });
        self.change_state(actor, id, State::Lost, detail, Extra::None)
            .await
    }

    /// shipped → delivered after checking `code` (read from the token's display) against the
    /// seed within `window_steps` of now; stores the measured drift and stops reveals. With a
    /// retention of 0 the seed is purged in the same transaction, otherwise `purge_due`
    /// destroys it later. A code that does not match changes nothing.
    ///
    /// # Errors
    /// Illegal transition; [`RecordError::CodeMismatch`]; no record; database errors.
    pub async fn deliver(
        &self,
        auth: &Authorized,
        id: &RecordId,
        code: &str,
        window_steps: u64,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        let retention = self.settings.retention_secs;
        let now = self.now();
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                let upn = record.upn.clone();
                record.state.transition(State::Delivered)?;
                let sealed = sealed_row(conn, &record.id)
                    .await?
                    .ok_or_else(|| VaultError::Record(RecordError::Purged { upn: upn.clone() }))?;
                let seed = self.open_sealed(&sealed)?;
                let totp = crate::records::totp_for(&seed, &record.params)?;
                let when = u64::try_from(now.0).unwrap_or_default();
                let drift_steps =
                    match tokendesk_otp::drift_search(&totp, when, code.trim(), None, window_steps)
                    {
                        tokendesk_otp::Drift::Found { offset_steps, .. } => offset_steps,
                        tokendesk_otp::Drift::NotFound => {
                            return Err(VaultError::Record(RecordError::CodeMismatch {
                                upn: upn.clone(),
                                window_steps,
                            }));
                        }
                        tokendesk_otp::Drift::Ambiguous { .. } => {
                            return Err(Invalid::CodeAmbiguous.into());
                        }
                    };
                let due = now.0 + retention;
                let detail = json!({ "drift_steps": drift_steps, "purge_due_unix_secs": due });
                self.apply_change(
                    conn,
                    actor,
                    &record,
                    State::Delivered,
                    detail,
                    Extra::Deliver { drift_steps, due },
                )
                .await?;
                if retention <= 0 {
                    let delivered = Record {
                        state: State::Delivered,
                        ..record.clone()
                    };
                    let detail = json!({ "reason": "delivered, no retention" });
                    self.apply_change(conn, actor, &delivered, State::Purged, detail, Extra::None)
                        .await?;
                }
                Ok(())
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// delivered → purged: crypto-shreds the seed (wrapped data key and ciphertext deleted);
    /// the keyed fingerprint stays.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn purge(&self, auth: &Authorized, id: &RecordId) -> Result<Record> {
        let actor = auth.require(Permission::Purge)?;
        let detail = json!({ "reason": "purge" });
        self.change_state(actor, id, State::Purged, detail, Extra::None)
            .await
    }

    /// Purges every delivered record whose retention has run out; one transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn purge_due(&self, auth: &Authorized) -> Result<usize> {
        let actor = auth.require(Permission::Purge)?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE state = 'delivered' \
                     AND purge_due_unix_secs <= $1 ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_all(&mut *conn)
                    .await?;
                let records = rows
                    .iter()
                    .map(record_from_row)
                    .collect::<Result<Vec<_>>>()?;
                for record in &records {
                    let detail = json!({ "reason": "retention ended" });
                    self.apply_change(conn, actor, record, State::Purged, detail, Extra::None)
                        .await?;
                }
                Ok(records.len())
            })
            .await
    }

    /// Whether `seed` is the seed that was captured for the user's newest record, answered from
    /// the keyed fingerprint, so it works after purge too.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`]; database errors.
    pub async fn fingerprint_matches(&self, upn: &str, seed: &Secret) -> Result<bool> {
        let upn = normalise_upn(upn)?;
        let rows = sqlx::query("SELECT seed_fingerprint FROM records WHERE upn = $1")
            .bind(&upn)
            .fetch_all(self.store.pool())
            .await?;
        if rows.is_empty() {
            return Err(VaultError::Record(RecordError::NoRecord { upn }));
        }
        let mut found = false;
        for row in &rows {
            let tag: Vec<u8> = row.try_get("seed_fingerprint")?;
            found |= self.keys.fingerprint.verify(&[seed.expose_bytes()], &tag);
        }
        Ok(found)
    }
}

/// Column changes that go with a transition.
pub(crate) enum Extra {
    None,
    Token(TokenUpdate),
    Ship(Shipment),
    Deliver { drift_steps: i64, due: i64 },
}

impl Extra {
    async fn apply(self, conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
        match self {
            Extra::None => {}
            Extra::Token(t) => {
                sqlx::query(
                    "UPDATE records SET serial = COALESCE($1, serial), model = COALESCE($2, model), \
                     manufacturer = COALESCE($3, manufacturer) WHERE id = $4",
                )
                .bind(t.serial)
                .bind(t.model)
                .bind(t.manufacturer)
                .bind(id)
                .execute(conn)
                .await?;
            }
            Extra::Ship(s) => {
                sqlx::query(
                    "UPDATE records SET carrier = $1, tracking = $2, expected_unix_secs = $3, \
                     shipped_unix_secs = $4 WHERE id = $5",
                )
                .bind(s.carrier)
                .bind(s.tracking)
                .bind(s.expected_unix_secs)
                .bind(now)
                .bind(id)
                .execute(conn)
                .await?;
            }
            Extra::Deliver { drift_steps, due } => {
                sqlx::query(
                    "UPDATE records SET drift_steps = $1, purge_due_unix_secs = $2 WHERE id = $3",
                )
                .bind(drift_steps)
                .bind(due)
                .bind(id)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// Crypto-shredding: the wrapped data key and the ciphertext go; the fingerprint stays.
async fn shred(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE records SET wrapped_dek = NULL, sealed_seed = NULL, key_version = NULL, \
         purge_due_unix_secs = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
