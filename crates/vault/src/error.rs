//! The vault's errors, one enum per area ([`StoreError`], [`StaffError`], [`RecordError`],
//! [`RevealError`]) composed into [`VaultError`]. Messages name states, positions and key ids,
//! never secrets.

use crate::invalid::Invalid;
use crate::policy::{Forbidden, Permission, Role};
use crate::state::{State, TransitionError};

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// Storage, keys or integrity.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Staff identity.
    #[error(transparent)]
    Staff(#[from] StaffError),
    /// Records and their lifecycle.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Reveals.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    /// The role does not carry the permission.
    #[error("the {role} role may not {permission}")]
    Forbidden {
        /// The caller's role.
        role: Role,
        /// What was asked.
        permission: Permission,
    },
    /// Input that cannot be stored (bad UPN, digits, period...): one [`Invalid`] reason.
    #[error("invalid input: {0}")]
    Invalid(Invalid),
}

/// Storage, keys and integrity: the database, migrations, the master key, sealed data and the audit chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The shared transaction of a batch of reveals failed; none of them was committed or
    /// disclosed.
    #[error("database error, nothing was revealed: {message}")]
    BatchFailed {
        /// The database's error.
        message: String,
        /// It was [`VaultError::is_unavailable`]: trying again shortly may work.
        unavailable: bool,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The database was migrated by a newer tokendesk than this one.
    #[error(
        "the database has schema version {database}, newer than this tokendesk knows ({binary}): \
         it was upgraded by a newer tokendesk; run that version (or newer), or restore a backup \
         made by this one"
    )]
    SchemaNewer {
        /// Highest migration applied to the database.
        database: i64,
        /// Highest migration this build carries.
        binary: i64,
    },
    /// The URL names no supported backend.
    #[error("unsupported database URL scheme {scheme:?}; use sqlite://PATH or postgres://...")]
    UnsupportedUrl {
        /// The scheme given.
        scheme: String,
    },
    /// `init` on a vault that already exists.
    #[error(
        "this database already holds a vault (key id {key_id}); refusing to initialise it again"
    )]
    AlreadyInitialised {
        /// Key id the vault expects.
        key_id: String,
    },
    /// `open` on a database without a vault.
    #[error("this database holds no vault yet; run `tokendesk init` first")]
    NotInitialised,
    /// The master key given is not the one the vault was sealed with.
    #[error(
        "the master key does not open this vault (expected key id {expected}, got {got}); check TOKENDESK_MASTER_KEY_FILE or the passphrase"
    )]
    WrongKey {
        /// Key id recorded in the vault.
        expected: String,
        /// Key id of the key given.
        got: String,
    },
    /// The vault is passphrase-protected but a key was given, or the reverse.
    #[error("this vault's master key comes from a {expected}, not a {got}")]
    KeySourceMismatch {
        /// Source recorded in the vault.
        expected: &'static str,
        /// Source given.
        got: &'static str,
    },
    /// A ciphertext failed to open: tampered data or a ciphertext moved to another record.
    #[error(
        "the sealed seed of record {record} failed authentication (tampered or moved ciphertext)"
    )]
    Tampered {
        /// Record id.
        record: String,
    },
    /// Key file problems.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// Path of the key file.
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The audit chain does not verify.
    #[error("audit chain broken: {0}")]
    AuditBroken(String),
    /// A cryptographic primitive failed (random generator, parameters).
    #[error(transparent)]
    Crypto(tokendesk_crypto::CryptoError),
    /// A stored value is not what the schema allows (hand-edited database).
    #[error("corrupt database row: {0}")]
    Corrupt(String),
}

/// Staff identity: setup, accounts, sign-in and lockout, sessions, second factor, API keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StaffError {
    /// Unknown user, disabled account or wrong password: deliberately one answer.
    #[error("sign-in failed: unknown user name or wrong password")]
    LoginFailed,
    /// Too many failed sign-ins; the account is locked for a while.
    #[error("too many failed sign-ins; this account is locked, try again in {retry_after_secs} s")]
    LockedOut {
        /// Seconds until the lock ends.
        retry_after_secs: i64,
    },
    /// The session token is unknown, expired or ended.
    #[error("the session has expired or was ended; sign in again")]
    SessionInvalid,
    /// The session is at another sign-in step than the operation needs.
    #[error("this step does not apply now: the session is at stage {stage}")]
    WrongStage {
        /// Stage the session is at.
        stage: &'static str,
    },
    /// A TOTP code (staff second factor) that is wrong, expired or already used.
    #[error(
        "the code is wrong, expired or already used; wait for the next code in your authenticator app"
    )]
    WrongCode,
    /// The first-admin setup link is wrong, expired or already used.
    #[error(
        "the setup link is invalid, expired or already used; restart `tokendesk serve` with an empty staff table for a new one"
    )]
    SetupTokenInvalid,
    /// No staff account with this name.
    #[error("no staff account named {username:?}")]
    StaffNotFound {
        /// The name asked for.
        username: String,
    },
    /// A staff account with this name exists.
    #[error("a staff account named {username:?} already exists")]
    StaffExists {
        /// The name.
        username: String,
    },
    /// The change would leave no enabled admin.
    #[error("{username} is the last enabled admin; make another admin first")]
    LastAdmin {
        /// The admin concerned.
        username: String,
    },
    /// No API key with this name.
    #[error("no API key named {name:?}")]
    ApiKeyNotFound {
        /// The name asked for.
        name: String,
    },
    /// An API key with this name exists.
    #[error("an API key named {name:?} already exists; revoke it or pick another name")]
    ApiKeyExists {
        /// The name.
        name: String,
    },
    /// The identity provider vouched for a person tokendesk gives no role.
    #[error(
        "{login} has no tokendesk role: ask a tokendesk administrator to create your account, or your identity provider's administrator to give you one of the tokendesk roles"
    )]
    NoRole {
        /// The name the provider gave.
        login: String,
    },
    /// The provider's account cannot be used as a tokendesk name.
    #[error(
        "the identity provider did not send a usable e-mail address or user name ({login:?}: invalid input: {reason}); ask a tokendesk administrator"
    )]
    ProviderLoginUnusable {
        /// The name the provider sent.
        login: String,
        /// Why it is not a tokendesk user name.
        reason: crate::Invalid,
    },
    /// The account is linked to another account of the identity provider.
    #[error(
        "the tokendesk account {username:?} is linked to another account of the identity provider; ask a tokendesk administrator"
    )]
    LinkedElsewhere {
        /// The tokendesk account.
        username: String,
    },
    /// The account is disabled.
    #[error("this tokendesk account is disabled; ask a tokendesk administrator")]
    Disabled,
    /// Local sign-in is reserved for admins (break-glass); others use the identity provider.
    #[error(
        "sign in with your organisation's account (the button above the form); local passwords are for administrators' emergency access only"
    )]
    ProviderSignInRequired,
    /// The sign-in sent to the provider is unknown, used or expired.
    #[error(
        "this sign-in was already completed, has expired or was not started here; start the sign-in again"
    )]
    FlowInvalid,
    /// No desk is waiting for this code (mistyped, expired or answered already).
    #[error(
        "no desk is waiting for this code: check it against the desk's screen, or run `tokendesk login` again there"
    )]
    DeskCodeUnknown,
    /// The desk session is not the caller's and the caller may not manage staff.
    #[error("no desk session {id:?} of yours is active")]
    DeskSessionNotFound {
        /// The session id asked for.
        id: String,
    },
    /// A burn grant that does not exist, is for someone else, has expired or was used.
    #[error("{reason}")]
    BurnGrantRefused {
        /// Why (never the grant itself).
        reason: BurnGrantRefusal,
    },
}

/// Records and their lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A lifecycle move that the transition table forbids.
    #[error(transparent)]
    Transition(TransitionError),
    /// The user already has a record in an active state.
    #[error("{upn} already has an active record (state {state}); cancel, lose or deliver it first")]
    ActiveRecordExists {
        /// The user.
        upn: String,
        /// State of the active record.
        state: State,
    },
    /// The token on the reader must not take this seed (another token holds the seed's claim,
    /// or this token stands for another record).
    #[error("{reason}")]
    WrongToken {
        /// What to do, in words for the person at the reader.
        reason: String,
    },
    /// The record asked for is not in this bulk batch.
    #[error("record {record:?} is not in bulk batch {batch:?}")]
    NotInBatch {
        /// The batch.
        batch: String,
        /// The record id asked for.
        record: String,
    },
    /// No bulk batch with this id.
    #[error("no bulk batch {id:?}; the batches are listed on the bulk page")]
    NoBatch {
        /// The id asked for.
        id: String,
    },
    /// No record for this user.
    #[error("no record for {upn}")]
    NoRecord {
        /// The user.
        upn: String,
    },
    /// The code read from a delivered token does not match the stored seed.
    #[error(
        "the code does not match {upn}'s token within {window_steps} steps of now; check the token and read the current code again"
    )]
    CodeMismatch {
        /// The user.
        upn: String,
        /// Steps searched either side of now.
        window_steps: u64,
    },
    /// The seed of a purged record is gone.
    #[error("the seed of {upn} has been purged; nothing to export or reveal")]
    Purged {
        /// The user.
        upn: String,
    },
}

/// Reveals: state, quota, window, caller passphrase and four-eyes approvals.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevealError {
    /// Reveals are allowed only in captured, burned and shipped.
    #[error("codes cannot be revealed for {upn}: the record is {state}")]
    NotRevealable {
        /// The user.
        upn: String,
        /// The record's state.
        state: State,
    },
    /// The per-user daily reveal quota is used up.
    #[error(
        "{upn} has had {used} reveals today, the daily quota is {quota}; ask a second approver"
    )]
    QuotaExceeded {
        /// The user.
        upn: String,
        /// Reveals already made today.
        used: i64,
        /// The quota.
        quota: i64,
    },
    /// A reveal asked for a code further from now than the vault allows (a few steps back,
    /// [`crate::Settings::reveal_max_future_secs`] ahead).
    #[error("{0}")]
    OutsideRevealWindow(WindowRefusal),
    /// Too many failed caller-passphrase attempts today.
    #[error(
        "{upn} has had {limit} failed passphrase attempts today; verify the caller another way (call-back)"
    )]
    TooManyAttempts {
        /// The user.
        upn: String,
        /// Failures allowed per UTC day.
        limit: i64,
    },
    /// The approval given with a reveal cannot be used, or an approval request is refused.
    #[error("approval {id}: {reason}")]
    ApprovalInvalid {
        /// Approval id.
        id: String,
        /// Why.
        reason: ApprovalRefusal,
    },
}

/// A time asked for outside the reveal window ([`RevealError::OutsideRevealWindow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowRefusal {
    /// Further ahead than the setting allows.
    #[error(
        "a code {} ahead was asked for; codes can be revealed at most {} ahead (setting reveal_max_future_hours)",
        WindowRefusal::duration(*ahead_secs),
        WindowRefusal::duration(*max_secs)
    )]
    Ahead {
        /// How far ahead the code was asked for.
        ahead_secs: i64,
        /// The limit.
        max_secs: i64,
    },
    /// Further back than the vault allows.
    #[error(
        "a code {} in the past was asked for; codes can be revealed at most {steps} steps ({back_secs} s) back",
        WindowRefusal::duration(*ago_secs)
    )]
    Past {
        /// How far back the code was asked for.
        ago_secs: i64,
        /// The limit in steps of the token.
        steps: i64,
        /// The limit in seconds.
        back_secs: i64,
    },
}

impl WindowRefusal {
    /// A duration as the message writes it: whole hours as `2 h`, else seconds (`90 s`).
    pub fn duration(secs: i64) -> String {
        if secs >= 3600 && secs % 3600 == 0 {
            format!("{} h", secs / 3600)
        } else {
            format!("{secs} s")
        }
    }
}

/// Why an approval cannot be given or used ([`RevealError::ApprovalInvalid`]). Not
/// `#[non_exhaustive]`: the web maps each to a status and to words in every language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    /// No approval request has this id.
    #[error("no such approval request")]
    Unknown,
    /// Approving: someone approved it first.
    #[error("it has been approved already")]
    ApprovedAlready,
    /// Approving: the request is too old.
    #[error("the request has expired; ask for a new approval")]
    RequestExpired,
    /// Approving one's own request (also through one's own API key).
    #[error(
        "nobody can approve their own request, also not with an API key they created; another person must approve it"
    )]
    OwnRequest,
    /// Revealing: nobody has approved it yet.
    #[error("it has not been approved yet")]
    NotApproved,
    /// Revealing with an approval one gave oneself.
    #[error("the approver cannot use their own approval; the requester reveals")]
    OwnApproval,
    /// Revealing: the approval was spent.
    #[error("it has been used already")]
    Used,
    /// Revealing: the approval is too old.
    #[error("it has expired; ask for a new approval")]
    Expired,
    /// Revealing another user's or record's code with it.
    #[error("it was given for another user or record")]
    OtherRecord,
}

/// Why a burn grant is refused ([`StaffError::BurnGrantRefused`]), in words for the person at
/// the desk. Not `#[non_exhaustive]`, like [`ApprovalRefusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BurnGrantRefusal {
    /// The grantee is an API key or a name without a staff account.
    #[error("burn grants are for staff accounts only")]
    StaffOnly,
    /// Granting a record that is not captured.
    #[error("only a captured record is burned on a desk reader; this one is not captured")]
    NotCaptured,
    /// Text that is not shaped like a grant.
    #[error("this is not a burn grant; copy the command from the record's page")]
    NotAGrant,
    /// No such grant.
    #[error("no such burn grant; copy the command from the record's page")]
    Unknown,
    /// Someone else's grant.
    #[error("this burn grant was made for another person")]
    OtherPerson,
    /// A spent grant.
    #[error("this burn grant was used already; ask for a new one on the record's page")]
    Used,
    /// A grant spent by a concurrent fetch.
    #[error("this burn grant was used already")]
    UsedMeanwhile,
    /// A grant past its lifetime.
    #[error("this burn grant has expired; ask for a new one on the record's page")]
    Expired,
    /// The record moved on since the grant was made.
    #[error("the record is no longer captured; nothing to burn")]
    NoLongerCaptured,
}

impl From<Forbidden> for VaultError {
    fn from(f: Forbidden) -> Self {
        VaultError::Forbidden {
            role: f.role,
            permission: f.permission,
        }
    }
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e).into()
    }
}

impl From<sqlx::migrate::MigrateError> for VaultError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e).into()
    }
}

impl From<tokendesk_crypto::CryptoError> for VaultError {
    fn from(e: tokendesk_crypto::CryptoError) -> Self {
        StoreError::Crypto(e).into()
    }
}

impl From<TransitionError> for VaultError {
    fn from(e: TransitionError) -> Self {
        RecordError::Transition(e).into()
    }
}

impl VaultError {
    /// The database could not be reached or was busy (a lost or refused connection, a server
    /// shutting down or starting, no free connection in time, SQLite's lock held too long):
    /// nothing was changed, and the same request may well work a moment later. Every other
    /// error is an answer about the request or a fault to look into.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            VaultError::Store(StoreError::Database(e)) => database_unavailable(e),
            VaultError::Store(StoreError::BatchFailed { unavailable, .. }) => *unavailable,
            _ => false,
        }
    }
}

/// See [`VaultError::is_unavailable`].
fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), 57P01–57P03 (the server shutting
            // down, crashed, or not yet accepting connections), 53300 (too many connections).
            // SQLite: 5 and 6 (SQLITE_BUSY, SQLITE_LOCKED) and their extended codes.
            code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
                || code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
        }
        _ => false,
    }
}

/// Result alias for the vault.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;
