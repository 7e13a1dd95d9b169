//! `key rotate`: every data key and sealed seed is re-wrapped under a new master key and key
//! version in one transaction, with the vault secret and metadata. Until the commit the old key
//! opens everything; after it, the new one does. There is no in-between state to repair.

use serde_json::json;
use sqlx::AnyConnection;
use tokendesk_crypto::MasterKey;

use crate::error::StoreError;
use crate::error::{Result, VaultError};
use crate::policy::Actor;
use crate::records::{SealedRow, sealed_from_row};
use crate::store::keyring::{KeySpec, read_meta, record_context, resolve_new};
use crate::vault::Vault;

impl Vault {
    fn reseal(
        &self,
        row: &SealedRow,
        new_kek: &MasterKey,
        version: i64,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let seed = self.open_sealed(row)?;
        let dek = tokendesk_crypto::DataKey::generate()?;
        let sealed = dek.seal(&seed, &record_context("seed", &row.id, &row.upn, version))?;
        let wrapped = new_kek.wrap(&dek, &record_context("dek", &row.id, &row.upn, version))?;
        Ok((wrapped.0, sealed))
    }

    /// Rotates the master key. Returns the number of seeds re-sealed.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] if any record fails to open (nothing changes then); a vault
    /// rotated meanwhile by another process; database errors.
    pub async fn rotate(&mut self, actor: &Actor, new: KeySpec) -> Result<usize> {
        let new = resolve_new(new)?;
        let old_version = self.keys.version;
        let version = old_version + 1;
        let new_id = new.kek.key_id();
        let now = self.now().0;
        let (count, wrapped_secret) = self
            .store
            .write(async |conn: &mut AnyConnection| {
                // Takes the row lock first (PostgreSQL) so two rotations cannot interleave.
                sqlx::query("UPDATE vault_meta SET key_version = key_version WHERE id = 1")
                    .execute(&mut *conn)
                    .await?;
                let meta = read_meta(conn)
                    .await?
                    .ok_or(VaultError::Store(StoreError::NotInitialised))?;
                if meta.key_version != old_version {
                    return Err(VaultError::Invalid(crate::Invalid::Operator(format!(
                        "the vault was rotated meanwhile (now key version {}); reopen it",
                        meta.key_version
                    ))));
                }
                let rows = sqlx::query(
                    "SELECT id, upn, key_version, wrapped_dek, sealed_seed FROM records \
                     WHERE sealed_seed IS NOT NULL ORDER BY id",
                )
                .fetch_all(&mut *conn)
                .await?;
                for row in &rows {
                    let sealed = sealed_from_row(row)?;
                    let (wrapped, seed) = self.reseal(&sealed, &new.kek, version)?;
                    sqlx::query(
                        "UPDATE records SET wrapped_dek = $1, sealed_seed = $2, key_version = $3 \
                         WHERE id = $4",
                    )
                    .bind(wrapped)
                    .bind(seed)
                    .bind(version)
                    .bind(&sealed.id)
                    .execute(&mut *conn)
                    .await?;
                }
                let wrapped_secret = self
                    .keys
                    .rewrap_secret(&meta.wrapped_vault_secret, &new.kek)?;
                let kdf = new.kdf.as_ref();
                sqlx::query(
                    "UPDATE vault_meta SET key_version = $1, key_id = $2, key_source = $3, \
                     kdf_m_kib = $4, kdf_t_cost = $5, kdf_p_cost = $6, kdf_salt = $7, \
                     wrapped_vault_secret = $8, rotated_unix_secs = $9 WHERE id = 1",
                )
                .bind(version)
                .bind(&new_id)
                .bind(new.source)
                .bind(kdf.map(|k| i64::from(k.m_kib)))
                .bind(kdf.map(|k| i64::from(k.t_cost)))
                .bind(kdf.map(|k| i64::from(k.p_cost)))
                .bind(kdf.map(|k| k.salt.clone()))
                .bind(wrapped_secret.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let detail = json!({
                    "from_version": old_version,
                    "to_version": version,
                    "key_id": new_id,
                    "records": rows.len(),
                });
                self.audit(conn, actor, "key.rotate", None, detail).await?;
                Ok((rows.len(), wrapped_secret))
            })
            .await?;
        self.keys = self.keys.rotated(new.kek, &wrapped_secret)?;
        Ok(count)
    }
}
