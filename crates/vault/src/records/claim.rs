//! Bulk burning's bookkeeping: before a seed is written to a token, the token's serial is
//! recorded on the captured record (a claim, audited as `burn.claim`). From then on that seed
//! goes onto that token only, so a burn interrupted after the write can be resumed without the
//! seed ever reaching a second token. `mark_burned` completes the move to `burned`.

use serde_json::json;
use sqlx::AnyConnection;

use crate::error::{RecordError, Result, VaultError};
use crate::invalid::Invalid;
use crate::policy::{Actor, Authorized, Permission};
use crate::records::{RECORD_COLUMNS, Record, RecordId, record_from_row, record_in};
use crate::state::State;
use crate::vault::Vault;

impl Vault {
    /// Binds a captured record's seed to the token `serial` (and records its model and
    /// manufacturer). Claiming again with the same serial is a no-op; another serial, or a
    /// record that is not captured, is refused.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] when the record is not captured; [`RecordError::WrongToken`] when
    /// it is bound to another token or the serial belongs to another active record; database
    /// errors.
    pub async fn claim_token(
        &self,
        auth: &Authorized,
        id: &RecordId,
        serial: &str,
        model: Option<&str>,
        manufacturer: Option<&str>,
    ) -> Result<Record> {
        let actor = auth.require(Permission::Transition)?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                if record.state != State::Captured {
                    return Err(Invalid::ClaimNotCaptured {
                        upn: record.upn,
                        state: record.state,
                    }
                    .into());
                }
                if record.serial.as_deref() == Some(serial) {
                    return Ok(());
                }
                self.bind_serial(conn, actor, &record, serial, model, manufacturer)
                    .await
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// The record a token serial belongs to among records that still stand for a token in use
    /// (captured with a claim, burned, shipped, delivered), newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn record_with_serial(&self, serial: &str) -> Result<Option<Record>> {
        let mut conn = self.store.pool().acquire().await?;
        active_with_serial(&mut conn, serial).await
    }
}

impl Vault {
    /// Binds the captured `record` to the token `serial` in the caller's transaction, audited as
    /// `burn.claim`: refused when the record is bound to another token or the serial belongs to
    /// another active record (the words a desk at the reader shows).
    pub(crate) async fn bind_serial(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        record: &Record,
        serial: &str,
        model: Option<&str>,
        manufacturer: Option<&str>,
    ) -> Result<()> {
        if let Some(bound) = record.serial.as_deref() {
            return Err(wrong_token(bound_elsewhere(serial, &record.upn, bound)));
        }
        if let Some(other) = active_with_serial(conn, serial).await? {
            return Err(wrong_token(token_taken(serial, &other)));
        }
        sqlx::query(
            "UPDATE records SET serial = $1, model = COALESCE($2, model), \
             manufacturer = COALESCE($3, manufacturer), updated_unix_secs = $4 \
             WHERE id = $5 AND state = 'captured' AND serial IS NULL",
        )
        .bind(serial)
        .bind(model)
        .bind(manufacturer)
        .bind(self.now().0)
        .bind(&record.id)
        .execute(&mut *conn)
        .await?;
        let detail = json!({ "serial": serial, "model": model });
        self.audit(
            conn,
            actor,
            "burn.claim",
            Some((&record.id, &record.upn)),
            detail,
        )
        .await?;
        Ok(())
    }
}

fn wrong_token(reason: String) -> VaultError {
    VaultError::Record(RecordError::WrongToken { reason })
}

/// What to do with token `serial` on the reader when the seed of `upn` is bound to `bound`
/// (the same words at a local station and from the server to a remote one).
pub fn bound_elsewhere(serial: &str, upn: &str, bound: &str) -> String {
    format!(
        "this is token {serial}, but the seed of {upn} is bound to token {bound} (its burn was \
         interrupted): take this one off and put {bound} on"
    )
}

/// What to do with token `serial` on the reader when it already stands for `other`.
pub fn token_taken(serial: &str, other: &Record) -> String {
    format!(
        "token {serial} is already {} for {}: take it off and put a blank token on",
        if other.state == State::Captured {
            "bound"
        } else {
            other.state.as_str()
        },
        other.upn
    )
}

async fn active_with_serial(conn: &mut AnyConnection, serial: &str) -> Result<Option<Record>> {
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE serial = $1 AND state IN \
         ('captured', 'burned', 'shipped', 'delivered') ORDER BY created_unix_secs DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serial)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}
