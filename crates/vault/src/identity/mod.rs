//! Staff accounts: the first-admin setup link, administration (add, disable, enable, role, reset),
//! password sign-in with lockout and back-off, sessions with idle and absolute timeouts, password
//! change, and each staff member's own TOTP second factor (sealed under a key derived from the
//! vault secret, replay-protected). Every change writes its audit event in the same transaction;
//! no password, token or TOTP seed ever reaches the audit trail, an error or `Debug`.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokendesk_crypto::{Passphrase, hash_password};

use crate::error::{Result, VaultError};
use crate::error::{StaffError, StoreError};
use crate::policy::Actor;
use crate::policy::{Principal, Role};
use crate::tokens::{SecretString, one_time_password};
use crate::vault::Vault;

mod accounts;
mod apikeys;
mod desk;
mod oidc;
mod prefs;
mod sessions;
mod setup;
mod signin;
mod throttle;
mod totp;

pub(crate) use apikeys::API_KEY_ACTOR_PREFIX;
pub use apikeys::ApiKey;
pub(crate) use desk::person_at_desk;
pub use desk::{
    DESK_POLL_INTERVAL_SECS, DESK_REQUEST_TTL_SECS, DESK_TOKEN_PREFIX, DeskCaller, DeskPending,
    DeskPoll, DeskRequest, DeskSession, MAX_DESK_SESSION_SECS, check_desk_name, desk_actor,
    normalise_user_code,
};
pub use oidc::{OIDC_FLOW_TTL_SECS, ProviderIdentity};
pub use throttle::FAILURE_WINDOW_SECS;

/// How far a session has got through sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Signed in with a one-time password: must choose a new password first.
    PasswordChange,
    /// No second factor yet: must enrol TOTP.
    TotpEnrol,
    /// Password accepted: must enter a TOTP code.
    Totp,
    /// Fully signed in.
    Full,
}

impl SessionStage {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionStage::PasswordChange => "password-change",
            SessionStage::TotpEnrol => "totp-enrol",
            SessionStage::Totp => "totp",
            SessionStage::Full => "full",
        }
    }
}

impl fmt::Display for SessionStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionStage {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "password-change" => Ok(SessionStage::PasswordChange),
            "totp-enrol" => Ok(SessionStage::TotpEnrol),
            "totp" => Ok(SessionStage::Totp),
            "full" => Ok(SessionStage::Full),
            other => Err(VaultError::Store(StoreError::Corrupt(format!(
                "unknown session stage {other:?}"
            )))),
        }
    }
}

/// A staff account as shown to admins. Holds no password hash and no TOTP seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// Account id.
    pub id: String,
    /// Login name (lowercase).
    pub username: String,
    /// Name shown in pages.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Signed in with a one-time password that must be replaced.
    pub must_change_password: bool,
    /// Has a confirmed TOTP second factor.
    pub totp_enrolled: bool,
    /// Cannot sign in.
    pub disabled: bool,
    /// Consecutive failed sign-ins (password or TOTP).
    pub failed_logins: i64,
    /// Locked until this time, if locked.
    pub locked_until_unix_secs: Option<i64>,
    /// Who created the account (`setup` for the first admin).
    pub created_by: String,
    /// Created.
    pub created_unix_secs: i64,
    /// Last change.
    pub updated_unix_secs: i64,
    /// Last successful sign-in.
    pub last_login_unix_secs: Option<i64>,
    /// The time zone this person chose for the pages (IANA name); `None`: the browser's.
    pub time_zone: Option<String>,
    /// The language this person chose for the pages (`en`, `de`, `fr`); `None`: the browser's.
    pub language: Option<String>,
}

impl Staff {
    /// The principal this account acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            actor: Actor::new(self.username.clone()),
            role: self.role,
        }
    }
}

/// A live session (the token itself is never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose session.
    pub staff: Staff,
    /// Sign-in stage.
    pub stage: SessionStage,
    /// Signed in at.
    pub created_unix_secs: i64,
    /// Last request (updated at most once a minute).
    pub last_seen_unix_secs: i64,
    /// Absolute end.
    pub expires_unix_secs: i64,
    /// Address the sign-in came from.
    pub source_ip: Option<String>,
}

impl Session {
    /// The principal, only once sign-in is complete (stage `full`).
    pub fn principal(&self) -> Option<Principal> {
        (self.stage == SessionStage::Full).then(|| self.staff.principal())
    }
}

const STAFF_COLUMNS: &str = "st.id, st.username, st.display_name, st.role, \
    st.must_change_password, st.totp_enrolled, st.disabled, st.failed_logins, \
    st.locked_until_unix_secs, st.created_by, st.created_unix_secs, st.updated_unix_secs, \
    st.last_login_unix_secs, st.time_zone, st.language";

pub(super) fn staff_from_row(row: &AnyRow) -> Result<Staff> {
    let role: String = row.try_get("role")?;
    Ok(Staff {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: role.parse().map_err(|_| {
            VaultError::Store(StoreError::Corrupt(format!("unknown role {role:?}")))
        })?,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        totp_enrolled: row.try_get::<i64, _>("totp_enrolled")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        failed_logins: row.try_get("failed_logins")?,
        locked_until_unix_secs: row.try_get("locked_until_unix_secs")?,
        created_by: row.try_get("created_by")?,
        created_unix_secs: row.try_get("created_unix_secs")?,
        updated_unix_secs: row.try_get("updated_unix_secs")?,
        last_login_unix_secs: row.try_get("last_login_unix_secs")?,
        time_zone: row.try_get("time_zone")?,
        language: row.try_get("language")?,
    })
}

pub(super) fn session_from_row(row: &AnyRow) -> Result<Session> {
    let stage: String = row.try_get("stage")?;
    Ok(Session {
        staff: staff_from_row(row)?,
        stage: stage.parse()?,
        created_unix_secs: row.try_get("s_created")?,
        last_seen_unix_secs: row.try_get("s_last_seen")?,
        expires_unix_secs: row.try_get("s_expires")?,
        source_ip: row.try_get("source_ip")?,
    })
}

/// Lowercases and checks a login name: 1–64 of `a-z 0-9 . _ @ -`.
pub fn normalise_username(name: &str) -> Result<String> {
    let name = name.trim().to_lowercase();
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(VaultError::Invalid(crate::Invalid::UserName));
    }
    Ok(name)
}

pub(super) fn check_display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(VaultError::Invalid(crate::Invalid::DisplayName));
    }
    Ok(name.to_owned())
}

/// Minimum password length in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub(super) fn check_new_password(username: &str, password: &Passphrase) -> Result<()> {
    let text = std::str::from_utf8(password.expose_bytes())
        .map_err(|_| VaultError::Invalid(crate::Invalid::PasswordUtf8))?;
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::Invalid(crate::Invalid::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        }));
    }
    if text.len() > 1024 {
        return Err(VaultError::Invalid(crate::Invalid::PasswordTooLong));
    }
    if text.trim().eq_ignore_ascii_case(username) {
        return Err(VaultError::Invalid(crate::Invalid::PasswordIsUserName));
    }
    Ok(())
}

pub(super) fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Staff identity, reached as [`Vault::staff`]: setup, accounts, sign-in and lockout, sessions,
/// second factor and API keys. Borrowing the vault, it shares its store, keys, clock and audit
/// trail.
#[derive(Clone, Copy)]
pub struct Identity<'v> {
    vault: &'v Vault,
}

impl Vault {
    /// Staff identity operations.
    pub fn staff(&self) -> Identity<'_> {
        Identity { vault: self }
    }
}

/// What sign-in needs from a staff row.
pub(super) struct AuthRow {
    staff: Staff,
    password_hash: String,
}

impl Identity<'_> {
    /// An Argon2id hash (PHC string) of a new password, at the configured costs.
    pub(super) fn hash(self, password: &[u8]) -> Result<String> {
        Ok(hash_password(
            self.vault.staff_settings.password_params,
            password,
        )?)
    }

    /// A new one-time password and its hash.
    pub(super) fn one_time_password(self) -> Result<(SecretString, String)> {
        let password = one_time_password()?;
        let phc = self.hash(password.expose().as_bytes())?;
        Ok((password, phc))
    }

    pub(super) async fn auth_row(self, username: &str) -> Result<Option<AuthRow>> {
        let sql = format!(
            "SELECT {STAFF_COLUMNS}, st.password_hash FROM staff st WHERE st.username = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(self.vault.store.pool())
            .await?;
        row.map(|r| {
            Ok(AuthRow {
                staff: staff_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    pub(super) async fn staff_in(conn: &mut AnyConnection, username: &str) -> Result<Staff> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff st WHERE st.username = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(conn)
            .await?;
        row.as_ref()
            .map(staff_from_row)
            .transpose()?
            .ok_or_else(|| {
                VaultError::Staff(StaffError::StaffNotFound {
                    username: username.to_owned(),
                })
            })
    }

    pub(super) async fn staff_event(
        self,
        conn: &mut AnyConnection,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.vault
            .audit(conn, actor, action, None, detail)
            .await
            .map(|_| ())
    }
}

/// How many staff accounts exist.
pub(super) async fn staff_count_in(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM staff")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(normalise_username("  Alice.Smith ").unwrap(), "alice.smith");
        for bad in ["", "a b", "ünï", "x;drop", &"a".repeat(65)] {
            assert!(normalise_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rules() {
        let p = |s: &str| Passphrase::new(zeroize::Zeroizing::new(s.to_owned()));
        assert!(check_new_password("alice", &p("short")).is_err());
        assert!(check_new_password("alicealice12", &p("AliceAlice12")).is_err());
        assert!(check_new_password("alice", &p("a long enough one")).is_ok());
        let err = check_new_password("alice", &p("elevenchars"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("12 characters"), "{err}");
        assert!(!err.contains("elevenchars"));
    }
}
