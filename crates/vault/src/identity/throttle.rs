//! Failed sign-ins and the lockout back-off, for accounts and for names that are no account.
//!
//! A name that is no account (unknown, or not even a valid user name) is throttled exactly like
//! an account: the same count, the same back-off, the same answers, and the same work per attempt
//! (one Argon2 evaluation while not locked, none while locked), so neither the lockout nor its
//! absence tells an attacker which names exist. Its counter lives in `login_throttle` in the
//! database (several instances share it), keyed by an HMAC of the normalised name under a key
//! derived from the vault secret, so the table never holds a typed name.
//!
//! Counts forget after [`FAILURE_WINDOW_SECS`] without a failure, for accounts and names alike;
//! a name's row that old (and unlocked) behaves like no row, which is what lets old rows be
//! pruned without changing any answer.

use std::sync::OnceLock;

use serde_json::json;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use tokendesk_crypto::{Passphrase, PasswordParams, hash_password, verify_password};

use super::Identity;
use crate::error::StaffError;
use crate::error::{Result, VaultError};
use crate::policy::Actor;
use crate::vault::StaffSettings;

/// A failure counter with no failure for this long starts again from zero (seconds; at least
/// the longest lock).
pub const FAILURE_WINDOW_SECS: i64 = 24 * 3600;

fn window_secs(s: &StaffSettings) -> i64 {
    FAILURE_WINDOW_SECS.max(s.lockout_max_secs)
}

/// The lock that `failures` consecutive failures earn: none below the limit, then the base
/// lock doubling with each further failure, capped.
pub(crate) fn lock_secs(s: &StaffSettings, failures: i64) -> Option<i64> {
    (failures >= s.max_failed_logins).then(|| {
        let doublings = u32::try_from(failures - s.max_failed_logins)
            .unwrap_or(u32::MAX)
            .min(30);
        s.lockout_base_secs
            .saturating_mul(1_i64 << doublings)
            .min(s.lockout_max_secs)
    })
}

/// Where a failure is counted.
pub(crate) enum Counter<'a> {
    /// An account's row in `staff`, by id.
    Account(&'a str),
    /// The `login_throttle` row of a name that is no account, by the name's MAC.
    Name(&'a [u8]),
}

impl Counter<'_> {
    /// Table and key column (fixed strings, never input).
    fn place(&self) -> (&'static str, &'static str) {
        match self {
            Counter::Account(_) => ("staff", "id"),
            Counter::Name(_) => ("login_throttle", "name_mac"),
        }
    }

    fn bind<'q>(&self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        match self {
            Counter::Account(id) => q.bind((*id).to_owned()),
            Counter::Name(mac) => q.bind(mac.to_vec()),
        }
    }
}

/// An attempt counted as a failure *before* its password or code is checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counted {
    /// Consecutive failures, this attempt included.
    pub failures: i64,
    /// The lock (seconds) this attempt set by reaching the limit, if it did.
    pub lock: Option<i64>,
    /// Attempts refused during the previous lock (only the first of them was audited).
    pub refused: i64,
}

/// What reserving an attempt found.
pub(crate) enum Reservation {
    /// Counted: the caller may now check the secret, then settle (audit a failure, or give the
    /// attempt back or reset the count on success).
    Counted(Counted),
    /// Locked: nothing may be checked.
    Locked {
        /// Seconds until the lock ends.
        retry_after_secs: i64,
        /// The lock's first refusal, the only one audited.
        first: bool,
    },
}

/// Reserves one attempt in the caller's transaction, *before* anything is verified: unless the
/// counter is locked, the attempt is counted as a failure at once and, when it reaches the
/// limit, the lock is set in the same transaction. The conditional update takes the row lock
/// (PostgreSQL) or runs under the write lock (SQLite), so however many attempts race, at most
/// the limit are let through to a password or code check before the lock holds; a success
/// settles afterwards ([`release`] or a reset).
pub(crate) async fn reserve(
    conn: &mut AnyConnection,
    counter: &Counter<'_>,
    s: &StaffSettings,
    now: i64,
) -> Result<Reservation> {
    let (table, key) = counter.place();
    let cutoff = now.saturating_sub(window_secs(s));
    let bump = format!(
        "UPDATE {table} SET failed_logins = CASE WHEN last_failed_unix_secs < $1 THEN 1 \
         ELSE failed_logins + 1 END, last_failed_unix_secs = $2 \
         WHERE {key} = $3 AND (locked_until_unix_secs IS NULL OR locked_until_unix_secs <= $2) \
         RETURNING failed_logins, refused_while_locked"
    );
    let counted = counter
        .bind(
            sqlx::query(sqlx::AssertSqlSafe(bump))
                .bind(cutoff)
                .bind(now),
        )
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = counted {
        let failures: i64 = row.try_get("failed_logins")?;
        let refused: i64 = row.try_get("refused_while_locked")?;
        let lock = lock_secs(s, failures);
        let set = format!(
            "UPDATE {table} SET locked_until_unix_secs = $1, refused_while_locked = 0 \
             WHERE {key} = $2"
        );
        counter
            .bind(sqlx::query(sqlx::AssertSqlSafe(set)).bind(lock.map(|l| now.saturating_add(l))))
            .execute(&mut *conn)
            .await?;
        return Ok(Reservation::Counted(Counted {
            failures,
            lock,
            refused,
        }));
    }
    let refuse = format!(
        "UPDATE {table} SET refused_while_locked = refused_while_locked + 1 \
         WHERE {key} = $1 RETURNING locked_until_unix_secs, refused_while_locked"
    );
    let row = counter
        .bind(sqlx::query(sqlx::AssertSqlSafe(refuse)))
        .fetch_optional(&mut *conn)
        .await?;
    // No row at all (an account deleted meanwhile) is refused too, and not audited.
    let (until, first) = match row {
        Some(row) => (
            row.try_get::<Option<i64>, _>("locked_until_unix_secs")?,
            row.try_get::<i64, _>("refused_while_locked")? == 1,
        ),
        None => (None, false),
    };
    Ok(Reservation::Locked {
        retry_after_secs: until.map_or(1, |u| u.saturating_sub(now).max(1)),
        first,
    })
}

/// Gives back an attempt [`reserve`] counted, when its secret was right but the sign-in is not
/// complete yet (a second factor or a password rule still to pass): the count is what it was,
/// and the lock this attempt set, if any, is lifted.
pub(crate) async fn release(
    conn: &mut AnyConnection,
    counter: &Counter<'_>,
    counted: &Counted,
) -> Result<()> {
    let (table, key) = counter.place();
    let sql = format!(
        "UPDATE {table} SET failed_logins = CASE WHEN failed_logins > 0 THEN failed_logins - 1 \
         ELSE 0 END, locked_until_unix_secs = CASE WHEN $1 = 1 THEN NULL \
         ELSE locked_until_unix_secs END WHERE {key} = $2"
    );
    counter
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(counted.lock.is_some())))
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs one Argon2 evaluation for a name that is no account, so the answer takes as long as
/// for an account.
fn dummy_verify(params: PasswordParams, password: &[u8]) {
    static DUMMY: OnceLock<(PasswordParams, String)> = OnceLock::new();
    match DUMMY.get() {
        Some((p, hash)) if *p == params => {
            let _ = verify_password(password, hash);
        }
        _ => {
            if let Ok(hash) = hash_password(params, b"tokendesk dummy password") {
                let _ = DUMMY.set((params, hash));
            }
        }
    }
}

impl Identity<'_> {
    /// How many sign-in secrets (passwords, including the stand-in check for names that are no
    /// account, and second-factor codes) this instance has checked since it opened. The lockout
    /// bounds it: whatever the concurrency, a locked name costs no check.
    #[must_use]
    pub fn secret_checks(self) -> u64 {
        self.vault
            .secret_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_secret_check(self) {
        self.vault
            .secret_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The throttle key of a typed name: trimmed and lowercased as user names are, then MAC'd.
    pub(super) fn name_mac(self, typed: &str) -> Vec<u8> {
        let name = typed.trim().to_lowercase();
        self.vault
            .keys
            .login_throttle
            .mac(&[b"login name", name.as_bytes()])
            .to_vec()
    }

    /// A sign-in for `typed`, which is no account: refused like an account would be. The attempt
    /// is reserved first ([`reserve`]); while the name is locked the answer is `LockedOut` with
    /// the time left (no Argon2, as for a locked account); otherwise one Argon2 evaluation and
    /// `LoginFailed` or, when this attempt reached the limit, `LockedOut`.
    ///
    /// The audit trail gets one `login-failed` entry when a name's count starts (its first
    /// failure in the window) and one when a lock starts, with the count and the refusals of
    /// the previous lock; one `locked-out` entry for a lock's first refusal. Between those,
    /// nothing is written but the counter, so unknown names cannot flood the trail. Returns the
    /// error to give the caller.
    pub(crate) async fn unknown_name_failure(
        self,
        typed: &str,
        password: &Passphrase,
        source_ip: Option<&str>,
    ) -> Result<VaultError> {
        let s = self.vault.staff_settings;
        let mac = self.name_mac(typed);
        let now = self.vault.now().0;
        let anonymous = Actor::new("anonymous");
        let reservation = self
            .vault
            .store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query(
                    "INSERT INTO login_throttle (name_mac, failed_logins, last_failed_unix_secs) \
                     VALUES ($1, 0, $2) ON CONFLICT (name_mac) DO NOTHING",
                )
                .bind(mac.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let reservation = reserve(conn, &Counter::Name(&mac), &s, now).await?;
                if let Reservation::Locked {
                    retry_after_secs,
                    first: true,
                } = reservation
                {
                    let detail = json!({
                        "reason": "unknown user",
                        "retry_after_secs": retry_after_secs,
                        "source_ip": source_ip,
                    });
                    self.vault
                        .audit(conn, &anonymous, "locked-out", None, detail)
                        .await?;
                }
                Ok(reservation)
            })
            .await?;
        let counted = match reservation {
            Reservation::Locked {
                retry_after_secs, ..
            } => {
                return Ok(VaultError::Staff(StaffError::LockedOut {
                    retry_after_secs,
                }));
            }
            Reservation::Counted(counted) => counted,
        };
        self.count_secret_check();
        dummy_verify(s.password_params, password.expose_bytes());
        if counted.failures == 1 || counted.lock.is_some() {
            self.vault
                .store
                .write(async |conn: &mut AnyConnection| {
                    prune(conn, &s, now).await?;
                    let detail = json!({
                        "reason": "unknown user",
                        "failures": counted.failures,
                        "locked_for_secs": counted.lock,
                        "refused_while_locked": counted.refused,
                        "source_ip": source_ip,
                    });
                    self.vault
                        .audit(conn, &anonymous, "login-failed", None, detail)
                        .await
                        .map(|_| ())
                })
                .await?;
        }
        Ok(match counted.lock {
            Some(secs) => VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: secs,
            }),
            None => VaultError::Staff(StaffError::LoginFailed),
        })
    }

    /// Deletes throttle rows that no longer change any answer (housekeeping; failures prune as
    /// they go too). Returns how many went.
    ///
    /// # Errors
    /// Database errors.
    pub async fn prune_login_throttle(self) -> Result<u64> {
        let s = self.vault.staff_settings;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| prune(conn, &s, now).await)
            .await
    }
}

/// Rows whose last failure is outside the window and whose lock has ended: a new failure would
/// start from one either way (see `reserve`), so deleting them changes nothing.
async fn prune(conn: &mut AnyConnection, s: &StaffSettings, now: i64) -> Result<u64> {
    let cutoff = now.saturating_sub(window_secs(s));
    let done = sqlx::query(
        "DELETE FROM login_throttle WHERE last_failed_unix_secs < $1 \
         AND (locked_until_unix_secs IS NULL OR locked_until_unix_secs <= $2)",
    )
    .bind(cutoff)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_the_limit_and_is_capped() {
        let s = StaffSettings::default();
        let got: Vec<Option<i64>> = (1..=12).map(|n| lock_secs(&s, n)).collect();
        assert_eq!(
            got,
            [
                None,
                None,
                None,
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(960),
                Some(1920),
                Some(3600)
            ]
        );
        assert_eq!(lock_secs(&s, i64::MAX), Some(3600));
        assert!(window_secs(&s) >= s.lockout_max_secs);
    }
}
