//! Administration of staff accounts: add, list, disable, enable, role, reset.

use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::sessions::end_sessions;
use super::setup::insert_staff;
use super::{
    Identity, STAFF_COLUMNS, Staff, check_display_name, normalise_username, staff_from_row,
};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::{Authorized, Permission, Role};
use crate::records::new_record_id;
use crate::tokens::SecretString;

impl Identity<'_> {
    // ----- administration ----------------------------------------------------------------------

    /// Adds an account with a one-time password (shown once; must be changed at first sign-in).
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `ManageStaff`; [`StaffError::StaffExists`];
    /// [`VaultError::Invalid`] for bad names; database errors.
    pub async fn add(
        self,
        auth: &Authorized,
        username: &str,
        display_name: &str,
        role: Role,
    ) -> Result<(Staff, SecretString)> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let display_name = check_display_name(display_name)?;
        let (password, phc) = self.one_time_password()?;
        let now = self.vault.now().0;
        let id = new_record_id()?;
        self.vault
            .store
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
        Ok((self.get(&username).await?, password))
    }

    /// Every account, by user name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(self) -> Result<Vec<Staff>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff st ORDER BY st.username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.vault.store.pool())
            .await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// One account.
    ///
    /// # Errors
    /// [`StaffError::StaffNotFound`]; database errors.
    pub async fn get(self, username: &str) -> Result<Staff> {
        let username = normalise_username(username)?;
        let mut conn = self.vault.store.pool().acquire().await?;
        Self::staff_in(&mut conn, &username).await
    }

    /// Disables an account and ends its sessions. The last enabled admin cannot be disabled.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`StaffError::StaffNotFound`]; [`StaffError::LastAdmin`];
    /// database errors.
    pub async fn disable(self, auth: &Authorized, username: &str) -> Result<Staff> {
        self.change(auth, username, async |conn, staff, now| {
            if staff.role == Role::Admin && !staff.disabled {
                ensure_other_admin(conn, staff).await?;
            }
            sqlx::query("UPDATE staff SET disabled = 1, updated_unix_secs = $1 WHERE id = $2")
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
            end_sessions(conn, &staff.id, None).await?;
            Ok(("staff.disable", json!({ "staff": staff.username })))
        })
        .await
    }

    /// Enables an account again (and clears its lockout).
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`StaffError::StaffNotFound`]; database errors.
    pub async fn enable(self, auth: &Authorized, username: &str) -> Result<Staff> {
        self.change(auth, username, async |conn, staff, now| {
            sqlx::query(
                "UPDATE staff SET disabled = 0, failed_logins = 0, \
                 locked_until_unix_secs = NULL, updated_unix_secs = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(&staff.id)
            .execute(&mut *conn)
            .await?;
            Ok(("staff.enable", json!({ "staff": staff.username })))
        })
        .await
    }

    /// Changes an account's role. The last enabled admin cannot be demoted.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`StaffError::StaffNotFound`]; [`StaffError::LastAdmin`];
    /// database errors.
    pub async fn set_role(self, auth: &Authorized, username: &str, role: Role) -> Result<Staff> {
        self.change(auth, username, async |conn, staff, now| {
            if staff.role == Role::Admin && role != Role::Admin && !staff.disabled {
                ensure_other_admin(conn, staff).await?;
            }
            sqlx::query("UPDATE staff SET role = $1, updated_unix_secs = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now)
                .bind(&staff.id)
                .execute(&mut *conn)
                .await?;
            let detail = json!({
                "staff": staff.username,
                "from": staff.role.as_str(),
                "to": role.as_str(),
            });
            Ok(("staff.role", detail))
        })
        .await
    }

    /// One administrative change of an account: checks `ManageStaff`, locks the admin rows (so
    /// two admins cannot both pass the last-admin check), runs `change` and writes the audit
    /// event it names in the same transaction, and returns the account as it is afterwards.
    async fn change(
        self,
        auth: &Authorized,
        username: &str,
        change: impl AsyncFnOnce(
            &mut AnyConnection,
            &Staff,
            i64,
        ) -> Result<(&'static str, serde_json::Value)>,
    ) -> Result<Staff> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let staff = lock_for_admin_change(conn, &username).await?;
                let (action, detail) = change(conn, &staff, now).await?;
                self.staff_event(conn, actor, action, detail).await
            })
            .await?;
        self.get(&username).await
    }

    /// Issues a new one-time password, clears the TOTP enrolment and the lockout, and ends the
    /// account's sessions.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`StaffError::StaffNotFound`]; database errors.
    pub async fn reset(self, auth: &Authorized, username: &str) -> Result<SecretString> {
        let actor = auth.require(Permission::ManageStaff)?;
        let username = normalise_username(username)?;
        let (password, phc) = self.one_time_password()?;
        let now = self.vault.now().0;
        self.vault
            .store
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
}

/// Locks every admin row (PostgreSQL row locks; SQLite holds the write lock already), so two
/// admins demoting each other at once cannot both pass the last-admin check; returns the target.
pub(super) async fn lock_for_admin_change(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Staff> {
    sqlx::query("UPDATE staff SET role = role WHERE role = 'admin' OR username = $1")
        .bind(username)
        .execute(&mut *conn)
        .await?;
    Identity::staff_in(conn, username).await
}

pub(super) async fn ensure_other_admin(conn: &mut AnyConnection, staff: &Staff) -> Result<()> {
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
