//! `bulk burn`: the stack of tokens. For each user still `captured`: wait for a token, refuse a
//! wrong one (already burned, bound to another user, not a programmable model) with what to do,
//! bind the seed to the token's serial, burn, read the token back (serial and clock), then
//! record it as `burned`. A record already bound to a serial (an interrupted burn) is finished
//! on that token only. The station (`station.rs`) is the same whether the seeds come from a
//! vault opened here (a CSV of UPNs) or from the server a desk is signed in to
//! (`--remote --batch ID`, `remote.rs`): only the [`Ledger`] differs.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use tokendesk_otp::Secret;
use tokendesk_vault::{RecordError, State, TokenParams, TokenUpdate, VaultError};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::vault_cmd::{Ctx, VaultOptions, runtime, vault_error};

mod remote;

#[derive(Debug, Args)]
pub(super) struct BurnArgs {
    /// The same CSV of UPNs given to `bulk generate` (not with `--remote`).
    #[arg(required_unless_present = "remote", conflicts_with = "remote")]
    users: Option<PathBuf>,
    /// Burn a batch of the server this desk is signed in to (`tokendesk login`); the server
    /// binds each seed to its token before handing it over.
    #[arg(long, requires = "batch")]
    remote: bool,
    /// The batch's id, from its page on the server or from `bulk generate` (with `--remote`).
    #[arg(long, value_name = "ID")]
    batch: Option<String>,
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

/// One user of the stack, as the station sees it.
pub(crate) struct Job {
    record_id: String,
    upn: String,
    /// The serial the seed is bound to (an interrupted burn).
    bound: Option<String>,
}

/// A seed handed to the station for the token on the reader; zeroized on drop.
pub(crate) struct Handed {
    secret: Secret,
    params: TokenParams,
}

/// Where the seeds come from and where burns are recorded.
pub(crate) trait Ledger {
    /// Binds `job`'s seed to token `serial` and hands it over, or says (`Err`) what to do with
    /// this token instead.
    async fn take(
        &self,
        job: &Job,
        serial: &str,
        model: Option<&str>,
    ) -> anyhow::Result<Result<Handed, String>>;

    /// Records `job` as burned on the token, with the code the burned seed gives now.
    async fn burned(
        &self,
        job: &Job,
        token: (&str, Option<&str>),
        code: &str,
        out: &mut dyn Write,
    ) -> anyhow::Result<()>;
}

/// The seeds of a vault opened here, acting as its administrator.
struct Local<'a> {
    vault: &'a tokendesk_vault::Vault,
    ctx: &'a Ctx<'a>,
}

impl Ledger for Local<'_> {
    async fn take(
        &self,
        job: &Job,
        serial: &str,
        model: Option<&str>,
    ) -> anyhow::Result<Result<Handed, String>> {
        let id = tokendesk_vault::RecordId(job.record_id.clone());
        let claimed = self
            .vault
            .claim_token(&self.ctx.admin(), &id, serial, model, Some("Token2"))
            .await;
        match claimed {
            Err(VaultError::Record(RecordError::WrongToken { reason })) => return Ok(Err(reason)),
            other => other?,
        };
        let exported = self
            .vault
            .export_seeds(&self.ctx.admin(), None, Some(&job.upn), "nfc-burn")
            .await?
            .pop()
            .ok_or_else(|| anyhow!("the vault holds no seed for {}", job.upn))?;
        if exported.record.id != job.record_id {
            return Err(anyhow!(
                "the record of {} changed meanwhile; run the command again",
                job.upn
            ));
        }
        Ok(Ok(Handed {
            secret: exported.secret(),
            params: exported.record.params,
        }))
    }

    async fn burned(
        &self,
        job: &Job,
        (serial, model): (&str, Option<&str>),
        _code: &str,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        self.vault
            .mark_burned(
                &self.ctx.admin(),
                &tokendesk_vault::RecordId(job.record_id.clone()),
                TokenUpdate {
                    serial: Some(serial.to_owned()),
                    model: model.map(str::to_owned),
                    manufacturer: Some("Token2".into()),
                },
            )
            .await?;
        Ok(())
    }
}

/// The records still to burn, those bound to a token (interrupted) first, the count of users
/// already burned, and the users in another state (`problems`).
struct Plan {
    todo: Vec<Job>,
    done: usize,
    problems: Vec<(String, State)>,
}

impl Plan {
    /// Sorts `(record id, upn, state, serial)` of every user.
    fn of(users: impl IntoIterator<Item = (String, String, State, Option<String>)>) -> Self {
        let (mut bound, mut fresh, mut done, mut problems) = (vec![], vec![], 0, vec![]);
        for (record_id, upn, state, serial) in users {
            let job = Job {
                record_id,
                upn,
                bound: serial,
            };
            match state {
                State::Captured if job.bound.is_some() => bound.push(job),
                State::Captured => fresh.push(job),
                s if tokendesk_vault::is_burned(s) => done += 1,
                s => problems.push((job.upn, s)),
            }
        }
        bound.extend(fresh);
        Self {
            todo: bound,
            done,
            problems,
        }
    }

    /// Burns the plan's tokens one after another, saying how far it got when it stops.
    async fn run(
        self,
        args: &BurnArgs,
        ledger: &impl Ledger,
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> Result<Outcome, CliError> {
        let display_timeout = args
            .display_timeout
            .parse::<u32>()
            .ok()
            .and_then(tokendesk_nfc::DisplayTimeout::from_secs)
            .ok_or_else(|| {
                CliError::input(anyhow!("the display timeout must be 15, 30, 60 or 120"))
            })?;
        let total = self.todo.len() + self.done;
        let bound = self.todo.iter().filter(|r| r.bound.is_some()).count();
        writeln!(
            out,
            "{} user(s): {} already burned, {} to burn{}",
            total,
            self.done,
            self.todo.len(),
            if bound > 0 {
                format!(" ({bound} interrupted, finished first on their own tokens)")
            } else {
                String::new()
            }
        )?;
        if self.todo.is_empty() {
            return Ok(Outcome::Done);
        }
        let station = station::Station::open(args, display_timeout)?;
        let mut burned = self.done;
        for job in &self.todo {
            station
                .burn_one(ledger, job, (burned + 1, total), clock, out)
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
        writeln!(out, "done: {burned} of {total} token(s) burned")?;
        Ok(Outcome::Done)
    }
}

pub(super) fn run(
    args: &BurnArgs,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let Some(users) = &args.users else {
        return remote::run(args, clock, out);
    };
    if args.batch.is_some() {
        return Err(CliError::input(anyhow!(
            "--batch names a batch on the server: use it with --remote (and no CSV)"
        )));
    }
    let users = super::read_users(users)?;
    let ctx = Ctx::new(opts, clock);
    runtime()?.block_on(async {
        let vault = ctx.open().await?;
        let mut rows = Vec::with_capacity(users.len());
        let mut missing = Vec::new();
        for upn in &users {
            match vault.current(upn).await {
                Ok(r) => rows.push((r.id, r.upn, r.state, r.serial)),
                Err(VaultError::Record(RecordError::NoRecord { .. })) => missing.push(format!(
                    "{upn}: no record; run `tokendesk bulk generate` with this list first"
                )),
                Err(e) => return Err(vault_error(e)),
            }
        }
        let plan = Plan::of(rows);
        missing.extend(plan.problems.iter().map(|(upn, state)| {
            format!(
                "{upn}: the record is {}; run `tokendesk bulk generate` for a new seed",
                state.as_str()
            )
        }));
        if !missing.is_empty() {
            return Err(CliError::input(anyhow!(
                "nothing burned:\n{}",
                missing.join("\n")
            )));
        }
        let ledger = Local {
            vault: &vault,
            ctx: &ctx,
        };
        let outcome = plan.run(args, &ledger, clock, out).await;
        vault.store().close().await;
        outcome
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
            _: &impl Ledger,
            _: &Job,
            _: (usize, usize),
            _: &dyn Clock,
            _: &mut dyn Write,
        ) -> anyhow::Result<()> {
            Err(anyhow!("built without PC/SC support"))
        }
    }
}
