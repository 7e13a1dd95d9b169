//! API keys for automation: a bearer token (`tdk_…`, shown once, stored as SHA-256) bound to a
//! role. Creation and revocation are audited; lookups update `last_used` at most once a minute.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Identity;
use crate::error::{Result, VaultError};
use crate::error::{StaffError, StoreError};
use crate::policy::Actor;
use crate::policy::{Authorized, Permission, Principal, Role};
use crate::records::new_record_id;
use crate::store::on_unique;
use crate::tokens::{API_KEY_PREFIX, SecretString, new_token, token_hash};

/// An API key as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Unique name (what it is for).
    pub name: String,
    /// Role it acts in.
    pub role: Role,
    /// Admin who created it.
    pub created_by: String,
    /// Created.
    pub created_unix_secs: i64,
    /// Last use (to the minute).
    pub last_used_unix_secs: Option<i64>,
    /// Revoked at, if revoked.
    pub revoked_unix_secs: Option<i64>,
}

/// Prefix of the actor name of requests made with an API key (`apikey:NAME`). Staff user
/// names cannot contain `:`, so the two never collide.
pub(crate) const API_KEY_ACTOR_PREFIX: &str = "apikey:";

impl ApiKey {
    /// The principal requests with this key act as; the audit trail names it `apikey:NAME`.
    pub fn principal(&self) -> Principal {
        Principal {
            actor: Actor::new(format!("{API_KEY_ACTOR_PREFIX}{}", self.name)),
            role: self.role,
        }
    }
}

const API_KEY_COLUMNS: &str = "id, name, role, created_by, created_unix_secs, \
    last_used_unix_secs, revoked_unix_secs";

fn api_key_from_row(row: &AnyRow) -> Result<ApiKey> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(|_| {
            VaultError::Store(StoreError::Corrupt(format!("unknown role {role:?}")))
        })?,
        created_by: row.try_get("created_by")?,
        created_unix_secs: row.try_get("created_unix_secs")?,
        last_used_unix_secs: row.try_get("last_used_unix_secs")?,
        revoked_unix_secs: row.try_get("revoked_unix_secs")?,
    })
}

fn check_key_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
        return Err(VaultError::Invalid(crate::Invalid::ApiKeyName));
    }
    Ok(name.to_owned())
}

impl Identity<'_> {
    /// Creates a key; the token is returned once and only its hash is stored.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`] without `ManageApiKeys`; [`StaffError::ApiKeyExists`];
    /// [`VaultError::Invalid`] for a bad name; database errors.
    pub async fn apikey_create(
        self,
        auth: &Authorized,
        name: &str,
        role: Role,
    ) -> Result<(ApiKey, SecretString)> {
        let actor = auth.require(Permission::ManageApiKeys)?;
        let name = check_key_name(name)?;
        let (token, hash) = new_token(API_KEY_PREFIX)?;
        let id = new_record_id()?;
        let now = self.vault.now().0;
        self.vault.store
            .write(async |conn: &mut AnyConnection| {
                sqlx::query(
                    "INSERT INTO api_keys (id, name, role, token_hash, created_by, created_unix_secs) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&name)
                .bind(role.as_str())
                .bind(hash.clone())
                .bind(&actor.name)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(|e| on_unique(e, || VaultError::Staff(StaffError::ApiKeyExists { name: name.clone() })))?;
                let detail = json!({ "api_key": name, "role": role.as_str() });
                self.vault.audit(conn, actor, "apikey.create", None, detail).await?;
                Ok(())
            })
            .await?;
        let key = self
            .apikey_list()
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::Staff(StaffError::ApiKeyNotFound { name: name.clone() }))?;
        Ok((key, token))
    }

    /// Every key, revoked ones included, by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn apikey_list(self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.vault.store.pool())
            .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// Revokes a key at once; its token stops working on the next request.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`StaffError::ApiKeyNotFound`] (also for a key revoked
    /// already); database errors.
    pub async fn apikey_revoke(self, auth: &Authorized, name: &str) -> Result<()> {
        let actor = auth.require(Permission::ManageApiKeys)?;
        let name = check_key_name(name)?;
        let now = self.vault.now().0;
        self.vault
            .store
            .write(async |conn: &mut AnyConnection| {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_unix_secs = $1 WHERE name = $2 \
                     AND revoked_unix_secs IS NULL",
                )
                .bind(now)
                .bind(&name)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(VaultError::Staff(StaffError::ApiKeyNotFound {
                        name: name.clone(),
                    }));
                }
                self.vault
                    .audit(
                        conn,
                        actor,
                        "apikey.revoke",
                        None,
                        json!({ "api_key": name }),
                    )
                    .await?;
                Ok(())
            })
            .await
    }

    /// The live key for a bearer token, or `None` (unknown, malformed or revoked).
    ///
    /// # Errors
    /// Database errors.
    pub async fn apikey(self, token: &str) -> Result<Option<ApiKey>> {
        if !token.starts_with(API_KEY_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE token_hash = $1 \
             AND revoked_unix_secs IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.clone())
            .fetch_optional(self.vault.store.pool())
            .await?;
        let Some(mut key) = row.as_ref().map(api_key_from_row).transpose()? else {
            return Ok(None);
        };
        let now = self.vault.now().0;
        if key
            .last_used_unix_secs
            .is_none_or(|t| now.saturating_sub(t) >= 60)
        {
            sqlx::query("UPDATE api_keys SET last_used_unix_secs = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash)
                .execute(self.vault.store.pool())
                .await?;
            key.last_used_unix_secs = Some(now);
        }
        Ok(Some(key))
    }
}
