//! Staff accounts: the first-admin setup link, administration (add, disable, enable, role, reset),
//! password sign-in with lockout and back-off, sessions with idle and absolute timeouts, password
//! change, and each staff member's own TOTP second factor (sealed under a key derived from the
//! vault secret, replay-protected). Every change writes its audit event in the same transaction;
//! no password, token or TOTP seed ever reaches the audit trail, an error or `Debug`.

use std::fmt;
use std::str::FromStr;

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokendesk_crypto::{Passphrase, ct_eq, hash_password, verify_password};
use tokendesk_otp::{Secret, Totp, TotpParams};

use crate::error::{Result, VaultError};
use crate::error::{StaffError, StoreError};
use crate::login_throttle::{Counted, Counter, Reservation, release, reserve};
use crate::policy::Actor;
use crate::policy::{Authorized, Permission, Principal, Role};
use crate::records::new_record_id;
use crate::store::on_unique;
use crate::tokens::{
    SESSION_PREFIX, SETUP_PREFIX, SecretString, new_token, one_time_password, token_hash,
};
use crate::vault::Vault;

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
    pub fn as_str(self) -> &'static str {
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
    st.last_login_unix_secs";

fn staff_from_row(row: &AnyRow) -> Result<Staff> {
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
    })
}

fn session_from_row(row: &AnyRow) -> Result<Session> {
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
        return Err(VaultError::Invalid(
            "a user name is 1 to 64 characters of a-z, 0-9, '.', '_', '@' and '-'".into(),
        ));
    }
    Ok(name)
}

fn check_display_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(VaultError::Invalid(
            "a display name is 1 to 200 printable characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Minimum password length in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

fn check_new_password(username: &str, password: &Passphrase) -> Result<()> {
    let text = std::str::from_utf8(password.expose_bytes())
        .map_err(|_| VaultError::Invalid("the password is not valid UTF-8".into()))?;
    if text.chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if text.len() > 1024 {
        return Err(VaultError::Invalid(
            "a password may be at most 1024 bytes".into(),
        ));
    }
    if text.trim().eq_ignore_ascii_case(username) {
        return Err(VaultError::Invalid(
            "the password must not be the user name".into(),
        ));
    }
    Ok(())
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The TOTP parameters of staff second factors (what authenticator apps assume).
fn staff_totp(seed: &[u8]) -> Totp {
    Totp::new(&Secret::from_bytes(seed.to_vec()), TotpParams::default())
}

fn totp_aad(staff_id: &str) -> Vec<u8> {
    format!("tokendesk staff totp|{staff_id}").into_bytes()
}

/// Checks `code` against the steps now−1, now and now+1 newer than `last_step`, looking at all
/// three (no early exit). Returns the matching step.
fn match_totp(totp: &Totp, now: i64, code: &str, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(now).ok()?;
    let mut found = None;
    for offset in -1..=1 {
        if let Ok(c) = totp.at_offset(now, offset) {
            let step = i64::try_from(c.step).ok()?;
            let fresh = last_step.is_none_or(|last| step > last);
            if c.code.ct_eq_str(&code) && fresh && found.is_none() {
                found = Some(step);
            }
        }
    }
    found
}

/// What sign-in needs from a staff row.
struct AuthRow {
    staff: Staff,
    password_hash: String,
}

impl Vault {
    async fn auth_row(&self, username: &str) -> Result<Option<AuthRow>> {
        let sql = format!(
            "SELECT {STAFF_COLUMNS}, st.password_hash FROM staff st WHERE st.username = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(self.store.pool())
            .await?;
        row.map(|r| {
            Ok(AuthRow {
                staff: staff_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn staff_in(conn: &mut AnyConnection, username: &str) -> Result<Staff> {
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

    async fn staff_event(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        self.audit(conn, actor, action, None, detail)
            .await
            .map(|_| ())
    }

    // ----- first-admin setup -------------------------------------------------------------------

    /// Number of staff accounts (0 means the setup link is still needed).
    ///
    /// # Errors
    /// Database errors.
    pub async fn staff_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM staff")
            .fetch_one(self.store.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    /// A one-time setup token for creating the first admin, valid `ttl_secs`. Only while no staff
    /// account exists; earlier unused tokens stop working.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] once staff accounts exist; database errors.
    pub async fn create_setup_token(&self, ttl_secs: i64) -> Result<SecretString> {
        if ttl_secs <= 0 {
            return Err(VaultError::Invalid(
                "the setup link needs a positive lifetime".into(),
            ));
        }
        let now = self.now().0;
        let (token, hash) = new_token(SETUP_PREFIX)?;
        let expires = now.saturating_add(ttl_secs);
        self.store
            .write(async |conn: &mut AnyConnection| {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM staff")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("n")?;
                if n > 0 {
                    return Err(VaultError::Invalid(
                        "staff accounts exist already; an admin adds further accounts".into(),
                    ));
                }
                sqlx::query(
                    "UPDATE setup_tokens SET used_unix_secs = $1 WHERE used_unix_secs IS NULL",
                )
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO setup_tokens (token_hash, created_unix_secs, expires_unix_secs) \
                     VALUES ($1, $2, $3)",
                )
                .bind(hash.clone())
                .bind(now)
                .bind(expires)
                .execute(&mut *conn)
                .await?;
                let detail = json!({ "expires_unix_secs": expires });
                self.staff_event(conn, &Actor::new("system"), "setup.token", detail)
                    .await
            })
            .await?;
        Ok(token)
    }

    /// Creates the first admin with the setup token. The token is compared in constant time
    /// against every unused, unexpired one and is used up.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::SetupTokenInvalid)`] (wrong, expired, used, or staff exist already);
    /// [`VaultError::Invalid`] for a bad user name, display name or password; database errors.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: &str,
        display_name: &str,
        password: &Passphrase,
    ) -> Result<Staff> {
        let username = normalise_username(username)?;
        let display_name = check_display_name(display_name)?;
        check_new_password(&username, password)?;
        let given = token_hash(token);
        let phc = hash_password(self.staff_settings.password_params, password.expose_bytes())?;
        let now = self.now().0;
        let id = new_record_id()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM staff")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("n")?;
                if n > 0 {
                    return Err(VaultError::Staff(StaffError::SetupTokenInvalid));
                }
                let rows = sqlx::query(
                    "SELECT token_hash FROM setup_tokens WHERE used_unix_secs IS NULL \
                     AND expires_unix_secs > $1",
                )
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
                let mut matched: Option<Vec<u8>> = None;
                for row in &rows {
                    let stored: Vec<u8> = row.try_get("token_hash")?;
                    if ct_eq(&stored, &given) {
                        matched = Some(stored);
                    }
                }
                let matched = matched.ok_or(VaultError::Staff(StaffError::SetupTokenInvalid))?;
                let done = sqlx::query(
                    "UPDATE setup_tokens SET used_unix_secs = $1 WHERE token_hash = $2 \
                     AND used_unix_secs IS NULL",
                )
                .bind(now)
                .bind(matched)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    // Used by a concurrent request between the read and this update.
                    return Err(VaultError::Staff(StaffError::SetupTokenInvalid));
                }
                insert_staff(
                    conn,
                    &id,
                    &username,
                    &display_name,
                    Role::Admin,
                    &phc,
                    false,
                    "setup",
                    now,
                )
                .await?;
                let detail = json!({ "staff": username, "role": "admin" });
                self.staff_event(
                    conn,
                    &Actor::new(username.clone()),
                    "setup.complete",
                    detail,
                )
                .await
            })
            .await?;
        self.staff_get(&username).await
    }

    // ----- administration ----------------------------------------------------------------------

    /// Adds an account with a one-time password (shown once; must be changed at first sign-in).
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `ManageStaff`; [`VaultError::Staff(StaffError::StaffExists)`];
    /// [`VaultError::Invalid`] for bad names; database errors.
    pub async fn staff_add(
        &self,
        auth: &Authorized,
        username: &str,
        display_name: &str,
        role: Role,
    ) -> Result<(Staff, SecretString)> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let display_name = check_display_name(display_name)?;
        let password = one_time_password()?;
        let phc = hash_password(
            self.staff_settings.password_params,
            password.expose().as_bytes(),
        )?;
        let now = self.now().0;
        let id = new_record_id()?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                insert_staff(
                    conn,
                    &id,
                    &username,
                    &display_name,
                    role,
                    &phc,
                    true,
                    &actor.name,
                    now,
                )
                .await?;
                let detail = json!({ "staff": username, "role": role.as_str() });
                self.staff_event(conn, actor, "staff.add", detail).await
            })
            .await?;
        Ok((self.staff_get(&username).await?, password))
    }

    /// Every account, by user name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn staff_list(&self) -> Result<Vec<Staff>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff st ORDER BY st.username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// One account.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::StaffNotFound)`]; database errors.
    pub async fn staff_get(&self, username: &str) -> Result<Staff> {
        let username = normalise_username(username)?;
        let mut conn = self.store.pool().acquire().await?;
        Self::staff_in(&mut conn, &username).await
    }

    /// Disables an account and ends its sessions. The last enabled admin cannot be disabled.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`VaultError::Staff(StaffError::StaffNotFound)`]; [`VaultError::Staff(StaffError::LastAdmin)`];
    /// database errors.
    pub async fn staff_disable(&self, auth: &Authorized, username: &str) -> Result<Staff> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let staff = lock_for_admin_change(conn, &username).await?;
                if staff.role == Role::Admin && !staff.disabled {
                    ensure_other_admin(conn, &staff).await?;
                }
                sqlx::query("UPDATE staff SET disabled = 1, updated_unix_secs = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                end_sessions(conn, &staff.id, None).await?;
                self.staff_event(conn, actor, "staff.disable", json!({ "staff": username }))
                    .await
            })
            .await?;
        self.staff_get(&username).await
    }

    /// Enables an account again (and clears its lockout).
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`VaultError::Staff(StaffError::StaffNotFound)`]; database errors.
    pub async fn staff_enable(&self, auth: &Authorized, username: &str) -> Result<Staff> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let staff = Self::staff_in(conn, &username).await?;
                sqlx::query(
                    "UPDATE staff SET disabled = 0, failed_logins = 0, \
                     locked_until_unix_secs = NULL, updated_unix_secs = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                self.staff_event(conn, actor, "staff.enable", json!({ "staff": username }))
                    .await
            })
            .await?;
        self.staff_get(&username).await
    }

    /// Changes an account's role. The last enabled admin cannot be demoted.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`VaultError::Staff(StaffError::StaffNotFound)`]; [`VaultError::Staff(StaffError::LastAdmin)`];
    /// database errors.
    pub async fn staff_set_role(
        &self,
        auth: &Authorized,
        username: &str,
        role: Role,
    ) -> Result<Staff> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let staff = lock_for_admin_change(conn, &username).await?;
                if staff.role == Role::Admin && role != Role::Admin && !staff.disabled {
                    ensure_other_admin(conn, &staff).await?;
                }
                sqlx::query("UPDATE staff SET role = $1, updated_unix_secs = $2 WHERE id = $3")
                    .bind(role.as_str())
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                let detail =
                    json!({ "staff": username, "from": staff.role.as_str(), "to": role.as_str() });
                self.staff_event(conn, actor, "staff.role", detail).await
            })
            .await?;
        self.staff_get(&username).await
    }

    /// Issues a new one-time password, clears the TOTP enrolment and the lockout, and ends the
    /// account's sessions.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`VaultError::Staff(StaffError::StaffNotFound)`]; database errors.
    pub async fn staff_reset(&self, auth: &Authorized, username: &str) -> Result<SecretString> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let password = one_time_password()?;
        let phc = hash_password(
            self.staff_settings.password_params,
            password.expose().as_bytes(),
        )?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let staff = Self::staff_in(conn, &username).await?;
                sqlx::query(
                    "UPDATE staff SET password_hash = $1, must_change_password = 1, \
                     totp_sealed = NULL, totp_enrolled = 0, totp_last_step = NULL, \
                     failed_logins = 0, locked_until_unix_secs = NULL, updated_unix_secs = $2 \
                     WHERE id = $3",
                )
                .bind(&phc)
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                let ended = end_sessions(conn, &staff.id, None).await?;
                let detail = json!({ "staff": username, "sessions_ended": ended });
                self.staff_event(conn, actor, "staff.reset", detail).await
            })
            .await?;
        Ok(password)
    }

    // ----- sign-in ------------------------------------------------------------------------------

    /// Reserves a sign-in attempt on an account before its password or code is checked
    /// (`login_throttle::reserve`): counted as a failure in advance, so parallel attempts cannot
    /// outrun the lockout. While the account is locked it is refused with `LockedOut`; only the
    /// lock's first refusal is audited (`locked-out`), the others are counted and reported in
    /// the next audited attempt.
    async fn reserve_attempt(&self, staff: &Staff) -> Result<Counted> {
        let s = self.staff_settings;
        let now = self.now().0;
        let reservation = self
            .store
            .write(async |conn: &mut AnyConnection| {
                let reservation = reserve(conn, &Counter::Account(&staff.id), &s, now).await?;
                if let Reservation::Locked {
                    retry_after_secs,
                    first: true,
                } = reservation
                {
                    let detail =
                        json!({ "staff": staff.username, "retry_after_secs": retry_after_secs });
                    self.staff_event(
                        conn,
                        &Actor::new(staff.username.clone()),
                        "locked-out",
                        detail,
                    )
                    .await?;
                }
                Ok(reservation)
            })
            .await?;
        match reservation {
            Reservation::Counted(counted) => Ok(counted),
            Reservation::Locked {
                retry_after_secs, ..
            } => Err(VaultError::Staff(StaffError::LockedOut {
                retry_after_secs,
            })),
        }
    }

    /// Audits a failed attempt that [`Vault::reserve_attempt`] already counted. Returns the
    /// error to give the caller (`plain`, or `LockedOut` when this attempt set the lock).
    async fn record_failure(
        &self,
        staff: &Staff,
        action: &str,
        plain: VaultError,
        counted: Counted,
    ) -> Result<VaultError> {
        self.store
            .write(async |conn: &mut AnyConnection| {
                let detail = json!({
                    "staff": staff.username,
                    "failures": counted.failures,
                    "locked_for_secs": counted.lock,
                    "refused_while_locked": counted.refused,
                    "disabled": staff.disabled,
                });
                self.staff_event(conn, &Actor::new(staff.username.clone()), action, detail)
                    .await
            })
            .await?;
        Ok(match counted.lock {
            Some(secs) => VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: secs,
            }),
            None => plain,
        })
    }

    /// Gives back an attempt whose secret was right while the sign-in is not complete yet.
    async fn release_attempt(&self, staff: &Staff, counted: &Counted) -> Result<()> {
        self.store
            .write(async |conn: &mut AnyConnection| {
                release(conn, &Counter::Account(&staff.id), counted).await
            })
            .await
    }

    /// Checks a password against a stored hash, counted in [`Vault::secret_checks`].
    fn check_password(&self, password: &Passphrase, phc: &str) -> Result<bool> {
        self.count_secret_check();
        Ok(verify_password(password.expose_bytes(), phc)?)
    }

    /// Signs in with a password and returns a new session token (shown once; only its SHA-256
    /// is stored) and the session. Its stage says what comes next: `password-change` after a
    /// one-time password, `totp-enrol` without a second factor, else `totp`.
    ///
    /// Unknown user, disabled account and wrong password are one answer, with one Argon2
    /// evaluation each, and all three count toward a lockout: the 5th consecutive failure
    /// (password or TOTP) locks the name for 30 s, doubling with each further failure up to 1 h;
    /// a count with no failure for a day starts again. Names that are no account are counted in
    /// `login_throttle` (see that module), so the lockout does not reveal which names exist.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::LoginFailed)`]; [`VaultError::Staff(StaffError::LockedOut)`]; database errors.
    pub async fn login(
        &self,
        username: &str,
        password: &Passphrase,
        source_ip: Option<&str>,
    ) -> Result<(SecretString, Session)> {
        let row = match normalise_username(username) {
            Ok(name) => self.auth_row(&name).await?,
            Err(_) => None,
        };
        let Some(acct) = row else {
            return Err(self
                .unknown_name_failure(username, password, source_ip)
                .await?);
        };
        let counted = self.reserve_attempt(&acct.staff).await?;
        let ok = self.check_password(password, &acct.password_hash)?;
        let staff = acct.staff;
        // A disabled account counts failures like any other (even with the right password), so
        // its lockout looks like everyone else's.
        if staff.disabled || !ok {
            return Err(self
                .record_failure(
                    &staff,
                    "login-failed",
                    VaultError::Staff(StaffError::LoginFailed),
                    counted,
                )
                .await?);
        }
        let stage = if staff.must_change_password {
            SessionStage::PasswordChange
        } else if !staff.totp_enrolled {
            SessionStage::TotpEnrol
        } else {
            SessionStage::Totp
        };
        let now = self.now().0;
        let expires = now.saturating_add(self.staff_settings.absolute_timeout_secs);
        let (token, hash) = new_token(SESSION_PREFIX)?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                // With a second factor still to come, the failure count stays until the TOTP
                // code is right (this attempt is given back), so a known password does not buy
                // fresh guesses at the code.
                let reset = if stage == SessionStage::Totp {
                    release(conn, &Counter::Account(&staff.id), &counted).await?;
                    ""
                } else {
                    ", failed_logins = 0, locked_until_unix_secs = NULL"
                };
                let sql = format!("UPDATE staff SET last_login_unix_secs = $1{reset} WHERE id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, staff_id, stage, created_unix_secs, \
                     last_seen_unix_secs, expires_unix_secs, source_ip) VALUES ($1, $2, $3, $4, $4, $5, $6)",
                )
                .bind(hash.clone())
                .bind(&staff.id)
                .bind(stage.as_str())
                .bind(now)
                .bind(expires)
                .bind(source_ip.map(str::to_owned))
                .execute(&mut *conn)
                .await?;
                let detail = json!({
                    "staff": staff.username,
                    "stage": stage.as_str(),
                    "source_ip": source_ip,
                    "refused_while_locked": counted.refused,
                });
                self.staff_event(conn, &Actor::new(staff.username.clone()), "login", detail)
                    .await
            })
            .await?;
        let session = self
            .session_by_hash(&hash)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        Ok((token, session))
    }

    async fn session_by_hash(&self, hash: &[u8]) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {STAFF_COLUMNS}, s.stage, s.created_unix_secs AS s_created, \
             s.last_seen_unix_secs AS s_last_seen, s.expires_unix_secs AS s_expires, s.source_ip \
             FROM sessions s JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.to_vec())
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The session for a token, or `None` when unknown, ended, idle too long (default 30 min),
    /// past its absolute end (default 12 h) or of a disabled account. Expired sessions are
    /// deleted; `last_seen` is written at most once a minute, so most calls are one read.
    ///
    /// # Errors
    /// Database errors.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let Some(mut session) = self.session_by_hash(&hash).await? else {
            return Ok(None);
        };
        let now = self.now().0;
        let idle = now.saturating_sub(session.last_seen_unix_secs);
        if session.staff.disabled
            || now >= session.expires_unix_secs
            || idle >= self.staff_settings.idle_timeout_secs
        {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(hash)
                .execute(self.store.pool())
                .await?;
            return Ok(None);
        }
        if idle >= 60 {
            sqlx::query("UPDATE sessions SET last_seen_unix_secs = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash)
                .execute(self.store.pool())
                .await?;
            session.last_seen_unix_secs = now;
        }
        Ok(Some(session))
    }

    /// A live session at one of `stages`, with its token hash.
    async fn session_at(&self, token: &str, stages: &[SessionStage]) -> Result<(Vec<u8>, Session)> {
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
    pub async fn sweep_sessions(&self) -> Result<u64> {
        let now = self.now().0;
        let idle_cutoff = now.saturating_sub(self.staff_settings.idle_timeout_secs);
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_unix_secs <= $1 OR last_seen_unix_secs <= $2",
        )
        .bind(now)
        .bind(idle_cutoff)
        .execute(self.store.pool())
        .await?;
        sqlx::query(
            "DELETE FROM setup_tokens WHERE used_unix_secs IS NOT NULL OR expires_unix_secs <= $1",
        )
        .bind(now)
        .execute(self.store.pool())
        .await?;
        self.prune_login_throttle().await?;
        Ok(done.rows_affected())
    }

    /// Ends a session (unknown tokens are ignored).
    ///
    /// # Errors
    /// Database errors.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let hash = token_hash(token);
        let Some(session) = self.session_by_hash(&hash).await? else {
            return Ok(());
        };
        self.store
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

    /// Changes the password (at least 12 characters, not the user name, not the old one). Ends
    /// the account's other sessions and moves this one on (`password-change` → `totp-enrol` or
    /// `totp`). A wrong old password counts toward the lockout.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::SessionInvalid)`], [`VaultError::Staff(StaffError::WrongStage)`], [`VaultError::Staff(StaffError::LoginFailed)`],
    /// [`VaultError::Staff(StaffError::LockedOut)`], [`VaultError::Invalid`]; database errors.
    pub async fn change_password(
        &self,
        token: &str,
        old: &Passphrase,
        new: &Passphrase,
    ) -> Result<Session> {
        let (hash, session) = self
            .session_at(token, &[SessionStage::PasswordChange, SessionStage::Full])
            .await?;
        let staff = session.staff;
        check_new_password(&staff.username, new)?;
        let acct = self
            .auth_row(&staff.username)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        let counted = self.reserve_attempt(&staff).await?;
        if !self.check_password(old, &acct.password_hash)? {
            return Err(self
                .record_failure(
                    &staff,
                    "password-change-failed",
                    VaultError::Staff(StaffError::LoginFailed),
                    counted,
                )
                .await?);
        }
        if verify_password(new.expose_bytes(), &acct.password_hash)? {
            self.release_attempt(&staff, &counted).await?;
            return Err(VaultError::Invalid(
                "the new password must differ from the old one".into(),
            ));
        }
        let phc = hash_password(self.staff_settings.password_params, new.expose_bytes())?;
        let next = match session.stage {
            SessionStage::PasswordChange if staff.totp_enrolled => SessionStage::Totp,
            SessionStage::PasswordChange => SessionStage::TotpEnrol,
            other => other,
        };
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query(
                    "UPDATE staff SET password_hash = $1, must_change_password = 0, \
                     updated_unix_secs = $2 WHERE id = $3",
                )
                .bind(&phc)
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                release(conn, &Counter::Account(&staff.id), &counted).await?;
                let ended = end_sessions(conn, &staff.id, Some(&hash)).await?;
                set_stage(conn, &hash, next).await?;
                let detail = json!({ "staff": staff.username, "other_sessions_ended": ended });
                self.staff_event(
                    conn,
                    &Actor::new(staff.username.clone()),
                    "password-change",
                    detail,
                )
                .await
            })
            .await?;
        self.session_by_hash(&hash)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))
    }

    /// Starts TOTP enrolment: a new random 160-bit seed, stored sealed and pending until
    /// [`Vault::finish_totp_enrolment`] sees a right code. Show it once (QR/base32) and drop it.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::SessionInvalid)`], [`VaultError::Staff(StaffError::WrongStage)`]; database errors.
    pub async fn begin_totp_enrolment(&self, token: &str) -> Result<Secret> {
        let (_, session) = self.session_at(token, &[SessionStage::TotpEnrol]).await?;
        let staff = session.staff;
        let seed = Secret::generate(20).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
        let sealed = self
            .keys
            .staff_totp
            .seal(seed.expose_bytes(), &totp_aad(&staff.id))?;
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query(
                    "UPDATE staff SET totp_sealed = $1, totp_enrolled = 0, totp_last_step = NULL, \
                     updated_unix_secs = $2 WHERE id = $3",
                )
                .bind(sealed.clone())
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                self.staff_event(
                    conn,
                    &Actor::new(staff.username.clone()),
                    "totp.enrol-begin",
                    json!({ "staff": staff.username }),
                )
                .await
            })
            .await?;
        Ok(seed)
    }

    async fn totp_state(&self, staff: &Staff) -> Result<(Option<Vec<u8>>, Option<i64>)> {
        let row = sqlx::query("SELECT totp_sealed, totp_last_step FROM staff WHERE id = $1")
            .bind(&staff.id)
            .fetch_one(self.store.pool())
            .await?;
        Ok((row.try_get("totp_sealed")?, row.try_get("totp_last_step")?))
    }

    fn open_staff_totp(&self, staff: &Staff, sealed: &[u8]) -> Result<Totp> {
        let seed = self
            .keys
            .staff_totp
            .open(sealed, &totp_aad(&staff.id))
            .map_err(|_| {
                VaultError::Store(StoreError::Tampered {
                    record: format!("staff {}", staff.username),
                })
            })?;
        Ok(staff_totp(&seed))
    }

    /// Checks a code for the TOTP second factor; on success records its step (replay guard),
    /// clears the failure count and replaces the session by a fresh one at stage `full`: the
    /// pre-TOTP token is deleted and a new token issued in the same transaction, so a token
    /// planted or seen before the second factor (session fixation) never becomes a full session.
    /// The new session keeps the sign-in time, absolute end and source address of the old one.
    async fn accept_totp(
        &self,
        token: &str,
        code: &str,
        stage: SessionStage,
        action: &str,
    ) -> Result<(SecretString, Session)> {
        let (hash, session) = self.session_at(token, &[stage]).await?;
        let staff = &session.staff;
        let (sealed, last_step) = self.totp_state(staff).await?;
        let sealed = sealed.ok_or_else(|| {
            VaultError::Invalid("no authenticator is being enrolled; start enrolment again".into())
        })?;
        let totp = self.open_staff_totp(staff, &sealed)?;
        let counted = self.reserve_attempt(staff).await?;
        let now = self.now().0;
        self.count_secret_check();
        let Some(step) = match_totp(&totp, now, code, last_step) else {
            return Err(self
                .record_failure(
                    staff,
                    "totp-failed",
                    VaultError::Staff(StaffError::WrongCode),
                    counted,
                )
                .await?);
        };
        let (fresh, fresh_hash) = new_token(SESSION_PREFIX)?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let done = sqlx::query(
                    "UPDATE staff SET totp_enrolled = 1, totp_last_step = $1, failed_logins = 0, \
                     locked_until_unix_secs = NULL, last_login_unix_secs = $2 \
                     WHERE id = $3 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(VaultError::Staff(StaffError::WrongCode));
                }
                rotate_session(conn, &hash, &fresh_hash, &session, now).await?;
                self.staff_event(
                    conn,
                    &Actor::new(staff.username.clone()),
                    action,
                    json!({ "staff": staff.username, "session_rotated": true }),
                )
                .await
            })
            .await?;
        let full = self
            .session_by_hash(&fresh_hash)
            .await?
            .ok_or(VaultError::Staff(StaffError::SessionInvalid))?;
        Ok((fresh, full))
    }

    /// Confirms enrolment with a code from the new authenticator. Returns a new session token
    /// (the one passed in stops working) and the session, now `full`.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::SessionInvalid)`], [`VaultError::Staff(StaffError::WrongStage)`], [`VaultError::Staff(StaffError::WrongCode)`],
    /// [`VaultError::Staff(StaffError::LockedOut)`]; database errors.
    pub async fn finish_totp_enrolment(
        &self,
        token: &str,
        code: &str,
    ) -> Result<(SecretString, Session)> {
        self.accept_totp(token, code, SessionStage::TotpEnrol, "totp.enrolled")
            .await
    }

    /// The second sign-in step: a code within ±1 step of now, newer than the last one accepted
    /// (a replayed or older code is refused). Failures count toward the lockout. Returns a new
    /// session token (the pre-TOTP one stops working) and the session, now `full`.
    ///
    /// # Errors
    /// [`VaultError::Staff(StaffError::SessionInvalid)`], [`VaultError::Staff(StaffError::WrongStage)`], [`VaultError::Staff(StaffError::WrongCode)`],
    /// [`VaultError::Staff(StaffError::LockedOut)`]; database errors.
    pub async fn verify_totp(&self, token: &str, code: &str) -> Result<(SecretString, Session)> {
        self.accept_totp(token, code, SessionStage::Totp, "login.totp")
            .await
    }
}

/// Replaces the session `old` by a `full` one under `new` (same account, sign-in time,
/// absolute end and address). The delete must hit the row: a session ended meanwhile (sign-out,
/// reset, disable on another instance) is not revived.
async fn rotate_session(
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

#[allow(clippy::too_many_arguments)]
async fn insert_staff(
    conn: &mut AnyConnection,
    id: &str,
    username: &str,
    display_name: &str,
    role: Role,
    phc: &str,
    must_change: bool,
    created_by: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO staff (id, username, display_name, role, password_hash, \
         must_change_password, created_by, created_unix_secs, updated_unix_secs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(username)
    .bind(display_name)
    .bind(role.as_str())
    .bind(phc)
    .bind(flag(must_change))
    .bind(created_by)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| {
        on_unique(e, || {
            VaultError::Staff(StaffError::StaffExists {
                username: username.to_owned(),
            })
        })
    })?;
    Ok(())
}

/// Locks every admin row (PostgreSQL row locks; SQLite holds the write lock already), so two
/// admins demoting each other at once cannot both pass the last-admin check; returns the target.
async fn lock_for_admin_change(conn: &mut AnyConnection, username: &str) -> Result<Staff> {
    sqlx::query("UPDATE staff SET role = role WHERE role = 'admin' OR username = $1")
        .bind(username)
        .execute(&mut *conn)
        .await?;
    Vault::staff_in(conn, username).await
}

async fn ensure_other_admin(conn: &mut AnyConnection, staff: &Staff) -> Result<()> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM staff WHERE role = 'admin' AND disabled = 0 AND id <> $1",
    )
    .bind(&staff.id)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    if n == 0 {
        return Err(VaultError::Staff(StaffError::LastAdmin {
            username: staff.username.clone(),
        }));
    }
    Ok(())
}

/// Deletes the account's sessions, except `keep`; returns how many ended.
async fn end_sessions(
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

async fn set_stage(conn: &mut AnyConnection, hash: &[u8], stage: SessionStage) -> Result<()> {
    sqlx::query("UPDATE sessions SET stage = $1 WHERE token_hash = $2")
        .bind(stage.as_str())
        .bind(hash.to_vec())
        .execute(conn)
        .await?;
    Ok(())
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

    #[test]
    fn totp_window_and_replay() {
        let totp = staff_totp(b"12345678901234567890");
        let now = 1_000_000_i64;
        let step = now / 30;
        let code_at = |s: i64| totp.at((s * 30) as u64).unwrap().code.expose().to_owned();
        assert_eq!(match_totp(&totp, now, &code_at(step), None), Some(step));
        assert_eq!(
            match_totp(&totp, now, &code_at(step - 1), None),
            Some(step - 1)
        );
        assert_eq!(
            match_totp(&totp, now, &code_at(step + 1), None),
            Some(step + 1)
        );
        assert_eq!(match_totp(&totp, now, &code_at(step - 2), None), None);
        assert_eq!(match_totp(&totp, now, &code_at(step), Some(step)), None);
        assert_eq!(
            match_totp(&totp, now, &code_at(step - 1), Some(step - 1)),
            None
        );
        assert_eq!(
            match_totp(&totp, now, &code_at(step + 1), Some(step)),
            Some(step + 1)
        );
        let spaced: String = code_at(step).chars().flat_map(|c| [c, ' ']).collect();
        assert_eq!(match_totp(&totp, now, &spaced, None), Some(step));
    }
}
