//! The vault: open or initialise it with a master key, its settings, the clock and the one audit
//! helper every change uses. The operations live by area: `records`, `reveal`, `identity`.

use std::sync::Arc;

use crate::error::StoreError;
use crate::error::{Result, VaultError};
use crate::policy::{Actor, Authorized, Permission};
use crate::reveal::group::RevealGroup;
use crate::store::audit_chain::{self, AuditEvent};
use crate::store::clock::{Clock, UnixTime};
use crate::store::keyring::{KeySpec, Keyring, read_meta, resolve_new};
use crate::store::{Store, on_unique};
use serde_json::json;
use sqlx::AnyConnection;
use tokendesk_crypto::PasswordParams;

/// Deployment policy knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Reveals allowed per user per UTC day.
    pub daily_reveal_quota: i64,
    /// Seconds a delivered record keeps its seed before `purge --due` destroys it (0 = at once).
    pub retention_secs: i64,
    /// How far ahead of now a reveal may ask for a code (seconds; default 24 h, enough for a
    /// code sent by e-mail). Bounds every code of a reveal, following steps included, so codes
    /// cannot be banked to outlive the seed's purge.
    pub reveal_max_future_secs: i64,
}

/// Default of [`Settings::reveal_max_future_secs`]: 24 hours.
pub const DEFAULT_REVEAL_MAX_FUTURE_SECS: i64 = 24 * 3600;

impl Default for Settings {
    fn default() -> Self {
        Self {
            daily_reveal_quota: 5,
            retention_secs: 0,
            reveal_max_future_secs: DEFAULT_REVEAL_MAX_FUTURE_SECS,
        }
    }
}

/// Staff sign-in policy knobs (kept apart from [`Settings`] so existing callers build it
/// unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffSettings {
    /// A session unused this long ends (seconds).
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in, used or not (seconds).
    pub absolute_timeout_secs: i64,
    /// Consecutive failures (password or TOTP) before the account locks.
    pub max_failed_logins: i64,
    /// First lock; each further failure doubles it up to [`StaffSettings::lockout_max_secs`].
    pub lockout_base_secs: i64,
    /// Longest lock.
    pub lockout_max_secs: i64,
    /// Failed caller-passphrase attempts allowed per record per UTC day.
    pub passphrase_daily_failures: i64,
    /// How long a four-eyes approval stays usable (seconds).
    pub approval_ttl_secs: i64,
    /// Argon2id costs for new password and passphrase hashes. Production:
    /// [`PasswordParams::PRODUCTION`]; tests may inject [`PasswordParams::INSECURE_TEST_ONLY`].
    pub password_params: PasswordParams,
    /// Only admins may sign in with a local password (break-glass); everyone else signs in
    /// through the organisation's identity provider.
    pub require_provider_signin: bool,
    /// How long a desk stays signed in after `tokendesk login` (seconds; at most a day).
    pub desk_session_secs: i64,
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 3600,
            max_failed_logins: 5,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            passphrase_daily_failures: 5,
            approval_ttl_secs: 3600,
            password_params: PasswordParams::PRODUCTION,
            require_provider_signin: false,
            desk_session_secs: 8 * 3600,
        }
    }
}

/// An open vault.
pub struct Vault {
    pub(crate) store: Store,
    pub(crate) keys: Keyring,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) staff_settings: StaffSettings,
    /// Concurrent reveals waiting to share one commit.
    pub(crate) reveals: RevealGroup,
    /// Passwords and second-factor codes this instance has checked (see
    /// [`crate::Identity::secret_checks`]).
    pub(crate) secret_checks: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("backend", &self.store.backend())
            .field("key_version", &self.keys.version)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Creates the vault in an empty, migrated database.
    ///
    /// # Errors
    /// [`StoreError::AlreadyInitialised`] if a vault exists; database errors.
    pub async fn init(
        store: Store,
        spec: KeySpec,
        clock: Arc<dyn Clock>,
        actor: &Actor,
    ) -> Result<Self> {
        let new = resolve_new(spec)?;
        let key_id = new.kek.key_id();
        let (keys, wrapped) = Keyring::create(new.kek)?;
        let now = clock.now();
        let kdf = new.kdf.clone();
        store
            .write(async |conn: &mut AnyConnection| {
                if let Some(meta) = read_meta(conn).await? {
                    return Err(VaultError::Store(StoreError::AlreadyInitialised {
                        key_id: meta.key_id,
                    }));
                }
                sqlx::query(
                    "INSERT INTO vault_meta (id, key_version, key_id, key_source, kdf_m_kib, \
                     kdf_t_cost, kdf_p_cost, kdf_salt, wrapped_vault_secret, created_unix_secs) \
                     VALUES (1, 1, $1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key_id)
                .bind(new.source)
                .bind(kdf.as_ref().map(|k| i64::from(k.m_kib)))
                .bind(kdf.as_ref().map(|k| i64::from(k.t_cost)))
                .bind(kdf.as_ref().map(|k| i64::from(k.p_cost)))
                .bind(kdf.as_ref().map(|k| k.salt.clone()))
                .bind(wrapped)
                .bind(now.0)
                .execute(&mut *conn)
                .await
                .map_err(|e| {
                    on_unique(e, || {
                        VaultError::Store(StoreError::AlreadyInitialised {
                            key_id: key_id.clone(),
                        })
                    })
                })?;
                audit_chain::create_head(conn, &keys.audit).await?;
                let event = AuditEvent {
                    actor: actor.name.clone(),
                    action: "init".into(),
                    subject: None,
                    record_id: None,
                    detail: json!({ "key_id": key_id, "key_source": new.source }),
                };
                audit_chain::append(conn, &keys.audit, now, event).await?;
                Ok(())
            })
            .await?;
        Ok(Self::assemble(store, keys, clock))
    }

    /// A vault over an open store and keyring, with default settings.
    fn assemble(store: Store, keys: Keyring, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            keys,
            clock,
            settings: Settings::default(),
            staff_settings: StaffSettings::default(),
            reveals: RevealGroup::default(),
            secret_checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Opens an existing vault, checking the master key before anything else happens.
    ///
    /// # Errors
    /// [`StoreError::NotInitialised`], [`StoreError::WrongKey`],
    /// [`StoreError::KeySourceMismatch`]; database errors.
    pub async fn open(store: Store, spec: KeySpec, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut conn = store.pool().acquire().await?;
        let meta = read_meta(&mut conn)
            .await?
            .ok_or(VaultError::Store(StoreError::NotInitialised))?;
        drop(conn);
        let keys = Keyring::open(&meta, spec)?;
        Ok(Self::assemble(store, keys, clock))
    }

    /// The key id the database expects, if it holds a vault (to pick between a key file and a
    /// staged one after an interrupted rotation).
    ///
    /// # Errors
    /// Database errors.
    pub async fn expected_key_id(store: &Store) -> Result<Option<String>> {
        let mut conn = store.pool().acquire().await?;
        Ok(read_meta(&mut conn).await?.map(|m| m.key_id))
    }

    /// Replaces the policy settings.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// Replaces the staff sign-in settings.
    pub fn set_staff_settings(&mut self, settings: StaffSettings) {
        self.staff_settings = settings;
    }

    /// The staff sign-in settings in force.
    pub fn staff_settings(&self) -> StaffSettings {
        self.staff_settings
    }

    /// Current key version.
    pub fn key_version(&self) -> i64 {
        self.keys.version
    }

    /// Id of the master key in use.
    pub fn key_id(&self) -> String {
        self.keys.kek.key_id()
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now, by the vault's clock: the one clock the web layer and the audit trail share.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Records in the audit trail what happened to a message about a record that left by
    /// e-mail (`email.sent` with the server's reply, or `email.not-sent` with the reason),
    /// as the caller holding `permission` for it.
    ///
    /// # Errors
    /// [`VaultError::Forbidden`]; [`VaultError::Invalid`] for another action; no record;
    /// database errors.
    pub async fn audit_note(
        &self,
        auth: &Authorized,
        permission: Permission,
        record_id: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let actor = auth.require(permission)?;
        if !matches!(action, "email.sent" | "email.not-sent") {
            return Err(VaultError::Invalid(crate::Invalid::NoteAction {
                action: action.to_owned(),
            }));
        }
        let record = self.record_by_id(record_id).await?;
        self.store
            .write(async |conn: &mut AnyConnection| {
                self.audit(
                    conn,
                    actor,
                    action,
                    Some((&record.id, &record.upn)),
                    detail.clone(),
                )
                .await
                .map(|_| ())
            })
            .await
    }

    pub(crate) async fn audit(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        action: &str,
        record: Option<(&str, &str)>,
        detail: serde_json::Value,
    ) -> Result<i64> {
        let event = AuditEvent {
            actor: actor.name.clone(),
            action: action.to_owned(),
            subject: record.map(|(_, upn)| upn.to_owned()),
            record_id: record.map(|(id, _)| id.to_owned()),
            detail,
        };
        audit_chain::append(conn, &self.keys.audit, self.now(), event).await
    }
}
