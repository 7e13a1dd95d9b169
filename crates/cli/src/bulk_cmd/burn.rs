//! `bulk burn`: the stack of tokens. For each user of the list whose record is `captured`: wait
//! for a token, refuse a wrong one (already burned, bound to another user, not a programmable
//! model) with what to do, bind the seed to the token's serial in the vault, burn, read the
//! token back (serial and clock), then move the record to `burned`. A record already bound to
//! a serial (an interrupted burn) is finished on that token only.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use tokendesk_vault::{Record, State};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::vault_cmd::{Ctx, VaultOptions, runtime, vault_error};

#[derive(Debug, Args)]
pub(super) struct BurnArgs {
    /// The same CSV of UPNs given to `bulk generate`.
    users: PathBuf,
    /// Reader name, or a unique part of it (see `tokendesk nfc readers`).
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
    /// Seconds to wait for each token before stopping (rerun the command to resume).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    wait: u64,
    /// Seconds the display stays on: 15, 30, 60 or 120.
    #[arg(long, value_name = "SECS", default_value = "30",
          value_parser = clap::builder::PossibleValuesParser::new(["15", "30", "60", "120"]))]
    display_timeout: String,
    /// Burn tokens whose serial is not a known programmable Token2 model.
    #[arg(long)]
    force_unknown_model: bool,
}

/// The records still to burn, those bound to a token (interrupted) first, and the count of
/// users already past `captured`.
struct Plan {
    todo: Vec<Record>,
    done: usize,
}

async fn plan(vault: &tokendesk_vault::Vault, users: &[String]) -> Result<Plan, CliError> {
    let (mut bound, mut fresh, mut done, mut problems) = (vec![], vec![], 0, vec![]);
    for upn in users {
        match vault.current(upn).await {
            Ok(r) if r.state == State::Captured && r.serial.is_some() => bound.push(r),
            Ok(r) if r.state == State::Captured => fresh.push(r),
            Ok(r) if matches!(r.state, State::Burned | State::Shipped | State::Delivered) => {
                done += 1;
            }
            Ok(r) => problems.push(format!(
                "{upn}: the record is {}; run `tokendesk bulk generate` for a new seed",
                r.state.as_str()
            )),
            Err(tokendesk_vault::VaultError::Record(tokendesk_vault::RecordError::NoRecord {
                ..
            })) => problems.push(format!(
                "{upn}: no record; run `tokendesk bulk generate` with this list first"
            )),
            Err(e) => return Err(vault_error(e)),
        }
    }
    if !problems.is_empty() {
        return Err(CliError::input(anyhow!(
            "nothing burned:\n{}",
            problems.join("\n")
        )));
    }
    bound.extend(fresh);
    Ok(Plan { todo: bound, done })
}

pub(super) fn run(
    args: &BurnArgs,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let users = super::read_users(&args.users)?;
    let display_timeout = args
        .display_timeout
        .parse::<u32>()
        .ok()
        .and_then(tokendesk_nfc::DisplayTimeout::from_secs)
        .ok_or_else(|| CliError::input(anyhow!("the display timeout must be 15, 30, 60 or 120")))?;
    let ctx = Ctx::new(opts, clock);
    runtime()?.block_on(async {
        let vault = ctx.open().await?;
        let plan = plan(&vault, &users).await?;
        let total = plan.todo.len() + plan.done;
        let bound = plan.todo.iter().filter(|r| r.serial.is_some()).count();
        writeln!(
            out,
            "{} user(s): {} already burned, {} to burn{}",
            total,
            plan.done,
            plan.todo.len(),
            if bound > 0 {
                format!(" ({bound} interrupted, finished first on their own tokens)")
            } else {
                String::new()
            }
        )?;
        if plan.todo.is_empty() {
            return Ok(Outcome::Done);
        }
        let station = station::Station::open(args, display_timeout)?;
        let mut burned = plan.done;
        for record in &plan.todo {
            station
                .burn_one(&vault, &ctx, record, (burned + 1, total), clock, out)
                .await
                .map_err(|e| {
                    let err = CliError::env(e);
                    CliError {
                        exit_code: err.exit_code,
                        error: err.error.context(format!(
                            "stopped after {burned} of {total}; run the same command again to \
                             resume"
                        )),
                    }
                })?;
            burned += 1;
        }
        vault.store().close().await;
        writeln!(out, "done: {burned} of {total} token(s) burned")?;
        Ok(Outcome::Done)
    })
}

#[cfg(feature = "nfc-pcsc")]
mod station;

#[cfg(not(feature = "nfc-pcsc"))]
mod station {
    //! Built without PC/SC: `bulk burn` explains how to get it.
    use super::*;

    pub(super) struct Station;

    impl Station {
        pub(super) fn open(
            _: &BurnArgs,
            _: tokendesk_nfc::DisplayTimeout,
        ) -> Result<Self, CliError> {
            Err(CliError::env(anyhow!(
                "this tokendesk was built without PC/SC support; rebuild it with default \
                 features (cargo feature `nfc-pcsc`)"
            )))
        }

        pub(super) async fn burn_one(
            &self,
            _: &tokendesk_vault::Vault,
            _: &Ctx<'_>,
            _: &Record,
            _: (usize, usize),
            _: &dyn Clock,
            _: &mut dyn Write,
        ) -> anyhow::Result<()> {
            Err(anyhow!("built without PC/SC support"))
        }
    }
}
