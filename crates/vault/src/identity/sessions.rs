//! Sessions: lookup with idle and absolute timeouts, sign-out, sweeping, stage changes.

use serde_json::json;
use sqlx::AnyConnection;

use super::{Identity, STAFF_COLUMNS, Session, SessionStage, session_from_row};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::Actor;
use crate::tokens::{SESSION_PREFIX, token_hash};

impl Identity<'_> {
    pub(super) async fn session_by_hash(self, hash: &[u8]) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {STAFF_COLUMNS}, s.stage, s.created_unix_secs AS s_created, \
             s.last_seen_unix_secs AS s_last_seen, s.expires_unix_secs AS s_expires, s.source_ip \
             FROM sessions s JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.to_vec())
            .fetch_optional(self.vault.store.pool())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The session for a token, or `None` when unknown, ended, idle too long (default 30 min),
    /// past its absolute end (default 12 h) or of a disabled account. Expired sessions are
    /// deleted; `last_seen` is written at most once a minute, so most calls are one read.
    ///
    /// # Errors
    /// Database errors.
    pub async fn session(self, token: &str) -> Result<Option<Session>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some(mut session) = self.session_by_hash(&hash).await? else {
            return Ok(None);
        };
        let now = self.vault.now().0;
        let idle = now.saturating_sub(session.last_seen_unix_secs);
        if session.staff.disabled
            || now >= session.expires_unix_secs
            || idle >= self.vault.staff_settings.idle_timeout_secs
        {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(hash)
                .execute(self.vault.store.pool())
                .await?;
            return Ok(None);
        }
        if idle >= 60 {
            sqlx::query("UPDATE sessions SET last_seen_unix_secs = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash)
                .execute(self.vault.store.pool())
                .await?;
            session.last_seen_unix_secs = now;
        }
        Ok(Some(session))
    }

    /// A live session at one of `stages`, with its token hash.
    pub(super) async fn session_at(
        self,
        token: &str,
        stages: &[SessionStage],
    ) -> Result<(Vec<u8>, Session)> {
        let session = self
            .session(token)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        if !stages.contains(&session.stage) {
            return Err(VaultError::Staff(StaffError::WrongStage {
                stage: session.stage.as_str(),
            }));
        }
        Ok((token_hash(token), session))
    }

    /// Deletes sessions past their absolute end or idle too long, used or expired setup tokens,
    /// and sign-in throttle rows that no longer change any answer (housekeeping for a timer;
    /// `session()` already refuses old sessions). Returns how many sessions went.
    ///
    /// # Errors
    /// Database errors.
    pub async fn sweep_sessions(self) -> Result<u64> {
        let now = self.vault.now().0;
        let idle_cutoff = now.saturating_sub(self.vault.staff_settings.idle_timeout_secs);
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_unix_secs <= $1 OR last_seen_unix_secs <= $2",
        )
        .bind(now)
        .bind(idle_cutoff)
        .execute(self.vault.store.pool())
        .await?;
        sqlx::query(
            "DELETE FROM setup_tokens WHERE used_unix_secs IS NOT NULL OR expires_unix_secs <= $1",
        )
        .bind(now)
        .execute(self.vault.store.pool())
        .await?;
        self.prune_login_throttle().await?;
        Ok(done.rows_affected())
    }

    /// Ends a session (unknown tokens are ignored).
    ///
    /// # Errors
    /// Database errors.
    pub async fn logout(self, token: &str) -> Result<()> {
        let hash = token_hash(token);
        let Some(session) = self.session_by_hash(&hash).await? else {
            return Ok(());
        };
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let gone = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(hash.clone())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if gone > 0 {
                    let actor = Actor::new(session.staff.username.clone());
                    self.staff_event(
                        conn,
                        &actor,
                        "logout",
                        json!({ "staff": session.staff.username }),
                    )
                    .await?;
                }
                Ok(())
            })
            .await
    }
}

/// Replaces the session `old` by a `full` one under `new` (same account, sign-in time,
/// absolute end and address). The delete must hit the row: a session ended meanwhile (sign-out,
/// reset, disable on another instance) is not revived.
/// Stores a new session (its token's hash) for `staff_id` at `stage`, seen now, ending at
/// `expires`: the one place sign-ins (password or identity provider) open a session.
pub(super) async fn insert_session(
    conn: &mut sqlx::AnyConnection,
    hash: &[u8],
    staff_id: &str,
    stage: SessionStage,
    now: i64,
    expires: i64,
    source_ip: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, staff_id, stage, created_unix_secs, \
         last_seen_unix_secs, expires_unix_secs, source_ip) VALUES ($1, $2, $3, $4, $4, $5, $6)",
    )
    .bind(hash.to_vec())
    .bind(staff_id)
    .bind(stage.as_str())
    .bind(now)
    .bind(expires)
    .bind(source_ip.map(str::to_owned))
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn rotate_session(
    conn: &mut AnyConnection,
    old: &[u8],
    new: &[u8],
    session: &Session,
    now: i64,
) -> Result<()> {
    let gone = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(old.to_vec())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if gone != 1 {
        return Err(VaultError::Staff(StaffError::SessionInvalid));
    }
    sqlx::query(
        "INSERT INTO sessions (token_hash, staff_id, stage, created_unix_secs, \
         last_seen_unix_secs, expires_unix_secs, source_ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.to_vec())
    .bind(&session.staff.id)
    .bind(SessionStage::Full.as_str())
    .bind(session.created_unix_secs)
    .bind(now)
    .bind(session.expires_unix_secs)
    .bind(session.source_ip.clone())
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the account's sessions, except `keep`; returns how many ended.
pub(super) async fn end_sessions(
    conn: &mut AnyConnection,
    staff_id: &str,
    keep: Option<&[u8]>,
) -> Result<u64> {
    let done = match keep {
        Some(hash) => {
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1 AND token_hash <> $2")
                .bind(staff_id)
                .bind(hash.to_vec())
                .execute(conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
                .bind(staff_id)
                .execute(conn)
                .await?
        }
    };
    Ok(done.rows_affected())
}

pub(super) async fn set_stage(
    conn: &mut AnyConnection,
    hash: &[u8],
    stage: SessionStage,
) -> Result<()> {
    sqlx::query("UPDATE sessions SET stage = $1 WHERE token_hash = $2")
        .bind(stage.as_str())
        .bind(hash.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}
