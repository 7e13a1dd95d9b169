//! Password sign-in with lockout reservation, and password change.

use serde_json::json;
use sqlx::AnyConnection;
use tokendesk_crypto::{Passphrase, verify_password};

use super::sessions::{end_sessions, insert_session, set_stage};
use super::throttle::{Counted, Counter, Reservation, release, reserve};
use super::{Identity, Session, SessionStage, Staff, check_new_password, normalise_username};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::{Actor, Role};
use crate::tokens::{SESSION_PREFIX, SecretString, new_token};

impl Identity<'_> {
    // ----- sign-in ------------------------------------------------------------------------------

    /// Reserves a sign-in attempt on an account before its password or code is checked
    /// (`login_throttle::reserve`): counted as a failure in advance, so parallel attempts cannot
    /// outrun the lockout. While the account is locked it is refused with `LockedOut`; only the
    /// lock's first refusal is audited (`locked-out`), the others are counted and reported in
    /// the next audited attempt.
    pub(super) async fn reserve_attempt(self, staff: &Staff) -> Result<Counted> {
        let s = self.vault.staff_settings;
        let now = self.vault.now().0;
        let reservation = self
            .vault
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
    pub(super) async fn record_failure(
        self,
        staff: &Staff,
        action: &str,
        plain: VaultError,
        counted: Counted,
    ) -> Result<VaultError> {
        self.vault
            .store
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
    pub(super) async fn release_attempt(self, staff: &Staff, counted: &Counted) -> Result<()> {
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                release(conn, &Counter::Account(&staff.id), counted).await
            })
            .await
    }

    /// Checks a password against a stored hash, counted in [`Identity::secret_checks`].
    pub(super) fn check_password(self, password: &Passphrase, phc: &str) -> Result<bool> {
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
    /// [`StaffError::LoginFailed`]; [`StaffError::LockedOut`]; database errors.
    pub async fn login(
        self,
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
        if self.vault.staff_settings.require_provider_signin && staff.role != Role::Admin {
            // The password was right: give the attempt back, and say how to sign in instead.
            self.release_attempt(&staff, &counted).await?;
            self.vault
                .store
                .write(async |conn: &mut AnyConnection| {
                    let detail = json!({
                        "staff": staff.username,
                        "reason": "provider sign-in required",
                        "source_ip": source_ip,
                    });
                    self.staff_event(
                        conn,
                        &Actor::new(staff.username.clone()),
                        "login-refused",
                        detail,
                    )
                    .await
                })
                .await?;
            return Err(VaultError::Staff(StaffError::ProviderSignInRequired));
        }
        let stage = if staff.must_change_password {
            SessionStage::PasswordChange
        } else if !staff.totp_enrolled {
            SessionStage::TotpEnrol
        } else {
            SessionStage::Totp
        };
        let now = self.vault.now().0;
        let expires = now.saturating_add(self.vault.staff_settings.absolute_timeout_secs);
        let (token, hash) = new_token(SESSION_PREFIX)?;
        self.vault
            .store
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
                let sql =
                    format!("UPDATE staff SET last_login_unix_secs = $1{reset} WHERE id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(&staff.id)
                    .execute(&mut *conn)
                    .await?;
                insert_session(conn, &hash, &staff.id, stage, now, expires, source_ip).await?;
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

    /// Changes the password (at least 12 characters, not the user name, not the old one). Ends
    /// the account's other sessions and moves this one on (`password-change` → `totp-enrol` or
    /// `totp`). A wrong old password counts toward the lockout.
    ///
    /// # Errors
    /// [`StaffError::SessionInvalid`], [`StaffError::WrongStage`], [`StaffError::LoginFailed`],
    /// [`StaffError::LockedOut`], [`VaultError::Invalid`]; database errors.
    pub async fn change_password(
        self,
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
            return Err(VaultError::Invalid(crate::Invalid::PasswordUnchanged));
        }
        let phc = self.hash(new.expose_bytes())?;
        let next = match session.stage {
            SessionStage::PasswordChange if staff.totp_enrolled => SessionStage::Totp,
            SessionStage::PasswordChange => SessionStage::TotpEnrol,
            other => other,
        };
        let now = self.vault.now().0;
        self.vault
            .store
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
}
