//! The vault commands (`init`, `add`, `list`, `show`, `code`, lifecycle moves, `audit`, `key
//! rotate`, `import`, `export`): global options, key resolution from the environment, and the
//! mapping of vault errors to exit codes. The async vault runs on a single-threaded runtime here.

mod admin;
mod exchange;
mod import;
mod records;
mod staff;

pub(crate) use admin::{InitArgs, init};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use clap::Subcommand;
use tokendesk_vault::{
    Actor, Authorized, FixedClock, KeySpec, Passphrase, Policy, Principal, Role, Settings, Store,
    Vault, VaultError, read_key_file,
};
use tokendesk_vault::{RecordError, RevealError, StoreError};
use zeroize::Zeroizing;

use crate::clock::Clock;
pub use crate::config::VaultOptions;
use crate::error::{CliError, Outcome};

/// Vault subcommands, flattened into the top-level `Command`.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault: data folder, database and a new master key file (mode 0600).
    Init(admin::InitArgs),
    /// Capture a seed for a user (state captured).
    Add(Box<records::AddArgs>),
    /// List records.
    List(records::ListArgs),
    /// Show a user's records (never the seed).
    Show(records::ShowArgs),
    /// Reveal the current (or a future) code to a verified caller; audited first.
    Code(records::CodeArgs),
    /// Mark the user's token as burned (captured → burned).
    Burned(records::BurnedArgs),
    /// Mark the token as shipped (burned → shipped).
    Ship(records::ShipArgs),
    /// Check a code from the arrived token and mark it delivered (shipped → delivered).
    Deliver(records::DeliverArgs),
    /// Cancel: the token will not be sent; the seed is destroyed.
    Cancel(records::ReasonArgs),
    /// The token was lost in transit; the seed is destroyed.
    Lost(records::ReasonArgs),
    /// Destroy a delivered record's seed now, or with --due every seed whose retention ended.
    Purge(records::PurgeArgs),
    /// Verify or list the audit trail.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Master key management.
    #[command(subcommand)]
    Key(admin::KeyCommand),
    /// Import seeds (all or nothing, --dry-run to check): spreadsheet or Entra CSV, PSKC, Token2
    /// TOTPVault, Aegis, 2FAS, Bitwarden, KeePassXC, Google Authenticator export screenshots.
    /// The format is detected from the file unless --format is given.
    Import(import::ImportArgs),
    /// Export seeds (audited) as Entra CSV, password-protected PSKC or otpauth URIs.
    Export(exchange::ExportArgs),
    /// Write a consistent online snapshot of the vault (SQLite or PostgreSQL; still encrypted)
    /// to FILE: versioned and checksummed, portable between the backends.
    Backup(admin::BackupArgs),
    /// Staff accounts of the web app: add, list, disable, enable, reset, role.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// API keys for the web app's JSON API: create, list, revoke.
    #[command(subcommand)]
    Apikey(staff::ApiKeyCommand),
    /// Replace the vault (SQLite or PostgreSQL) with a backup, after checking its checksum, that
    /// it opens with the current key and that its audit chain verifies. Stop other tokendesk
    /// processes first.
    Restore(admin::BackupArgs),
}

/// The single-threaded runtime every vault-backed command runs on.
///
/// # Errors
/// Exit 3 when the runtime cannot start.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::env(anyhow::Error::new(e).context("cannot start the runtime")))
}

/// Runs a vault command to completion on a private runtime.
///
/// # Errors
/// A [`CliError`] with exit code 2 (input) or 3 (database, key, environment).
pub(crate) fn run(
    cmd: &VaultCommand,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let runtime = runtime()?;
    let ctx = Ctx::new(opts, clock);
    runtime.block_on(async {
        match cmd {
            VaultCommand::Init(args) => admin::init(&ctx, args, out).await,
            VaultCommand::Add(args) => records::add(&ctx, args, out).await,
            VaultCommand::List(args) => records::list(&ctx, args, out).await,
            VaultCommand::Show(args) => records::show(&ctx, args, out).await,
            VaultCommand::Code(args) => records::code(&ctx, args, out).await,
            VaultCommand::Burned(args) => records::burned(&ctx, args, out).await,
            VaultCommand::Ship(args) => records::ship(&ctx, args, out).await,
            VaultCommand::Deliver(args) => records::deliver(&ctx, args, out).await,
            VaultCommand::Cancel(args) => records::cancel(&ctx, args, out, false).await,
            VaultCommand::Lost(args) => records::cancel(&ctx, args, out, true).await,
            VaultCommand::Purge(args) => records::purge(&ctx, args, out).await,
            VaultCommand::Audit(cmd) => admin::audit(&ctx, cmd, out).await,
            VaultCommand::Key(cmd) => admin::key(&ctx, cmd, out).await,
            VaultCommand::Import(args) => import::import(&ctx, args, out).await,
            VaultCommand::Export(args) => exchange::export(&ctx, args, out).await,
            VaultCommand::Backup(args) => admin::backup(&ctx, args, out).await,
            VaultCommand::Restore(args) => admin::restore(&ctx, args, out).await,
            VaultCommand::Staff(cmd) => staff::staff(&ctx, cmd, out).await,
            VaultCommand::Apikey(cmd) => staff::apikey(&ctx, cmd, out).await,
        }
    })
}

/// Who runs the command, for the audit trail when `--actor` is not given: the login name from
/// the environment (`USER`, `LOGNAME`, `USERNAME` on Windows), else the account that owns this
/// process (`root`, `uid:998`: a service started without a login environment, as `tokendesk
/// serve` under systemd or in a container), never "unknown" (issue 21: the first audit entry of
/// a fresh install named no one).
pub(crate) fn system_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(process_owner)
}

#[cfg(unix)]
fn process_owner() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self").map(|m| m.uid()) {
        Ok(0) => "root".to_owned(),
        Ok(uid) => format!("uid:{uid}"),
        Err(_) => "local-administrator".to_owned(),
    }
}

#[cfg(not(unix))]
fn process_owner() -> String {
    "local-administrator".to_owned()
}

/// Everything a command needs from the options and the environment.
pub(crate) struct Ctx<'a> {
    pub opts: &'a VaultOptions,
    pub now: i64,
    pub actor: Actor,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(opts: &'a VaultOptions, clock: &dyn Clock) -> Self {
        let name = opts.actor.clone().unwrap_or_else(system_user);
        Self {
            opts,
            now: i64::try_from(clock.now_unix_secs()).unwrap_or(i64::MAX),
            actor: Actor::new(name),
        }
    }

    /// The vault's proof for the command-line user: whoever can read the master key
    /// administers the vault, so every command acts with the administrator's permissions (each
    /// vault operation still checks its own against the table).
    pub fn admin(&self) -> Authorized {
        Policy::authorize_role(&Principal {
            actor: self.actor.clone(),
            role: Role::Admin,
        })
    }

    /// The clock the vault sees: fixed at the command's start, so the codes shown and the
    /// steps audited agree.
    pub fn clock(&self) -> Arc<FixedClock> {
        Arc::new(FixedClock::new(self.now))
    }

    pub fn database_url(&self) -> String {
        match &self.opts.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.opts.data.join("vault.db").display()),
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.opts
            .key_file
            .clone()
            .unwrap_or_else(|| self.opts.data.join("master.key"))
    }

    pub fn settings(&self) -> Settings {
        Settings {
            daily_reveal_quota: self.opts.reveal_quota,
            retention_secs: self.opts.retention_days.saturating_mul(86_400),
            reveal_max_future_secs: self
                .opts
                .reveal_max_future_hours
                .map_or(tokendesk_vault::DEFAULT_REVEAL_MAX_FUTURE_SECS, |h| {
                    h.saturating_mul(3600)
                }),
        }
    }

    pub async fn store(&self) -> Result<Store, CliError> {
        if self.opts.database.is_none() && !self.opts.data.join("vault.db").exists() {
            return Err(CliError::env(anyhow!(
                "no vault in {}; run `tokendesk init` or pass --data/--database",
                self.opts.data.display()
            )));
        }
        Store::open(&self.database_url()).await.map_err(vault_error)
    }

    /// Opens the vault with the key from the environment or the key file. After an
    /// interrupted rotation, a staged `<key file>.new` that the database expects is promoted.
    pub async fn open(&self) -> Result<Vault, CliError> {
        self.open_with(self.clock()).await
    }

    /// [`Ctx::open`] with a clock of the caller's (the server's runs).
    pub async fn open_with(
        &self,
        clock: Arc<dyn tokendesk_vault::Clock>,
    ) -> Result<Vault, CliError> {
        let store = self.store().await?;
        let spec = match env_key_spec()? {
            Some(spec) => spec,
            None => {
                let path = self.key_path();
                recover_staged_key(&store, &path).await?;
                KeySpec::Key(read_key_file(&path).map_err(vault_error)?)
            }
        };
        let mut vault = Vault::open(store, spec, clock).await.map_err(vault_error)?;
        vault.set_settings(self.settings());
        Ok(vault)
    }
}

/// `TOKENDESK_MASTER_KEY` (hex) or `TOKENDESK_PASSPHRASE`, if set.
pub(crate) fn env_key_spec() -> Result<Option<KeySpec>, CliError> {
    if let Ok(hex) = std::env::var("TOKENDESK_MASTER_KEY") {
        let hex = Zeroizing::new(hex);
        let key = tokendesk_vault::parse_key_hex(&hex)
            .map_err(|e| CliError::input(anyhow!("TOKENDESK_MASTER_KEY: {e}")))?;
        return Ok(Some(KeySpec::Key(key)));
    }
    if let Ok(text) = std::env::var("TOKENDESK_PASSPHRASE") {
        return Ok(Some(KeySpec::Passphrase {
            passphrase: Passphrase::new(Zeroizing::new(text)),
            params: None,
        }));
    }
    Ok(None)
}

async fn recover_staged_key(store: &Store, path: &Path) -> Result<(), CliError> {
    let staged = tokendesk_vault::staged_path(path);
    if !staged.exists() {
        return Ok(());
    }
    let expected = Vault::expected_key_id(store).await.map_err(vault_error)?;
    let staged_id = read_key_file(&staged).map(|k| k.key_id()).ok();
    if expected.is_some() && staged_id == expected {
        tokendesk_vault::promote_staged_key(path).map_err(vault_error)?;
    }
    Ok(())
}

/// Input problems exit 2; the database, keys and tampering exit 3.
pub(crate) fn vault_error(err: VaultError) -> CliError {
    match err {
        VaultError::Invalid(_)
        | VaultError::Record(RecordError::Transition(_))
        | VaultError::Record(RecordError::ActiveRecordExists { .. })
        | VaultError::Record(RecordError::NoRecord { .. })
        | VaultError::Reveal(RevealError::NotRevealable { .. })
        | VaultError::Reveal(RevealError::QuotaExceeded { .. })
        | VaultError::Reveal(RevealError::OutsideRevealWindow(_))
        | VaultError::Record(RecordError::Purged { .. })
        | VaultError::Record(RecordError::CodeMismatch { .. })
        | VaultError::Store(StoreError::AlreadyInitialised { .. })
        | VaultError::Store(StoreError::UnsupportedUrl { .. }) => CliError::input(err),
        _ => CliError::env(err),
    }
}

/// Writes one JSON value and a newline.
pub(crate) fn write_json(value: &serde_json::Value, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "{value}")?;
    Ok(())
}
