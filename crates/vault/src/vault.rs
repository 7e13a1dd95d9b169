//! The vault facade: open/init with a master key, capture, lifecycle moves, listing. Every
//! change and its audit event are written in one transaction through `Store::write`.

use std::sync::Arc;

use serde_json::json;
use sqlx::AnyConnection;
use sqlx::Row;
use tokendesk_crypto::{DataKey, PasswordParams};
use tokendesk_otp::Secret;
use zeroize::Zeroizing;

use crate::audit_chain::{self, AuditEvent};
use crate::clock::{Clock, UnixTime};
use crate::error::{RecordError, StoreError};
use crate::error::{Result, VaultError};
use crate::group::RevealGroup;
use crate::keyring::{KeySpec, Keyring, read_meta, record_context, resolve_new};
use crate::policy::Actor;
use crate::records::{
    NewRecord, RECORD_COLUMNS, Record, RecordId, Shipment, check_params, new_record_id,
    normalise_upn, record_from_row, validate_upn,
};
use crate::state::State;
use crate::store::{Store, on_unique};

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
        }
    }
}

/// Filter for [`Vault::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only records in this state.
    pub state: Option<State>,
    /// Only shipped records in transit longer than this many days.
    pub overdue_days: Option<i64>,
}

/// Token details learnt when burning.
#[derive(Debug, Clone, Default)]
pub struct TokenUpdate {
    /// Serial number.
    pub serial: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
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

/// A sealed seed as stored, for internal decryption.
#[derive(Clone)]
pub(crate) struct SealedRow {
    pub id: String,
    pub upn: String,
    pub key_version: i64,
    pub wrapped_dek: Vec<u8>,
    pub sealed_seed: Vec<u8>,
}

impl Vault {
    /// Creates the vault in an empty, migrated database.
    ///
    /// # Errors
    /// [`VaultError::Store(StoreError::AlreadyInitialised)`] if a vault exists; database errors.
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
        Ok(Self {
            store,
            keys,
            clock,
            settings: Settings::default(),
            staff_settings: StaffSettings::default(),
            reveals: RevealGroup::default(),
            secret_checks: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Opens an existing vault, checking the master key before anything else happens.
    ///
    /// # Errors
    /// [`VaultError::Store(StoreError::NotInitialised)`], [`VaultError::Store(StoreError::WrongKey)`],
    /// [`VaultError::Store(StoreError::KeySourceMismatch)`]; database errors.
    pub async fn open(store: Store, spec: KeySpec, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut conn = store.pool().acquire().await?;
        let meta = read_meta(&mut conn)
            .await?
            .ok_or(VaultError::Store(StoreError::NotInitialised))?;
        drop(conn);
        let keys = Keyring::open(&meta, spec)?;
        Ok(Self {
            store,
            keys,
            clock,
            settings: Settings::default(),
            staff_settings: StaffSettings::default(),
            reveals: RevealGroup::default(),
            secret_checks: std::sync::atomic::AtomicU64::new(0),
        })
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

    pub(crate) fn now(&self) -> UnixTime {
        self.clock.now()
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

    /// Seals a seed for a new record: fresh data key, AAD = record id, UPN, key version.
    fn seal_new(&self, id: &str, upn: &str, seed: &[u8]) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let v = self.keys.version;
        let dek = DataKey::generate()?;
        let sealed = dek.seal(seed, &record_context("seed", id, upn, v))?;
        let wrapped = self
            .keys
            .kek
            .wrap(&dek, &record_context("dek", id, upn, v))?;
        let fingerprint = self.keys.fingerprint.mac(&[seed]).to_vec();
        Ok((wrapped.0, sealed, fingerprint))
    }

    /// Opens a stored seed; any authentication failure is reported as tampering of that record.
    pub(crate) fn open_sealed(&self, row: &SealedRow) -> Result<Zeroizing<Vec<u8>>> {
        let tampered = || {
            VaultError::Store(StoreError::Tampered {
                record: row.id.clone(),
            })
        };
        let dek = self
            .keys
            .kek
            .unwrap(
                &row.wrapped_dek,
                &record_context("dek", &row.id, &row.upn, row.key_version),
            )
            .map_err(|_| tampered())?;
        dek.open(
            &row.sealed_seed,
            &record_context("seed", &row.id, &row.upn, row.key_version),
        )
        .map_err(|_| tampered())
    }

    /// Inserts new records with multi-row statements, returning their ids: the one place the
    /// `records` column list is written, for single captures and imports alike.
    pub(crate) async fn insert_records_bulk(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        items: &[(String, &NewRecord, &Secret)],
    ) -> Result<Vec<String>> {
        const PER_ROW: usize = 18;
        let now = self.now().0;
        let mut ids = Vec::with_capacity(items.len());
        for chunk in items.chunks(BULK_ROWS) {
            let mut sql = String::from(
                "INSERT INTO records (id, upn, display_name, phone, notes, serial, model, \
                 manufacturer, algorithm, digits, period_secs, created_by, created_unix_secs, \
                 updated_unix_secs, key_version, wrapped_dek, sealed_seed, seed_fingerprint, \
                 drift_steps, state) VALUES ",
            );
            for i in 0..chunk.len() {
                let base = i * PER_ROW;
                let params: Vec<String> = (1..=PER_ROW).map(|k| format!("${}", base + k)).collect();
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("({}, 0, 'captured')", params.join(", ")));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (upn, new, seed) in chunk {
                let id = new_record_id()?;
                let (wrapped, sealed, fingerprint) =
                    self.seal_new(&id, upn, seed.expose_bytes())?;
                query = query
                    .bind(id.clone())
                    .bind(upn.clone())
                    .bind(new.display_name.clone())
                    .bind(new.phone.clone())
                    .bind(new.notes.clone())
                    .bind(new.serial.clone())
                    .bind(new.model.clone())
                    .bind(new.manufacturer.clone())
                    .bind(new.params.algorithm.as_str())
                    .bind(i64::from(new.params.digits))
                    .bind(i64::from(new.params.period_secs))
                    .bind(actor.name.clone())
                    .bind(now)
                    .bind(now)
                    .bind(self.keys.version)
                    .bind(wrapped)
                    .bind(sealed)
                    .bind(fingerprint);
                ids.push(id);
            }
            query.execute(&mut *conn).await.map_err(|e| {
                on_unique(e, || match chunk {
                    [(upn, _, _)] => VaultError::Record(RecordError::ActiveRecordExists {
                        upn: upn.clone(),
                        state: State::Captured,
                    }),
                    _ => VaultError::Invalid(
                        "a user in this batch already has an active record".into(),
                    ),
                })
            })?;
        }
        Ok(ids)
    }

    /// Captures a seed: one new record in state `captured` plus its audit event. The seed is
    /// sealed at once and never returned by any read path.
    ///
    /// # Errors
    /// Invalid UPN or parameters; [`VaultError::Record(RecordError::ActiveRecordExists)`]; database errors.
    pub async fn capture(&self, actor: &Actor, new: NewRecord, seed: &Secret) -> Result<Record> {
        let upn = validate_upn(&new.upn)?;
        check_params(&new.params)?;
        let id = self
            .store
            .write(async |conn: &mut AnyConnection| {
                if let Some(active) = current_record(conn, &upn).await?
                    && active.state.is_active()
                {
                    return Err(VaultError::Record(RecordError::ActiveRecordExists {
                        upn: upn.clone(),
                        state: active.state,
                    }));
                }
                let id = self
                    .insert_records_bulk(conn, actor, &[(upn.clone(), &new, seed)])
                    .await?
                    .pop()
                    .ok_or_else(|| VaultError::Invalid("the record was not stored".into()))?;
                let detail = json!({ "serial": new.serial, "source": "capture" });
                self.audit(conn, actor, "capture", Some((&id, &upn)), detail)
                    .await?;
                Ok(id)
            })
            .await?;
        self.record_by_id(&id).await
    }

    /// Captures many seeds in one transaction (an import): every record and its audit event,
    /// then one `import` summary event. Any failure (for example a user who already has an
    /// active record) rolls back the whole batch.
    ///
    /// # Errors
    /// Invalid UPN or parameters (with the 1-based item number); [`VaultError::Record(RecordError::ActiveRecordExists)`];
    /// database errors.
    pub async fn capture_batch(
        &self,
        actor: &Actor,
        items: &[(NewRecord, Secret)],
        source: &str,
    ) -> Result<usize> {
        let mut prepared = Vec::with_capacity(items.len());
        for (n, (new, seed)) in items.iter().enumerate() {
            let upn = validate_upn(&new.upn)
                .and_then(|u| check_params(&new.params).map(|()| u))
                .map_err(|e| VaultError::Invalid(format!("item {}: {e}", n + 1)))?;
            prepared.push((upn, new, seed));
        }
        self.store
            .write(async |conn: &mut AnyConnection| {
                check_no_active(conn, &prepared).await?;
                let ids = self.insert_records_bulk(conn, actor, &prepared).await?;
                let mut events = Vec::with_capacity(prepared.len() + 1);
                for ((upn, new, _), id) in prepared.iter().zip(ids) {
                    events.push(AuditEvent {
                        actor: actor.name.clone(),
                        action: "capture".into(),
                        subject: Some(upn.clone()),
                        record_id: Some(id),
                        detail: json!({ "serial": new.serial, "source": source }),
                    });
                }
                events.push(AuditEvent {
                    actor: actor.name.clone(),
                    action: "import".into(),
                    subject: None,
                    record_id: None,
                    detail: json!({ "source": source, "records": prepared.len() }),
                });
                audit_chain::append_many(conn, &self.keys.audit, self.now(), events).await?;
                Ok(prepared.len())
            })
            .await
    }

    async fn record_by_id(&self, id: &str) -> Result<Record> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(self.store.pool())
            .await?;
        record_from_row(&row)
    }

    /// The user's current record: the active one if any, else the newest.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`]; database errors.
    pub async fn current(&self, upn: &str) -> Result<Record> {
        let upn = normalise_upn(upn)?;
        let mut conn = self.store.pool().acquire().await?;
        current_record(&mut conn, &upn)
            .await?
            .ok_or(VaultError::Record(RecordError::NoRecord { upn }))
    }

    /// All records of a user, newest first.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`] if there are none; database errors.
    pub async fn history(&self, upn: &str) -> Result<Vec<Record>> {
        let upn = normalise_upn(upn)?;
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE upn = $1 \
             ORDER BY created_unix_secs DESC, id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&upn)
            .fetch_all(self.store.pool())
            .await?;
        if rows.is_empty() {
            return Err(VaultError::Record(RecordError::NoRecord { upn }));
        }
        rows.iter().map(record_from_row).collect()
    }

    /// Records matching `filter`, ordered by user.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Record>> {
        let cutoff = filter
            .overdue_days
            .map(|days| self.now().0 - days.saturating_mul(86_400));
        let state = match (filter.state, cutoff) {
            (_, Some(_)) => Some(State::Shipped.as_str()),
            (Some(s), None) => Some(s.as_str()),
            (None, None) => None,
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records \
             WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) \
               AND (CAST($2 AS BIGINT) IS NULL OR shipped_unix_secs < $2) \
             ORDER BY upn, created_unix_secs"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(cutoff)
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Moves exactly the record `id` to `to` after the transition table allows it, applies
    /// `extra` column changes, and writes the audit event, all in one transaction. A stale id
    /// (the record moved on since the caller looked) is refused with the record's current
    /// state, never applied to another record of the user.
    pub(crate) async fn change_state(
        &self,
        actor: &Actor,
        id: &RecordId,
        to: State,
        detail: serde_json::Value,
        extra: Extra,
    ) -> Result<Record> {
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                self.apply_change(conn, actor, &record, to, detail, extra)
                    .await?;
                Ok(())
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// The id of the user's current record (the active one if any, else the newest), for
    /// callers that name a user rather than a record (the CLI). Resolve it once, then move
    /// that record by id.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`]; database errors.
    pub async fn current_record_id(&self, upn: &str) -> Result<RecordId> {
        self.current(upn).await.map(|r| RecordId::from(&r))
    }

    pub(crate) async fn apply_change(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        record: &Record,
        to: State,
        detail: serde_json::Value,
        extra: Extra,
    ) -> Result<()> {
        record.state.transition(to)?;
        let now = self.now().0;
        let done = sqlx::query(
            "UPDATE records SET state = $1, updated_unix_secs = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(&record.id)
        .bind(record.state.as_str())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(VaultError::Invalid(format!(
                "the record of {} changed meanwhile; try again",
                record.upn
            )));
        }
        extra.apply(conn, &record.id, now).await?;
        if !to.has_seed() {
            shred(conn, &record.id).await?;
        }
        let action = format!("state.{to}");
        let mut detail = detail;
        if let Some(map) = detail.as_object_mut() {
            map.insert("from".into(), json!(record.state.as_str()));
            map.insert(
                "seed_destroyed".into(),
                json!(!to.has_seed() && record.has_seed),
            );
        }
        self.audit(
            conn,
            actor,
            &action,
            Some((&record.id, &record.upn)),
            detail,
        )
        .await?;
        Ok(())
    }

    /// captured → burned, recording token details.
    ///
    /// # Errors
    /// Illegal transition (naming the current state); no record; database errors.
    pub async fn mark_burned(
        &self,
        actor: &Actor,
        id: &RecordId,
        token: TokenUpdate,
    ) -> Result<Record> {
        let detail = json!({ "serial": token.serial, "model": token.model });
        self.change_state(actor, id, State::Burned, detail, Extra::Token(token))
            .await
    }

    /// burned → shipped.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn ship(&self, actor: &Actor, id: &RecordId, shipment: Shipment) -> Result<Record> {
        let detail = json!({
            "carrier": shipment.carrier,
            "tracking": shipment.tracking,
            "expected_unix_secs": shipment.expected_unix_secs,
        });
        self.change_state(actor, id, State::Shipped, detail, Extra::Ship(shipment))
            .await
    }

    /// captured/burned → cancelled; the seed is destroyed at once.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn cancel(&self, actor: &Actor, id: &RecordId, reason: &str) -> Result<Record> {
        let detail = json!({ "reason": reason });
        self.change_state(actor, id, State::Cancelled, detail, Extra::None)
            .await
    }

    /// shipped → lost; the seed is destroyed at once and the user must re-enrol.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn lose(&self, actor: &Actor, id: &RecordId, reason: &str) -> Result<Record> {
        let detail = json!({ "reason": reason });
        self.change_state(actor, id, State::Lost, detail, Extra::None)
            .await
    }

    /// shipped → delivered after checking `code` (read from the token's display) against the
    /// seed within `window_steps` of now; stores the measured drift and stops reveals. With a
    /// retention of 0 the seed is purged in the same transaction, otherwise `purge_due`
    /// destroys it later. A code that does not match changes nothing.
    ///
    /// # Errors
    /// Illegal transition; [`VaultError::Record(RecordError::CodeMismatch)`]; no record; database errors.
    pub async fn deliver(
        &self,
        actor: &Actor,
        id: &RecordId,
        code: &str,
        window_steps: u64,
    ) -> Result<Record> {
        let retention = self.settings.retention_secs;
        let now = self.now();
        self.store
            .write(async |conn: &mut AnyConnection| {
                let record = record_in(conn, id).await?;
                let upn = record.upn.clone();
                record.state.transition(State::Delivered)?;
                let sealed = sealed_row(conn, &record.id)
                    .await?
                    .ok_or_else(|| VaultError::Record(RecordError::Purged { upn: upn.clone() }))?;
                let seed = self.open_sealed(&sealed)?;
                let totp = crate::reveal::totp_for(&seed, &record.params)?;
                let when = u64::try_from(now.0).unwrap_or_default();
                let drift_steps = match tokendesk_otp::drift_search(&totp, when, code.trim(), None, window_steps) {
                    tokendesk_otp::Drift::Found { offset_steps, .. } => offset_steps,
                    tokendesk_otp::Drift::NotFound => {
                        return Err(VaultError::Record(RecordError::CodeMismatch { upn: upn.clone(), window_steps }));
                    }
                    tokendesk_otp::Drift::Ambiguous { .. } => {
                        return Err(VaultError::Invalid(
                            "the code matches several steps; read the next code from the token and try again".into(),
                        ));
                    }
                };
                let due = now.0 + retention;
                let detail = json!({ "drift_steps": drift_steps, "purge_due_unix_secs": due });
                self.apply_change(conn, actor, &record, State::Delivered, detail, Extra::Deliver { drift_steps, due })
                    .await?;
                if retention <= 0 {
                    let delivered = Record { state: State::Delivered, ..record.clone() };
                    let detail = json!({ "reason": "delivered, no retention" });
                    self.apply_change(conn, actor, &delivered, State::Purged, detail, Extra::None)
                        .await?;
                }
                Ok(())
            })
            .await?;
        self.record_by_id(&id.0).await
    }

    /// delivered → purged: crypto-shreds the seed (wrapped data key and ciphertext deleted);
    /// the keyed fingerprint stays.
    ///
    /// # Errors
    /// Illegal transition; no record; database errors.
    pub async fn purge(&self, actor: &Actor, id: &RecordId) -> Result<Record> {
        let detail = json!({ "reason": "purge" });
        self.change_state(actor, id, State::Purged, detail, Extra::None)
            .await
    }

    /// Purges every delivered record whose retention has run out; one transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn purge_due(&self, actor: &Actor) -> Result<usize> {
        let now = self.now().0;
        self.store
            .write(async |conn: &mut AnyConnection| {
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM records WHERE state = 'delivered' \
                     AND purge_due_unix_secs <= $1 ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_all(&mut *conn)
                    .await?;
                let records = rows
                    .iter()
                    .map(record_from_row)
                    .collect::<Result<Vec<_>>>()?;
                for record in &records {
                    let detail = json!({ "reason": "retention ended" });
                    self.apply_change(conn, actor, record, State::Purged, detail, Extra::None)
                        .await?;
                }
                Ok(records.len())
            })
            .await
    }

    /// Whether `seed` is the seed that was captured for the user's newest record, answered from
    /// the keyed fingerprint, so it works after purge too.
    ///
    /// # Errors
    /// [`VaultError::Record(RecordError::NoRecord)`]; database errors.
    pub async fn fingerprint_matches(&self, upn: &str, seed: &Secret) -> Result<bool> {
        let upn = normalise_upn(upn)?;
        let rows = sqlx::query("SELECT seed_fingerprint FROM records WHERE upn = $1")
            .bind(&upn)
            .fetch_all(self.store.pool())
            .await?;
        if rows.is_empty() {
            return Err(VaultError::Record(RecordError::NoRecord { upn }));
        }
        let mut found = false;
        for row in &rows {
            let tag: Vec<u8> = row.try_get("seed_fingerprint")?;
            found |= self.keys.fingerprint.verify(&[seed.expose_bytes()], &tag);
        }
        Ok(found)
    }
}

/// Rows per multi-row INSERT: 18 parameters each stays far below SQLite's and PostgreSQL's
/// parameter limits.
pub(crate) const BULK_ROWS: usize = 200;

/// Refuses a batch naming the first user who already has an active record.
async fn check_no_active(
    conn: &mut AnyConnection,
    items: &[(String, &NewRecord, &Secret)],
) -> Result<()> {
    for chunk in items.chunks(BULK_ROWS * 4) {
        let params: Vec<String> = (1..=chunk.len()).map(|k| format!("${k}")).collect();
        let sql = format!(
            "SELECT upn, state FROM records WHERE state IN ('captured', 'burned', 'shipped') \
             AND upn IN ({}) ORDER BY upn LIMIT 1",
            params.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (upn, _, _) in chunk {
            query = query.bind(upn.clone());
        }
        if let Some(row) = query.fetch_optional(&mut *conn).await? {
            let state: String = row.try_get("state")?;
            return Err(VaultError::Record(RecordError::ActiveRecordExists {
                upn: row.try_get("upn")?,
                state: state.parse().map_err(StoreError::Corrupt)?,
            }));
        }
    }
    Ok(())
}

/// Column changes that go with a transition.
pub(crate) enum Extra {
    None,
    Token(TokenUpdate),
    Ship(Shipment),
    Deliver { drift_steps: i64, due: i64 },
}

impl Extra {
    async fn apply(self, conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
        match self {
            Extra::None => {}
            Extra::Token(t) => {
                sqlx::query(
                    "UPDATE records SET serial = COALESCE($1, serial), model = COALESCE($2, model), \
                     manufacturer = COALESCE($3, manufacturer) WHERE id = $4",
                )
                .bind(t.serial)
                .bind(t.model)
                .bind(t.manufacturer)
                .bind(id)
                .execute(conn)
                .await?;
            }
            Extra::Ship(s) => {
                sqlx::query(
                    "UPDATE records SET carrier = $1, tracking = $2, expected_unix_secs = $3, \
                     shipped_unix_secs = $4 WHERE id = $5",
                )
                .bind(s.carrier)
                .bind(s.tracking)
                .bind(s.expected_unix_secs)
                .bind(now)
                .bind(id)
                .execute(conn)
                .await?;
            }
            Extra::Deliver { drift_steps, due } => {
                sqlx::query(
                    "UPDATE records SET drift_steps = $1, purge_due_unix_secs = $2 WHERE id = $3",
                )
                .bind(drift_steps)
                .bind(due)
                .bind(id)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// Crypto-shredding: the wrapped data key and the ciphertext go; the fingerprint stays.
async fn shred(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE records SET wrapped_dek = NULL, sealed_seed = NULL, key_version = NULL, \
         purge_due_unix_secs = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Exactly the record `id`, or [`VaultError::Record(RecordError::NoRecord)`] naming it.
pub(crate) async fn record_in(conn: &mut AnyConnection, id: &RecordId) -> Result<Record> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&id.0)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => record_from_row(&row),
        None => Err(VaultError::Record(RecordError::NoRecord {
            upn: format!("record {id}"),
        })),
    }
}

/// The active record of a user, else the newest.
pub(crate) async fn current_record(conn: &mut AnyConnection, upn: &str) -> Result<Option<Record>> {
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE upn = $1 ORDER BY \
         CASE WHEN state IN ('captured', 'burned', 'shipped') THEN 0 ELSE 1 END, \
         created_unix_secs DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(upn)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}

/// The sealed columns of a record, for reveal, export and rotation.
pub(crate) async fn sealed_row(conn: &mut AnyConnection, id: &str) -> Result<Option<SealedRow>> {
    let row = sqlx::query(
        "SELECT id, upn, key_version, wrapped_dek, sealed_seed FROM records \
         WHERE id = $1 AND sealed_seed IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(sealed_from_row).transpose()
}

pub(crate) fn sealed_from_row(row: &sqlx::any::AnyRow) -> Result<SealedRow> {
    Ok(SealedRow {
        id: row.try_get("id")?,
        upn: row.try_get("upn")?,
        key_version: row.try_get("key_version")?,
        wrapped_dek: row.try_get("wrapped_dek")?,
        sealed_seed: row.try_get("sealed_seed")?,
    })
}
