//! The seed vault: a sqlx store on SQLite (default) or PostgreSQL holding captured TOTP seeds
//! under envelope encryption, their lifecycle, and a hash-chained, MAC'd audit trail.
//!
//! Invariants: knows nothing of HTTP or terminals; never reads the system clock (a [`Clock`] is
//! injected); every change and its audit event share one transaction; a seed leaves the vault
//! only inside an audited reveal or export.

mod apikeys;
mod approvals;
mod audit_chain;
mod backend;
mod clock;
mod error;
mod group;
mod keyfile;
mod keyring;
mod listing;
mod login_throttle;
mod lookup;
pub mod owner_only;
mod policy;
mod records;
mod reveal;
mod rotation;
mod schema;
mod staff;
mod state;
mod store;
mod tokens;
mod vault;

pub use apikeys::ApiKey;
pub use approvals::{Approval, ApprovalId, MIN_CALLER_PASSPHRASE_CHARS};
pub use audit_chain::{AuditEntry, AuditFilter, AuditProblem, AuditReport};
pub use backend::Backend;
pub use clock::{Clock, FixedClock, UnixTime};
pub use error::{Result, VaultError};
pub use keyfile::{
    create_key_file, parse_key_hex, promote_staged_key, read_key_file, stage_key_file, staged_path,
};
pub use keyring::KeySpec;
pub use listing::{MAX_PAGE_SIZE, PageCursor, PageQuery, RecordPage};
pub use login_throttle::FAILURE_WINDOW_SECS;
pub use policy::{
    Authorized, Permission, Policy, Principal, Role, allows, permission_matrix_markdown,
};
pub use records::{
    Algorithm, NewRecord, Record, RecordId, Shipment, TokenParams, normalise_upn, validate_upn,
};
pub use reveal::{ExportedSeed, REVEAL_PAST_STEPS, RevealRequest};
pub use schema::{SchemaStatus, schema_status};
pub use staff::{MIN_PASSWORD_CHARS, Session, SessionStage, Staff, normalise_username};
pub use state::{ALL_STATES, State, TransitionError};
pub use store::{Snapshot, Store};
pub use tokendesk_crypto::{KdfParams, MasterKey, Passphrase, PasswordParams};
pub use tokens::{API_KEY_PREFIX, SESSION_PREFIX, SETUP_PREFIX, SecretString};
pub use vault::{
    Actor, DEFAULT_REVEAL_MAX_FUTURE_SECS, ListFilter, Settings, StaffSettings, TokenUpdate, Vault,
};

impl Vault {
    /// Verifies the audit chain end to end.
    ///
    /// # Errors
    /// Database errors; a broken chain is reported in the [`AuditReport`].
    pub async fn audit_verify(&self) -> Result<AuditReport> {
        audit_chain::verify(self.store.pool(), &self.keys.audit).await
    }

    /// Lists audit entries, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        audit_chain::list(self.store.pool(), filter).await
    }
}
