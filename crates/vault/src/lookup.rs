//! Read-only lookups the web pages need: a record by id and counts for the dashboard.

use sqlx::Row;

use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::records::{RECORD_COLUMNS, Record, record_from_row};
use crate::state::State;
use crate::vault::Vault;

impl Vault {
    /// The record with this id.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`] when there is none; database errors.
    pub async fn record(&self, id: &str) -> Result<Record> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        match row {
            Some(row) => record_from_row(&row),
            None => Err(VaultError::Record(RecordError::NoRecord {
                upn: format!("record {id}"),
            })),
        }
    }

    /// How many records are in each state (states with none are left out).
    ///
    /// # Errors
    /// Database errors.
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM records GROUP BY state")
            .fetch_all(self.store.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            out.push((state.parse().map_err(StoreError::Corrupt)?, n));
        }
        out.sort_by_key(|(s, _)| crate::state::ALL_STATES.iter().position(|a| a == s));
        Ok(out)
    }
}

impl Vault {
    /// Records in the audit trail that a caller failed verification before a reveal (no code
    /// is produced). `method` is the verification method; `ticket` the operator's reference.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`]; database errors.
    pub async fn record_failed_verification(
        &self,
        actor: &crate::Actor,
        record_id: &str,
        method: &str,
        ticket: &str,
    ) -> Result<()> {
        let record = self.record(record_id).await?;
        let detail = serde_json::json!({ "method": method, "ticket": ticket, "outcome": "failed" });
        self.store
            .write(async |conn: &mut sqlx::AnyConnection| {
                self.audit(
                    conn,
                    actor,
                    "verify.failed",
                    Some((&record.id, &record.upn)),
                    detail,
                )
                .await?;
                Ok(())
            })
            .await
    }
}

impl Vault {
    /// Approvals `requester` can use now for a reveal of `upn`: approved by someone else,
    /// unused and unexpired.
    ///
    /// # Errors
    /// Database errors.
    pub async fn usable_approvals(
        &self,
        upn: &str,
        requester: &crate::Actor,
    ) -> Result<Vec<crate::Approval>> {
        let upn = crate::normalise_upn(upn)?;
        let rows = sqlx::query(
            "SELECT id FROM approvals WHERE upn = $1 AND requested_by = $2 \
             AND approved_by IS NOT NULL AND used_unix_secs IS NULL AND expires_unix_secs > $3 \
             ORDER BY created_unix_secs",
        )
        .bind(&upn)
        .bind(&requester.name)
        .bind(self.now().0)
        .fetch_all(self.store.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            out.push(self.approval(&crate::ApprovalId(id)).await?);
        }
        Ok(out)
    }

    /// The deployment policy knobs in force.
    pub fn settings(&self) -> crate::Settings {
        self.settings
    }
}
