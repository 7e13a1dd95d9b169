//! The first-admin setup link and the accounts it and administration insert.

use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokendesk_crypto::{Passphrase, ct_eq};

use super::{
    Identity, Staff, check_display_name, check_new_password, flag, normalise_username,
    staff_count_in,
};
use crate::error::{Result, StaffError, VaultError};
use crate::policy::{Actor, Role};
use crate::records::new_record_id;
use crate::store::on_unique;
use crate::tokens::{SETUP_PREFIX, SecretString, new_token, token_hash};

impl Identity<'_> {
    // ----- first-admin setup -------------------------------------------------------------------

    /// Number of staff accounts (0 means the setup link is still needed).
    ///
    /// # Errors
    /// Database errors.
    pub async fn count(self) -> Result<i64> {
        let mut conn = self.vault.store.pool().acquire().await?;
        staff_count_in(&mut conn).await
    }

    /// A one-time setup token for creating the first admin, valid `ttl_secs`. Only while no staff
    /// account exists; earlier unused tokens stop working.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] once staff accounts exist; database errors.
    pub async fn create_setup_token(self, ttl_secs: i64) -> Result<SecretString> {
        if ttl_secs <= 0 {
            return Err(VaultError::Invalid(crate::Invalid::SetupLifetime));
        }
        let now = self.vault.now().0;
        let (token, hash) = new_token(SETUP_PREFIX)?;
        let expires = now.saturating_add(ttl_secs);
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                if staff_count_in(conn).await? > 0 {
                    return Err(VaultError::Invalid(crate::Invalid::StaffExistAlready));
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
    /// [`StaffError::SetupTokenInvalid`] (wrong, expired, used, or staff exist already);
    /// [`VaultError::Invalid`] for a bad user name, display name or password; database errors.
    pub async fn complete_setup(
        self,
        token: &str,
        username: &str,
        display_name: &str,
        password: &Passphrase,
    ) -> Result<Staff> {
        let username = normalise_username(username)?;
        let display_name = check_display_name(display_name)?;
        check_new_password(&username, password)?;
        let given = token_hash(token);
        let phc = self.hash(password.expose_bytes())?;
        let now = self.vault.now().0;
        let id = new_record_id()?;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                if staff_count_in(conn).await? > 0 {
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
        self.get(&username).await
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_staff(
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
