//! Desk sign-in (device authorization, RFC 8628 in spirit): a desk asks with `desk_start` and
//! gets a device code (kept by the desk, stored here as SHA-256) and a short user code; a
//! fully signed-in staff member confirms the user code in the browser; the desk's next poll
//! collects a desk token (`tdd_…`, stored as SHA-256) bound to that staff member. Desk tokens
//! act with the member's current role, end after `desk_session_secs` (at most a day), and are
//! revoked by their holder, the member or an admin. Every step is audited as the member, with
//! the desk's name in the actor (`alice@desk:FRONT-1`).

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Identity, STAFF_COLUMNS, Staff, staff_from_row};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::{Actor, Principal};
use crate::records::new_record_id;
use crate::tokens::{SecretString, new_token, random_pick, token_hash};

/// Prefix of desk tokens.
pub const DESK_TOKEN_PREFIX: &str = "tdd_";
/// Prefix of device codes (held by a desk waiting for approval).
pub const DEVICE_CODE_PREFIX: &str = "tddc_";
/// How long a desk's request waits for approval.
pub const DESK_REQUEST_TTL_SECS: i64 = 10 * 60;
/// How often a desk may poll at first; each too-early poll adds 5 s.
pub const DESK_POLL_INTERVAL_SECS: i64 = 5;
/// Longest desk session, whatever the settings say.
pub const MAX_DESK_SESSION_SECS: i64 = 24 * 3600;
/// Marks a desk in an actor name: `alice@desk:FRONT-1` (desk names hold no `@` or `:`).
pub(crate) const DESK_ACTOR_MARK: &str = "@desk:";
/// Letters of user codes: consonants without look-alikes (no vowels, so no words).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// What a desk gets when it asks to sign in.
#[derive(Debug)]
pub struct DeskRequest {
    /// The desk's secret for polling (never shown to the person).
    pub device_code: SecretString,
    /// The code the person confirms in the browser, `ABCD-EFGH`.
    pub user_code: String,
    /// Seconds until the request expires.
    pub expires_in_secs: i64,
    /// Seconds between polls.
    pub interval_secs: i64,
}

/// A desk waiting for approval, as the approval page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskPending {
    /// The user code.
    pub user_code: String,
    /// The desk's name.
    pub desk_name: String,
    /// The desk's host name, if it gave one.
    pub desk_host: Option<String>,
    /// Asked at.
    pub created_unix_secs: i64,
}

/// The answer to a desk's poll.
#[derive(Debug)]
pub enum DeskPoll {
    /// Not answered yet.
    Pending,
    /// Polled too early: wait this many seconds between polls from now on.
    SlowDown {
        /// The new interval.
        interval_secs: i64,
    },
    /// The request expired (or was never made, or was collected already).
    Expired,
    /// The person denied it.
    Denied,
    /// Approved: the desk token, once.
    Approved {
        /// The bearer token.
        token: SecretString,
        /// Whose.
        username: String,
        /// When it ends.
        expires_unix_secs: i64,
    },
}

/// A desk session as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskSession {
    /// Session id.
    pub id: String,
    /// Whose.
    pub username: String,
    /// Desk name.
    pub desk_name: String,
    /// Desk host, if given.
    pub desk_host: Option<String>,
    /// Signed in at.
    pub created_unix_secs: i64,
    /// Ends at.
    pub expires_unix_secs: i64,
    /// Last request (to the minute).
    pub last_used_unix_secs: Option<i64>,
}

/// A request made with a live desk token.
#[derive(Debug, Clone)]
pub struct DeskCaller {
    /// The staff member, as they are now (current role).
    pub staff: Staff,
    /// The session.
    pub session: DeskSession,
}

impl DeskCaller {
    /// The principal: the member's current role; the actor names the desk.
    pub fn principal(&self) -> Principal {
        Principal {
            actor: desk_actor(&self.staff.username, &self.session.desk_name),
            role: self.staff.role,
        }
    }
}

/// `alice@desk:FRONT-1`.
pub fn desk_actor(username: &str, desk: &str) -> Actor {
    Actor::new(format!("{username}{DESK_ACTOR_MARK}{desk}"))
}

/// Checks a desk or host name: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_desk_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
        return Err(VaultError::Invalid(crate::Invalid::DeskName));
    }
    Ok(name.to_owned())
}

/// The canonical form of a typed user code (`abcd efgh` → `ABCD-EFGH`), or `None`.
pub fn normalise_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() != 8 || !letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", letters.get(..4)?, letters.get(4..)?))
}

fn new_user_code() -> Result<String> {
    let mut letters = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            letters.push('-');
        }
        letters.push(char::from(random_pick(USER_CODE_ALPHABET)?));
    }
    Ok(letters)
}

const DESK_SESSION_COLUMNS: &str = "d.id, st.username, d.desk_name, d.desk_host, \
    d.created_unix_secs AS d_created, d.expires_unix_secs AS d_expires, \
    d.last_used_unix_secs AS d_last_used";

fn desk_session_from_row(row: &AnyRow) -> Result<DeskSession> {
    Ok(DeskSession {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        desk_name: row.try_get("desk_name")?,
        desk_host: row.try_get("desk_host")?,
        created_unix_secs: row.try_get("d_created")?,
        expires_unix_secs: row.try_get("d_expires")?,
        last_used_unix_secs: row.try_get("d_last_used")?,
    })
}

impl Identity<'_> {
    /// A desk asks to sign in (no authentication: the web layer rate-limits it).
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for a bad desk or host name; database errors.
    pub async fn desk_start(self, desk_name: &str, desk_host: Option<&str>) -> Result<DeskRequest> {
        let desk_name = check_desk_name(desk_name)?;
        let desk_host = desk_host.map(check_desk_name).transpose()?;
        let (device_code, hash) = new_token(DEVICE_CODE_PREFIX)?;
        let now = self.vault.now().0;
        sqlx::query("DELETE FROM desk_requests WHERE expires_unix_secs <= $1")
            .bind(now)
            .execute(self.vault.store.pool())
            .await?;
        // A clash of user codes (1 in 25 billion per waiting desk) is retried with a new one.
        for _ in 0..3 {
            let user_code = new_user_code()?;
            let done = sqlx::query(
                "INSERT INTO desk_requests (device_hash, user_code, desk_name, desk_host, \
                 created_unix_secs, expires_unix_secs, interval_secs) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(hash.clone())
            .bind(&user_code)
            .bind(&desk_name)
            .bind(desk_host.clone())
            .bind(now)
            .bind(now + DESK_REQUEST_TTL_SECS)
            .bind(DESK_POLL_INTERVAL_SECS)
            .execute(self.vault.store.pool())
            .await;
            match done {
                Ok(_) => {
                    return Ok(DeskRequest {
                        device_code,
                        user_code,
                        expires_in_secs: DESK_REQUEST_TTL_SECS,
                        interval_secs: DESK_POLL_INTERVAL_SECS,
                    });
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Invalid(crate::Invalid::NoFreeDeskCode))
    }

    /// The desk waiting for `user_code`, if it has not expired or been answered.
    ///
    /// # Errors
    /// Database errors.
    pub async fn desk_pending(self, user_code: &str) -> Result<Option<DeskPending>> {
        let Some(code) = normalise_user_code(user_code) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT user_code, desk_name, desk_host, created_unix_secs FROM desk_requests \
             WHERE user_code = $1 AND expires_unix_secs > $2 AND approved_by IS NULL \
             AND denied_unix_secs IS NULL",
        )
        .bind(&code)
        .bind(self.vault.now().0)
        .fetch_optional(self.vault.store.pool())
        .await?;
        row.map(|r| {
            Ok(DeskPending {
                user_code: r.try_get("user_code")?,
                desk_name: r.try_get("desk_name")?,
                desk_host: r.try_get("desk_host")?,
                created_unix_secs: r.try_get("created_unix_secs")?,
            })
        })
        .transpose()
    }

    /// `staff` (fully signed in, checked by the caller) approves or denies the desk waiting
    /// for `user_code`. Audited as `desk.approve` or `desk.deny`.
    ///
    /// # Errors
    /// [`StaffError::DeskCodeUnknown`]; database errors.
    pub async fn desk_answer(self, staff: &Staff, user_code: &str, approve: bool) -> Result<()> {
        let code =
            normalise_user_code(user_code).ok_or(VaultError::Staff(StaffError::DeskCodeUnknown))?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let sql = if approve {
                    "UPDATE desk_requests SET approved_by = $1 WHERE user_code = $2 \
                     AND expires_unix_secs > $3 AND approved_by IS NULL AND denied_unix_secs IS NULL \
                     RETURNING desk_name"
                } else {
                    "UPDATE desk_requests SET denied_unix_secs = $3 WHERE user_code = $2 \
                     AND $1 <> '' AND expires_unix_secs > $3 AND approved_by IS NULL \
                     AND denied_unix_secs IS NULL RETURNING desk_name"
                };
                let row = sqlx::query(sql)
                    .bind(&staff.id)
                    .bind(&code)
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or(VaultError::Staff(StaffError::DeskCodeUnknown))?;
                let desk: String = row.try_get("desk_name")?;
                let action = if approve { "desk.approve" } else { "desk.deny" };
                let actor = Actor::new(staff.username.clone());
                self.staff_event(conn, &actor, action, json!({ "desk": desk }))
                    .await
            })
            .await
    }

    /// A desk polls with its device code. An approved request is collected once: the row
    /// goes and a desk token is issued (audited as `desk.signin`).
    ///
    /// # Errors
    /// Database errors.
    pub async fn desk_poll(self, device_code: &str) -> Result<DeskPoll> {
        if !device_code.starts_with(DEVICE_CODE_PREFIX) || device_code.len() > 128 {
            return Ok(DeskPoll::Expired);
        }
        let hash = token_hash(device_code);
        let now = self.vault.now().0;
        let lifetime = self
            .vault
            .staff_settings
            .desk_session_secs
            .clamp(60, MAX_DESK_SESSION_SECS);
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let Some(row) = sqlx::query(
                    "SELECT desk_name, desk_host, expires_unix_secs, interval_secs, \
                     last_poll_unix_secs, approved_by, denied_unix_secs FROM desk_requests \
                     WHERE device_hash = $1",
                )
                .bind(hash.clone())
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Ok(DeskPoll::Expired);
                };
                let expires: i64 = row.try_get("expires_unix_secs")?;
                let denied: Option<i64> = row.try_get("denied_unix_secs")?;
                if now >= expires || denied.is_some() {
                    drop_request(conn, &hash).await?;
                    return Ok(if denied.is_some() {
                        DeskPoll::Denied
                    } else {
                        DeskPoll::Expired
                    });
                }
                let interval: i64 = row.try_get("interval_secs")?;
                let last: Option<i64> = row.try_get("last_poll_unix_secs")?;
                if last.is_some_and(|t| now.saturating_sub(t) < interval) {
                    let interval = interval + 5;
                    sqlx::query(
                        "UPDATE desk_requests SET interval_secs = $1, last_poll_unix_secs = $2 \
                         WHERE device_hash = $3",
                    )
                    .bind(interval)
                    .bind(now)
                    .bind(hash.clone())
                    .execute(&mut *conn)
                    .await?;
                    return Ok(DeskPoll::SlowDown {
                        interval_secs: interval,
                    });
                }
                let Some(staff_id) = row.try_get::<Option<String>, _>("approved_by")? else {
                    sqlx::query(
                        "UPDATE desk_requests SET last_poll_unix_secs = $1 WHERE device_hash = $2",
                    )
                    .bind(now)
                    .bind(hash.clone())
                    .execute(&mut *conn)
                    .await?;
                    return Ok(DeskPoll::Pending);
                };
                let desk_name: String = row.try_get("desk_name")?;
                let desk_host: Option<String> = row.try_get("desk_host")?;
                if drop_request(conn, &hash).await? != 1 {
                    return Ok(DeskPoll::Expired);
                }
                let staff = staff_by_id(conn, &staff_id).await?;
                if staff.disabled {
                    return Ok(DeskPoll::Denied);
                }
                let (token, token_hash) = new_token(DESK_TOKEN_PREFIX)?;
                let expires = now + lifetime;
                sqlx::query(
                    "INSERT INTO desk_tokens (id, token_hash, staff_id, desk_name, desk_host, \
                     created_unix_secs, expires_unix_secs) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(new_record_id()?)
                .bind(token_hash)
                .bind(&staff.id)
                .bind(&desk_name)
                .bind(desk_host.clone())
                .bind(now)
                .bind(expires)
                .execute(&mut *conn)
                .await?;
                let actor = desk_actor(&staff.username, &desk_name);
                let detail = json!({ "desk": desk_name, "host": desk_host, "expires": expires });
                self.staff_event(conn, &actor, "desk.signin", detail)
                    .await?;
                Ok(DeskPoll::Approved {
                    token,
                    username: staff.username,
                    expires_unix_secs: expires,
                })
            })
            .await
    }

    /// The caller behind a live desk token, or `None` (unknown, malformed, revoked, expired,
    /// or its staff member disabled). `last_used` is written at most once a minute.
    ///
    /// # Errors
    /// Database errors.
    pub async fn desk_token(self, token: &str) -> Result<Option<DeskCaller>> {
        if !token.starts_with(DESK_TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let now = self.vault.now().0;
        let sql = format!(
            "SELECT {STAFF_COLUMNS}, {DESK_SESSION_COLUMNS} FROM desk_tokens d \
             JOIN staff st ON st.id = d.staff_id WHERE d.token_hash = $1 \
             AND d.revoked_unix_secs IS NULL AND d.expires_unix_secs > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.clone())
            .bind(now)
            .fetch_optional(self.vault.store.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let staff = staff_from_row(&row)?;
        let mut session = desk_session_from_row(&row)?;
        if staff.disabled {
            return Ok(None);
        }
        if session
            .last_used_unix_secs
            .is_none_or(|t| now.saturating_sub(t) >= 60)
        {
            sqlx::query("UPDATE desk_tokens SET last_used_unix_secs = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash)
                .execute(self.vault.store.pool())
                .await?;
            session.last_used_unix_secs = Some(now);
        }
        Ok(Some(DeskCaller { staff, session }))
    }

    /// Live desk sessions (not revoked, not expired), of one member or of everyone, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn desk_sessions(self, username: Option<&str>) -> Result<Vec<DeskSession>> {
        let sql = format!(
            "SELECT {DESK_SESSION_COLUMNS} FROM desk_tokens d JOIN staff st ON st.id = d.staff_id \
             WHERE d.revoked_unix_secs IS NULL AND d.expires_unix_secs > $1 \
             AND ($2 = '' OR st.username = $2) ORDER BY d.created_unix_secs DESC, d.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.vault.now().0)
            .bind(username.unwrap_or_default())
            .fetch_all(self.vault.store.pool())
            .await?;
        rows.iter().map(desk_session_from_row).collect()
    }

    /// Revokes desk session `id`: the caller's own, or anyone's for a role that manages staff.
    /// Audited as `desk.revoke` by `by`.
    ///
    /// # Errors
    /// [`StaffError::DeskSessionNotFound`] (also for someone else's without the right);
    /// database errors.
    pub async fn desk_revoke(self, by: &Principal, by_username: &str, id: &str) -> Result<()> {
        let any = crate::policy::allows(by.role, crate::policy::Permission::ManageStaff);
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let row = sqlx::query(
                    "UPDATE desk_tokens SET revoked_unix_secs = $1 WHERE id = $2 \
                     AND revoked_unix_secs IS NULL AND expires_unix_secs > $1 \
                     AND ($3 = 1 OR staff_id = (SELECT id FROM staff WHERE username = $4)) \
                     RETURNING desk_name, staff_id",
                )
                .bind(now)
                .bind(id)
                .bind(i64::from(any))
                .bind(by_username)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| {
                    VaultError::Staff(StaffError::DeskSessionNotFound { id: id.to_owned() })
                })?;
                let desk: String = row.try_get("desk_name")?;
                let owner = staff_by_id(conn, &row.try_get::<String, _>("staff_id")?).await?;
                let detail = json!({ "desk": desk, "staff": owner.username, "session": id });
                self.staff_event(conn, &by.actor, "desk.revoke", detail)
                    .await
            })
            .await
    }

    /// Ends the desk session of `token` (its holder signing out); unknown tokens are ignored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn desk_logout(self, token: &str) -> Result<()> {
        let Some(caller) = self.desk_token(token).await? else {
            return Ok(());
        };
        let principal = caller.principal();
        self.desk_revoke(&principal, &caller.staff.username, &caller.session.id)
            .await
    }
}

async fn drop_request(conn: &mut AnyConnection, hash: &[u8]) -> Result<u64> {
    let done = sqlx::query("DELETE FROM desk_requests WHERE device_hash = $1")
        .bind(hash.to_vec())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

async fn staff_by_id(conn: &mut AnyConnection, id: &str) -> Result<Staff> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff st WHERE st.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref()
        .map(staff_from_row)
        .transpose()?
        .ok_or_else(|| {
            VaultError::Staff(StaffError::StaffNotFound {
                username: id.to_owned(),
            })
        })
}

/// The person behind a desk actor name (`alice@desk:FRONT-1` → `alice`).
pub(crate) fn person_at_desk(actor_name: &str) -> Option<&str> {
    actor_name
        .rsplit_once(DESK_ACTOR_MARK)
        .map(|(person, _)| person)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_normalised() {
        for _ in 0..50 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 9);
            assert_eq!(normalise_user_code(&code).as_deref(), Some(code.as_str()));
            assert!(
                !code.contains(['0', 'O', '1', 'I', 'A', 'E', 'U']),
                "{code}"
            );
        }
        assert_eq!(
            normalise_user_code(" bcdf ghjk ").as_deref(),
            Some("BCDF-GHJK")
        );
        for bad in ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ0", "ß"] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn desk_actors_name_the_person() {
        let a = desk_actor("alice@corp.example", "FRONT-1");
        assert_eq!(a.name, "alice@corp.example@desk:FRONT-1");
        assert_eq!(person_at_desk(&a.name), Some("alice@corp.example"));
        assert_eq!(person_at_desk("alice"), None);
        assert!(check_desk_name("a:b").is_err());
        assert!(check_desk_name("a@b").is_err());
    }
}
