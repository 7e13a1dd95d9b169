//! The seed vault: a sqlx store on SQLite (default) or PostgreSQL holding captured TOTP seeds
//! under envelope encryption, their lifecycle, and a hash-chained, MAC'd audit trail.
//!
//! Invariants: knows nothing of HTTP or terminals; never reads the system clock (a [`Clock`] is
//! injected); every change and its audit event share one transaction; a seed leaves the vault
//! only inside an audited reveal or export.

mod audit_chain;
mod backend;
mod clock;
mod error;
mod keyfile;
mod keyring;
mod records;
mod reveal;
mod rotation;
mod state;
mod store;
mod vault;

pub use audit_chain::{AuditEntry, AuditFilter, AuditProblem, AuditReport};
pub use backend::Backend;
pub use clock::{Clock, FixedClock, UnixTime};
pub use error::{Result, VaultError};
pub use keyfile::{
    create_key_file, parse_key_hex, promote_staged_key, read_key_file, stage_key_file, staged_path,
};
pub use keyring::KeySpec;
pub use records::{Algorithm, NewRecord, Record, Shipment, TokenParams, normalise_upn};
pub use reveal::{ExportedSeed, RevealRequest};
pub use state::{ALL_STATES, State, TransitionError};
pub use store::{Snapshot, Store};
pub use tokendesk_crypto::{KdfParams, MasterKey, Passphrase};
pub use vault::{Actor, ListFilter, Settings, TokenUpdate, Vault};

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
