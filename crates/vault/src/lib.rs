//! The seed vault: a sqlx store on SQLite (default) or PostgreSQL holding captured TOTP seeds
//! under envelope encryption, their lifecycle, and a hash-chained, MAC'd audit trail.
//!
//! Invariants: knows nothing of HTTP or terminals; never reads the system clock (a [`Clock`] is
//! injected); every change and its audit event share one transaction; a seed leaves the vault
//! only inside an audited reveal or export.

mod error;
mod identity;
mod invalid;
mod policy;
mod records;
mod reveal;
mod rotation;
mod state;
mod store;
mod tokens;
mod vault;

pub use error::{
    ApprovalRefusal, BurnGrantRefusal, RecordError, Result, RevealError, StaffError, StoreError,
    VaultError, WindowRefusal,
};
pub use identity::{
    ApiKey, DESK_POLL_INTERVAL_SECS, DESK_REQUEST_TTL_SECS, DESK_TOKEN_PREFIX, DeskCaller,
    DeskPending, DeskPoll, DeskRequest, DeskSession, FAILURE_WINDOW_SECS, Identity,
    MAX_DESK_SESSION_SECS, MIN_PASSWORD_CHARS, OIDC_FLOW_TTL_SECS, ProviderIdentity, Session,
    SessionStage, Staff, check_desk_name, desk_actor, normalise_user_code, normalise_username,
};
pub use invalid::{Invalid, UpnRule};

pub use policy::{
    Actor, Authorized, Forbidden, Permission, Policy, Principal, Role, UnknownRole, allows,
    permission_matrix_markdown,
};
pub use records::{
    Algorithm, BULK_SEED_BYTES, Batch, BatchSummary, ListFilter, MAX_PAGE_SIZE, NewRecord,
    PageCursor, PageQuery, Record, RecordId, RecordPage, Shipment, TokenParams, TokenUpdate,
    bound_elsewhere, check_email, check_language_tag, check_time_zone_name, is_burned,
    normalise_upn, token_taken, validate_upn,
};
pub use reveal::{
    Approval, ApprovalId, BATCH_BUCKETS, BURN_GRANT_PREFIX, BURN_GRANT_TTL_SECS, BatchSizes,
    ExportCheck, ExportWriteError, ExportWriter, ExportedSeed, MIN_CALLER_PASSPHRASE_CHARS,
    Purpose, REVEAL_PAST_STEPS, RevealRequest, SeedExport, Ticket, Verification, graph_ready,
};
pub use state::{ALL_STATES, State, TransitionError};
pub use store::audit_chain::{AuditEntry, AuditFilter, AuditProblem, AuditReport};
pub use store::backend::Backend;
pub use store::clock::{Clock, FixedClock, UnixTime};
pub use store::keyfile::{
    create_key_file, parse_key_hex, promote_staged_key, read_key_file, stage_key_file, staged_path,
};
pub use store::keyring::KeySpec;
pub use store::schema::{SchemaStatus, schema_status};
pub use store::{BackupReport, CheckedBackup, Store, owner_only};
pub use tokendesk_crypto::{KdfParams, MasterKey, Passphrase, PasswordParams};
pub use tokens::{API_KEY_PREFIX, SESSION_PREFIX, SETUP_PREFIX, SecretString};
pub use vault::{DEFAULT_REVEAL_MAX_FUTURE_SECS, Settings, StaffSettings, Vault};

impl Vault {
    /// Verifies the audit chain end to end.
    ///
    /// # Errors
    /// Database errors; a broken chain is reported in the [`AuditReport`].
    pub async fn audit_verify(&self) -> Result<AuditReport> {
        store::audit_chain::verify(self.store.pool(), &self.keys.audit).await
    }

    /// Lists audit entries, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        store::audit_chain::list(self.store.pool(), filter).await
    }

    /// The action names that occur in the audit trail, sorted.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_actions(&self) -> Result<Vec<String>> {
        store::audit_chain::actions(self.store.pool()).await
    }
}
