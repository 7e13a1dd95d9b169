//! The keys a running vault holds: the master key (KEK) with its version, and the MAC keys
//! derived from the vault secret, which is stored only wrapped under the KEK. The vault secret
//! survives rotation, so audit MACs and seed fingerprints stay verifiable after a new KEK.

use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_crypto::{DataKey, KdfParams, MacKey, MasterKey, Passphrase};

use crate::error::StoreError;
use crate::error::{Result, VaultError};

/// How the caller supplies the master key.
#[derive(Debug)]
pub enum KeySpec {
    /// A raw 32-byte key (key file or `TOKENDESK_MASTER_KEY`).
    Key(MasterKey),
    /// A passphrase; the Argon2id parameters come from the vault on open, and from `params`
    /// (or the recommended defaults) on init and rotation.
    Passphrase {
        /// The passphrase.
        passphrase: Passphrase,
        /// Parameters for a new vault or a rotation; ignored on open.
        params: Option<KdfParams>,
    },
}

impl KeySpec {
    fn source_name(&self) -> &'static str {
        match self {
            KeySpec::Key(_) => "key",
            KeySpec::Passphrase { .. } => "passphrase",
        }
    }
}

/// The stored metadata row.
pub(crate) struct Meta {
    pub key_version: i64,
    pub key_id: String,
    pub key_source: String,
    pub kdf: Option<KdfParams>,
    pub wrapped_vault_secret: Vec<u8>,
}

pub(crate) async fn read_meta(conn: &mut AnyConnection) -> Result<Option<Meta>> {
    let row = sqlx::query(
        "SELECT key_version, key_id, key_source, kdf_m_kib, kdf_t_cost, kdf_p_cost, kdf_salt, \
         wrapped_vault_secret FROM vault_meta WHERE id = 1",
    )
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let m: Option<i64> = row.try_get("kdf_m_kib")?;
    let t: Option<i64> = row.try_get("kdf_t_cost")?;
    let p: Option<i64> = row.try_get("kdf_p_cost")?;
    let salt: Option<Vec<u8>> = row.try_get("kdf_salt")?;
    let kdf = match (m, t, p, salt) {
        (Some(m), Some(t), Some(p), Some(salt)) => {
            let to_u32 = |v: i64| {
                u32::try_from(v)
                    .map_err(|_| VaultError::Store(StoreError::Corrupt("kdf cost".into())))
            };
            Some(KdfParams {
                m_kib: to_u32(m)?,
                t_cost: to_u32(t)?,
                p_cost: to_u32(p)?,
                salt,
            })
        }
        _ => None,
    };
    Ok(Some(Meta {
        key_version: row.try_get("key_version")?,
        key_id: row.try_get("key_id")?,
        key_source: row.try_get("key_source")?,
        kdf,
        wrapped_vault_secret: row.try_get("wrapped_vault_secret")?,
    }))
}

/// Context bound into the wrapped vault secret.
fn secret_context(version: i64) -> Vec<u8> {
    format!("tokendesk vault secret|v{version}").into_bytes()
}

/// Context bound into a record's wrapped data key and sealed seed: record id, UPN and key
/// version, so a ciphertext moved to another record (or replayed from an older version) fails.
pub(crate) fn record_context(kind: &str, record_id: &str, upn: &str, version: i64) -> Vec<u8> {
    format!("tokendesk {kind}|{record_id}|{upn}|v{version}").into_bytes()
}

/// Keys of an open vault.
#[derive(Debug)]
pub(crate) struct Keyring {
    pub kek: MasterKey,
    pub version: i64,
    pub audit: MacKey,
    pub fingerprint: MacKey,
    /// Seals staff members' own TOTP seeds; derived from the vault secret, so it survives
    /// rotation of the master key.
    pub staff_totp: DataKey,
    /// Keys the throttle rows of sign-in names that are no account, so the table never holds
    /// a name that someone typed.
    pub login_throttle: MacKey,
    /// Seals the nonce and PKCE verifier of OpenID Connect sign-ins in flight.
    pub oidc_flow: DataKey,
}

/// A new KEK resolved from a spec, with the metadata to store beside it.
pub(crate) struct ResolvedKey {
    pub kek: MasterKey,
    pub source: &'static str,
    pub kdf: Option<KdfParams>,
}

pub(crate) fn resolve_new(spec: KeySpec) -> Result<ResolvedKey> {
    let source = spec.source_name();
    match spec {
        KeySpec::Key(kek) => Ok(ResolvedKey {
            kek,
            source,
            kdf: None,
        }),
        KeySpec::Passphrase { passphrase, params } => {
            let params = match params {
                Some(p) => p,
                None => KdfParams::recommended()?,
            };
            Ok(ResolvedKey {
                kek: params.derive(&passphrase)?,
                source,
                kdf: Some(params),
            })
        }
    }
}

impl Keyring {
    fn from_secret(kek: MasterKey, version: i64, secret: &DataKey) -> Self {
        Self {
            kek,
            version,
            audit: secret.derive_mac_key(b"audit chain"),
            fingerprint: secret.derive_mac_key(b"seed fingerprint"),
            staff_totp: secret.derive_data_key(b"staff totp"),
            login_throttle: secret.derive_mac_key(b"login throttle"),
            oidc_flow: secret.derive_data_key(b"oidc flow"),
        }
    }

    /// Opens the keyring described by `meta` with the caller's key.
    pub(crate) fn open(meta: &Meta, spec: KeySpec) -> Result<Self> {
        let got_source = spec.source_name();
        if got_source != meta.key_source {
            return Err(VaultError::Store(StoreError::KeySourceMismatch {
                expected: if meta.key_source == "passphrase" {
                    "passphrase"
                } else {
                    "key"
                },
                got: got_source,
            }));
        }
        let kek = match spec {
            KeySpec::Key(kek) => kek,
            KeySpec::Passphrase { passphrase, .. } => meta
                .kdf
                .as_ref()
                .ok_or_else(|| {
                    VaultError::Store(StoreError::Corrupt(
                        "passphrase vault without kdf parameters".into(),
                    ))
                })?
                .derive(&passphrase)?,
        };
        if kek.key_id() != meta.key_id {
            return Err(VaultError::Store(StoreError::WrongKey {
                expected: meta.key_id.clone(),
                got: kek.key_id(),
            }));
        }
        let secret = kek
            .unwrap(
                &meta.wrapped_vault_secret,
                &secret_context(meta.key_version),
            )
            .map_err(|_| {
                VaultError::Store(StoreError::Tampered {
                    record: "vault_meta".into(),
                })
            })?;
        Ok(Self::from_secret(kek, meta.key_version, &secret))
    }

    /// A brand-new keyring (version 1) and the wrapped secret to store.
    pub(crate) fn create(kek: MasterKey) -> Result<(Self, Vec<u8>)> {
        let secret = DataKey::generate()?;
        let wrapped = kek.wrap(&secret, &secret_context(1))?;
        Ok((Self::from_secret(kek, 1, &secret), wrapped.0))
    }

    /// Re-wraps the vault secret under `new_kek` at the next version.
    pub(crate) fn rewrap_secret(&self, wrapped: &[u8], new_kek: &MasterKey) -> Result<Vec<u8>> {
        let secret = self
            .kek
            .unwrap(wrapped, &secret_context(self.version))
            .map_err(|_| {
                VaultError::Store(StoreError::Tampered {
                    record: "vault_meta".into(),
                })
            })?;
        Ok(new_kek.wrap(&secret, &secret_context(self.version + 1))?.0)
    }

    /// Same MAC keys, new KEK and version (after a committed rotation).
    pub(crate) fn rotated(&self, new_kek: MasterKey, wrapped: &[u8]) -> Result<Self> {
        let version = self.version + 1;
        let secret = new_kek
            .unwrap(wrapped, &secret_context(version))
            .map_err(|_| {
                VaultError::Store(StoreError::Tampered {
                    record: "vault_meta".into(),
                })
            })?;
        Ok(Self::from_secret(new_kek, version, &secret))
    }
}
