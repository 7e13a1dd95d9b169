//! `tokendesk bulk …`: provision a team at once. `generate` captures a fresh random 160-bit
//! seed for every user of a CSV of UPNs (one transaction, all or nothing); `burn` then burns a
//! stack of Token2 tokens over NFC one after another (tap, burn, read back and verify, record
//! the serial, next), resumable: the state lives in the vault (a record is `captured`, then
//! bound to its token's serial before the write, then `burned`), so rerunning the same command
//! continues where it stopped and never puts one seed on two tokens.

mod burn;

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use tokendesk_otp::Algorithm;
use tokendesk_vault::TokenParams;

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::vault_cmd::{Ctx, VaultOptions, runtime, vault_error};

/// Provision many users at once: generate their seeds, then burn a stack of tokens.
#[derive(Debug, Args)]
pub struct BulkArgs {
    #[command(subcommand)]
    command: BulkCommand,
}

#[derive(Debug, Subcommand)]
enum BulkCommand {
    /// Capture a new random 160-bit seed for every user in a CSV of UPNs (all or nothing).
    Generate(GenerateArgs),
    /// Burn the captured seeds of the users in the CSV onto tokens, one after another; run it
    /// again after an interruption to resume.
    Burn(burn::BurnArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgorithmArg {
    Sha1,
    Sha256,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// CSV whose first column is the user's UPN (header optional; `;` or `,`).
    users: PathBuf,
    /// HMAC algorithm of the tokens.
    #[arg(long, value_enum, default_value = "sha1")]
    algorithm: AlgorithmArg,
    /// Time step in seconds: 30 or 60.
    #[arg(long, default_value = "30",
          value_parser = clap::builder::PossibleValuesParser::new(["30", "60"]))]
    period: String,
    /// The users' language for e-mails and the message for the user (a tag such as `de`).
    #[arg(long, value_name = "TAG")]
    language: Option<String>,
    /// Check the list and say what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs a `bulk` subcommand.
///
/// # Errors
/// Exit 2 for the user list and flags; exit 3 for the vault, PC/SC and the tokens.
pub(crate) fn run(
    args: &BulkArgs,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    match &args.command {
        BulkCommand::Generate(g) => generate(g, opts, clock, out),
        BulkCommand::Burn(b) => burn::run(b, opts, clock, out),
    }
}

/// The users of a CSV of UPNs, by the vault's rule; every bad line is reported at once.
pub(crate) fn read_users(path: &std::path::Path) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::input(anyhow::Error::new(e).context(format!("cannot read {}", path.display())))
    })?;
    let normalise = |u: &str| tokendesk_vault::validate_upn(u).map_err(|e| e.to_string());
    let (users, errors) = tokendesk_formats::csv::parse_users(&text, &normalise);
    if !errors.is_empty() {
        return Err(CliError::input(anyhow!(
            "{} bad line(s) in {}; nothing changed:\n{}",
            errors.len(),
            path.display(),
            errors.join("\n")
        )));
    }
    if users.is_empty() {
        return Err(CliError::input(anyhow!(
            "{} names no users (one UPN per line)",
            path.display()
        )));
    }
    Ok(users.into_iter().map(|(_, u)| u).collect())
}

fn generate(
    g: &GenerateArgs,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let users = read_users(&g.users)?;
    let params = TokenParams {
        algorithm: match g.algorithm {
            AlgorithmArg::Sha1 => Algorithm::Sha1,
            AlgorithmArg::Sha256 => Algorithm::Sha256,
        },
        digits: 6,
        period_secs: g
            .period
            .parse()
            .map_err(|_| CliError::input(anyhow!("the period must be 30 or 60 seconds")))?,
    };
    let ctx = Ctx::new(opts, clock);
    let batch = runtime()?.block_on(async {
        let vault = ctx.open().await?;
        if g.dry_run {
            let active = vault.bulk_conflicts(&users).await.map_err(vault_error)?;
            vault.store().close().await;
            if !active.is_empty() {
                let lines: Vec<String> = active
                    .iter()
                    .map(|(upn, state)| {
                        format!("{upn} already has an active record ({})", state.as_str())
                    })
                    .collect();
                return Err(CliError::input(anyhow!(
                    "{} user(s) already have an active record; cancel, lose or deliver it \
                     first:\n{}",
                    lines.len(),
                    lines.join("\n")
                )));
            }
            return Ok(None);
        }
        let batch = vault
            .bulk_generate(&ctx.admin(), &users, params, g.language.as_deref())
            .await
            .map_err(|e| {
                let err = vault_error(e);
                CliError {
                    exit_code: err.exit_code,
                    error: err.error.context("no seeds generated"),
                }
            })?;
        vault.store().close().await;
        Ok::<_, CliError>(Some(batch))
    })?;
    let Some(batch) = batch else {
        writeln!(
            out,
            "dry run: {} user(s) would get a new 160-bit seed ({}, {} s); nothing changed",
            users.len(),
            params.algorithm,
            params.period_secs
        )?;
        return Ok(Outcome::Done);
    };
    writeln!(
        out,
        "generated {} seed(s) of 160 bits ({}, {} s); the records are captured as batch {}",
        batch.records.len(),
        params.algorithm,
        params.period_secs,
        batch.id
    )?;
    writeln!(
        out,
        "next: tokendesk bulk burn {} (with the tokens at hand), or on a desk signed in to the \
         server: tokendesk bulk burn --remote --batch {}",
        g.users.display(),
        batch.id
    )?;
    Ok(Outcome::Done)
}
