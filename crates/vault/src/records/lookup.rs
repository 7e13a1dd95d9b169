//! Reading records: by id, the current one of a user, a user's history, filtered lists and the
//! dashboard's counts.

use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::records::{RECORD_COLUMNS, Record, RecordId, normalise_upn, record_from_row};
use crate::state::State;
use crate::vault::Vault;
use sqlx::AnyConnection;
use sqlx::Row;

/// Filter for [`Vault::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only records in this state.
    pub state: Option<State>,
    /// Only shipped records in transit longer than this many days.
    pub overdue_days: Option<i64>,
}

impl Vault {
    pub(crate) async fn record_by_id(&self, id: &str) -> Result<Record> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(self.store.pool())
            .await?;
        record_from_row(&row)
    }

    /// The user's current record: the active one if any, else the newest.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`]; database errors.
    pub async fn current(&self, upn: &str) -> Result<Record> {
        let upn = normalise_upn(upn)?;
        let mut conn = self.store.pool().acquire().await?;
        current_record(&mut conn, &upn)
            .await?
            .ok_or(VaultError::Record(RecordError::NoRecord { upn }))
    }

    /// All records of a user, newest first.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`] if there are none; database errors.
    pub async fn history(&self, upn: &str) -> Result<Vec<Record>> {
        let upn = normalise_upn(upn)?;
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE upn = $1 \
             ORDER BY created_unix_secs DESC, id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&upn)
            .fetch_all(self.store.pool())
            .await?;
        if rows.is_empty() {
            return Err(VaultError::Record(RecordError::NoRecord { upn }));
        }
        rows.iter().map(record_from_row).collect()
    }

    /// Records matching `filter`, ordered by user.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Record>> {
        let cutoff = filter
            .overdue_days
            .map(|days| self.now().0 - days.saturating_mul(86_400));
        let state = match (filter.state, cutoff) {
            (_, Some(_)) => Some(State::Shipped.as_str()),
            (Some(s), None) => Some(s.as_str()),
            (None, None) => None,
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records \
             WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) \
               AND (CAST($2 AS BIGINT) IS NULL OR shipped_unix_secs < $2) \
             ORDER BY upn, created_unix_secs"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(cutoff)
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The id of the user's current record (the active one if any, else the newest), for
    /// callers that name a user rather than a record (the CLI). Resolve it once, then move
    /// that record by id.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`]; database errors.
    pub async fn current_record_id(&self, upn: &str) -> Result<RecordId> {
        self.current(upn).await.map(|r| RecordId::from(&r))
    }
}

impl Vault {
    /// The record with this id.
    ///
    /// # Errors
    /// [`RecordError::NoRecord`] when there is none; database errors.
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

/// Exactly the record `id`, or [`RecordError::NoRecord`] naming it.
pub(crate) async fn record_in(conn: &mut AnyConnection, id: &RecordId) -> Result<Record> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&id.0)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => record_from_row(&row),
        None => Err(VaultError::Record(RecordError::NoRecord {
            upn: format!("record {id}"),
        })),
    }
}

/// The active record of a user, else the newest.
pub(crate) async fn current_record(conn: &mut AnyConnection, upn: &str) -> Result<Option<Record>> {
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE upn = $1 ORDER BY \
         CASE WHEN state IN ('captured', 'burned', 'shipped') THEN 0 ELSE 1 END, \
         created_unix_secs DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(upn)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}
