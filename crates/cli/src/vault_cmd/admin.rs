//! Administration: `init`, `audit verify|list` and `key rotate`.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::json;
use tokendesk_vault::{
    AuditEntry, AuditFilter, CheckedBackup, KdfParams, KeySpec, MasterKey, Passphrase, Store,
    Vault, VaultError, create_key_file, promote_staged_key, stage_key_file,
};
use zeroize::Zeroizing;

use super::{Ctx, env_key_spec, vault_error, write_json};
use crate::error::{CliError, Outcome};
use crate::timefmt::{Zone, parse_at};

/// `tokendesk init`.
#[derive(Debug, Args, Default)]
pub struct InitArgs {
    /// Derive the master key from a passphrase (TOKENDESK_PASSPHRASE, or the first line of
    /// standard input) with Argon2id instead of creating a key file.
    #[arg(long)]
    passphrase: bool,
    /// Argon2id memory in KiB for --passphrase (default 19456).
    #[arg(long, value_name = "KIB", hide = true)]
    kdf_memory_kib: Option<u32>,
}

fn read_passphrase(var: &str) -> Result<Passphrase, CliError> {
    if let Ok(text) = std::env::var(var) {
        return Ok(Passphrase::new(Zeroizing::new(text)));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::env(anyhow::Error::new(e).context("cannot read standard input")))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.chars().count() < 12 {
        return Err(CliError::input(anyhow!(
            "the passphrase must have at least 12 characters (set {var} or type it on standard input)"
        )));
    }
    Ok(Passphrase::new(trimmed))
}

fn kdf_params(memory_kib: Option<u32>) -> Result<Option<KdfParams>, CliError> {
    memory_kib
        .map(|m| KdfParams::with_costs(m, 2, 1).map_err(|e| CliError::env(anyhow::Error::new(e))))
        .transpose()
}

pub(crate) async fn init(
    ctx: &Ctx<'_>,
    args: &InitArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    tokendesk_vault::owner_only::create_dir_all(&ctx.opts.data).map_err(|e| {
        CliError::env(
            anyhow::Error::new(e).context(format!("cannot create {}", ctx.opts.data.display())),
        )
    })?;
    let store = tokendesk_vault::Store::open(&ctx.database_url())
        .await
        .map_err(vault_error)?;
    if let Some(key_id) = Vault::expected_key_id(&store).await.map_err(vault_error)? {
        return Err(vault_error(tokendesk_vault::VaultError::Store(
            tokendesk_vault::StoreError::AlreadyInitialised { key_id },
        )));
    }
    let mut created_file = None;
    let spec = match env_key_spec()? {
        Some(KeySpec::Passphrase { passphrase, .. }) => KeySpec::Passphrase {
            passphrase,
            params: kdf_params(args.kdf_memory_kib)?,
        },
        Some(spec) => spec,
        None if args.passphrase => KeySpec::Passphrase {
            passphrase: read_passphrase("TOKENDESK_PASSPHRASE")?,
            params: kdf_params(args.kdf_memory_kib)?,
        },
        None => {
            let path = ctx.key_path();
            let key = create_key_file(&path).map_err(vault_error)?;
            created_file = Some(path);
            KeySpec::Key(key)
        }
    };
    let vault = match Vault::init(store, spec, ctx.clock(), &ctx.actor).await {
        Ok(v) => v,
        Err(e) => {
            // A key file nobody will ever use must not be left behind.
            if let Some(path) = &created_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(vault_error(e));
        }
    };
    writeln!(
        out,
        "vault created in {} ({}), master key id {}",
        ctx.opts.data.display(),
        vault.store().backend().as_str(),
        vault.key_id()
    )?;
    if let Some(path) = created_file {
        writeln!(
            out,
            "master key file: {} (mode 0600). Back it up apart from the database: without it no seed can be read.",
            path.display()
        )?;
    }
    Ok(Outcome::Done)
}

/// `tokendesk audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and MACs; names the first edited, deleted, inserted or reordered entry.
    Verify {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List audit entries (oldest first).
    List(AuditListArgs),
}

/// `tokendesk audit list`.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only events about this user.
    #[arg(long)]
    user: Option<String>,
    /// Only events by this staff member.
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (capture, reveal, state.shipped, export, key.rotate...).
    #[arg(long)]
    action: Option<String>,
    /// Events at or after TIME.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events before TIME.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// The newest N entries.
    #[arg(long, value_name = "N")]
    limit: Option<i64>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

fn time_arg(text: &Option<String>) -> Result<Option<i64>, CliError> {
    text.as_deref()
        .map(|t| {
            parse_at(t)
                .map_err(CliError::input)
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        })
        .transpose()
}

pub(crate) async fn audit(
    ctx: &Ctx<'_>,
    cmd: &AuditCommand,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    match cmd {
        AuditCommand::Verify { json } => {
            let report = vault.audit_verify().await.map_err(vault_error)?;
            let problem = report.problem.as_ref().map(ToString::to_string);
            if *json {
                write_json(
                    &json!({ "entries": report.entries, "intact": problem.is_none(), "problem": problem }),
                    out,
                )?;
            } else if let Some(p) = &problem {
                writeln!(
                    out,
                    "audit chain BROKEN after checking {} entries: {p}",
                    report.entries
                )?;
            } else {
                writeln!(out, "audit chain intact: {} entries", report.entries)?;
            }
            Ok(if problem.is_some() {
                Outcome::Negative
            } else {
                Outcome::Done
            })
        }
        AuditCommand::List(args) => {
            let filter = AuditFilter {
                subject: args.user.as_deref().map(str::to_lowercase),
                actor: args.actor.clone(),
                action: args.action.clone(),
                since_unix_secs: time_arg(&args.since)?,
                until_unix_secs: time_arg(&args.until)?,
                limit: args.limit,
            };
            let entries = vault.audit_list(&filter).await.map_err(vault_error)?;
            if args.json {
                let items: Vec<_> = entries.iter().map(AuditEntry::to_json).collect();
                write_json(&json!(items), out)?;
            } else {
                let zone = Zone::local();
                for e in &entries {
                    writeln!(
                        out,
                        "{:>6} {} {:<12} {:<16} {:<32} {}",
                        e.seq,
                        zone.datetime(u64::try_from(e.at_unix_secs).unwrap_or_default()),
                        e.actor,
                        e.action,
                        e.subject.as_deref().unwrap_or("-"),
                        e.detail
                    )?;
                }
            }
            Ok(Outcome::Done)
        }
    }
}

/// `tokendesk key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-wrap every seed under a new master key in one transaction. Key-file vaults get a new
    /// key file (staged as FILE.new, renamed after the commit); with TOKENDESK_MASTER_KEY set,
    /// give the new key in TOKENDESK_NEW_MASTER_KEY; passphrase vaults take
    /// TOKENDESK_NEW_PASSPHRASE.
    Rotate,
}

pub(crate) async fn key(
    ctx: &Ctx<'_>,
    cmd: &KeyCommand,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let KeyCommand::Rotate = cmd;
    let mut vault = ctx.open().await?;
    let old_version = vault.key_version();
    let env_var = |name: &str| std::env::var(name).ok().map(Zeroizing::new);
    let count = if std::env::var_os("TOKENDESK_MASTER_KEY").is_some() {
        let hex = env_var("TOKENDESK_NEW_MASTER_KEY").ok_or_else(|| {
            CliError::input(anyhow!(
                "set TOKENDESK_NEW_MASTER_KEY to the new key (64 hex digits)"
            ))
        })?;
        let new = tokendesk_vault::parse_key_hex(&hex).map_err(vault_error)?;
        vault
            .rotate(&ctx.actor, KeySpec::Key(new))
            .await
            .map_err(vault_error)?
    } else if std::env::var_os("TOKENDESK_PASSPHRASE").is_some() {
        let passphrase = env_var("TOKENDESK_NEW_PASSPHRASE")
            .ok_or_else(|| CliError::input(anyhow!("set TOKENDESK_NEW_PASSPHRASE")))?;
        let spec = KeySpec::Passphrase {
            passphrase: Passphrase::new(passphrase),
            params: None,
        };
        vault.rotate(&ctx.actor, spec).await.map_err(vault_error)?
    } else {
        let path = ctx.key_path();
        let new = MasterKey::generate().map_err(|e| CliError::env(anyhow::Error::new(e)))?;
        let staged = stage_key_file(&path, &new).map_err(vault_error)?;
        match vault.rotate(&ctx.actor, KeySpec::Key(new)).await {
            Ok(n) => {
                promote_staged_key(&path).map_err(vault_error)?;
                n
            }
            Err(e) => {
                let _ = std::fs::remove_file(staged);
                return Err(vault_error(e));
            }
        }
    };
    writeln!(
        out,
        "master key rotated: version {old_version} → {}, key id {}, {count} seed(s) re-sealed",
        vault.key_version(),
        vault.key_id()
    )?;
    Ok(Outcome::Done)
}

/// `tokendesk backup FILE` / `tokendesk restore FILE`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file.
    file: std::path::PathBuf,
}

pub(crate) async fn backup(
    ctx: &Ctx<'_>,
    args: &BackupArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let vault = ctx.open().await?;
    if args.file.exists() {
        return Err(CliError::input(anyhow!(
            "{} exists; backups never overwrite",
            args.file.display()
        )));
    }
    let snapshot = vault
        .store()
        .backup_to(&args.file)
        .await
        .map_err(vault_error)?;
    let rows: usize = snapshot.row_counts().iter().map(|(_, n)| n).sum();
    writeln!(
        out,
        "backup of the {} vault written to {} ({rows} rows in {} tables, key id {}, key version {}); \
         keep the master key elsewhere",
        snapshot.backend(),
        args.file.display(),
        snapshot.row_counts().len(),
        vault.key_id(),
        vault.key_version()
    )?;
    Ok(Outcome::Done)
}

/// Checks a backup: the portable format, or a SQLite file from `VACUUM INTO` (older tokendesk),
/// which is first written out in the portable format beside `scratch` (removed by the guard).
async fn read_backup(
    path: &Path,
    scratch: &Path,
) -> Result<(CheckedBackup, Option<Removed>), VaultError> {
    let mut magic = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"SQLite format 3\0";
    if !is_sqlite {
        return Ok((CheckedBackup::open(path)?, None));
    }
    let copy = scratch.with_extension("legacy");
    remove_db_files(&copy);
    std::fs::copy(path, &copy).map_err(|e| {
        VaultError::Invalid(tokendesk_vault::Invalid::Operator(format!(
            "cannot copy the backup: {e}"
        )))
    })?;
    let portable = Removed(scratch.with_extension("legacy.tdb"));
    let _ = std::fs::remove_file(&portable.0);
    let result = async {
        let store = Store::open(&format!("sqlite://{}", copy.display())).await?;
        let written = store.backup_to(&portable.0).await;
        store.close().await;
        written
    }
    .await;
    remove_db_files(&copy);
    result?;
    Ok((CheckedBackup::open(&portable.0)?, Some(portable)))
}

/// A scratch file removed when dropped.
struct Removed(std::path::PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn remove_db_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

pub(crate) async fn restore(
    ctx: &Ctx<'_>,
    args: &BackupArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let sqlite_target = ctx.opts.database.is_none();
    if sqlite_target && !ctx.opts.data.is_dir() {
        return Err(CliError::env(anyhow!(
            "{} does not exist; create it (mode 0700) or run `tokendesk init` first",
            ctx.opts.data.display()
        )));
    }
    // The backup is checked in a scratch SQLite database: for a SQLite vault it becomes the new
    // file; for PostgreSQL it is thrown away after the check.
    let staging = if sqlite_target {
        ctx.opts.data.join("vault.db.restoring")
    } else {
        std::env::temp_dir().join(format!("tokendesk-restore-{}.db", std::process::id()))
    };
    remove_db_files(&staging);
    let checked = async {
        let (backup, scratch) = read_backup(&args.file, &staging).await?;
        let store = Store::open(&format!("sqlite://{}", staging.display())).await?;
        store.replace_with(&backup).await?;
        let spec = match env_key_spec().map_err(|e| {
            VaultError::Invalid(tokendesk_vault::Invalid::Operator(format!("{:#}", e.error)))
        })? {
            Some(spec) => spec,
            None => KeySpec::Key(tokendesk_vault::read_key_file(&ctx.key_path())?),
        };
        let vault = Vault::open(store, spec, ctx.clock()).await?;
        let report = vault.audit_verify().await?;
        vault.store().close().await;
        Ok::<_, VaultError>((backup, scratch, report, vault.key_id()))
    }
    .await;
    let (backup, _scratch, report, key_id) = match checked {
        Ok(v) => v,
        Err(e) => {
            remove_db_files(&staging);
            let err = vault_error(e);
            return Err(CliError {
                exit_code: err.exit_code,
                error: err.error.context("nothing restored"),
            });
        }
    };
    if let Some(problem) = report.problem {
        remove_db_files(&staging);
        return Err(CliError::input(anyhow!(
            "the backup's audit chain is broken ({problem}); nothing replaced"
        )));
    }
    if sqlite_target {
        // The old write-ahead log must not be replayed onto the restored file.
        for suffix in ["vault.db-wal", "vault.db-shm"] {
            let _ = std::fs::remove_file(ctx.opts.data.join(suffix));
        }
        std::fs::rename(&staging, ctx.opts.data.join("vault.db")).map_err(|e| {
            CliError::env(
                anyhow::Error::new(e).context("cannot move the restored database into place"),
            )
        })?;
        remove_db_files(&staging);
    } else {
        remove_db_files(&staging);
        let store = Store::open(&ctx.database_url())
            .await
            .map_err(vault_error)?;
        store.replace_with(&backup).await.map_err(|e| {
            let err = vault_error(e);
            CliError {
                exit_code: err.exit_code,
                error: err.error.context("nothing restored"),
            }
        })?;
        store.close().await;
    }
    writeln!(
        out,
        "restored {} audit entries from {} (a {} backup; key id {key_id})",
        report.entries,
        args.file.display(),
        backup.backend()
    )?;
    Ok(Outcome::Done)
}
