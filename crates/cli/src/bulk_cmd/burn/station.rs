//! The burning station over PC/SC: one reader, tokens arriving one after another.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokendesk_nfc as nfc;
use tokendesk_otp as otp;

use super::{BurnArgs, Job, Ledger};
use crate::clock::Clock;
use crate::error::CliError;

/// Failed reads of a token before the operator is asked to lay it down again.
const READ_RETRIES: u32 = 10;

/// Pause between those reads.
const READ_RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Largest difference between the token's clock read back after a burn and the host's.
const MAX_READ_BACK_DRIFT_SECS: i64 = 5;

pub(super) struct Station {
    pcsc: nfc::Pcsc,
    reader: String,
    wait: Duration,
    display_timeout: nfc::DisplayTimeout,
    force_unknown_model: bool,
}

impl Station {
    pub(super) fn open(
        args: &BurnArgs,
        display_timeout: nfc::DisplayTimeout,
    ) -> Result<Self, CliError> {
        let env = |e: nfc::PcscError| CliError::env(anyhow::Error::new(e));
        let pcsc = nfc::Pcsc::establish().map_err(env)?;
        let reader = pcsc.choose_reader(args.reader.as_deref()).map_err(env)?;
        Ok(Self {
            pcsc,
            reader,
            wait: Duration::from_secs(args.wait),
            display_timeout,
            force_unknown_model: args.force_unknown_model,
        })
    }

    /// Burns `job`'s seed onto the next suitable token, verifies it and records it in `ledger`.
    pub(super) async fn burn_one(
        &self,
        ledger: &impl Ledger,
        job: &Job,
        (k, total): (usize, usize),
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let upn = &job.upn;
        match &job.bound {
            Some(s) => writeln!(
                out,
                "[{k}/{total}] {upn}: put token {s} back on {} (its burn was interrupted)",
                self.reader
            )?,
            None => writeln!(
                out,
                "[{k}/{total}] {upn}: put the next blank token on {}",
                self.reader
            )?,
        }
        let (mut card, info, handed) = self.next_token(ledger, job, out).await?;
        let serial = info.serial.clone();
        let model = info.model().map(|m| m.to_string());
        let (config, totp) = self.config(upn, &handed)?;
        let seed = nfc::Seed::new(handed.secret.expose_bytes())?;
        drop(handed);
        let request = nfc::BurnRequest {
            seed: &seed,
            config,
            allow_unknown_model: self.force_unknown_model,
        };
        let now = || clock.now_unix_secs();
        let burned = nfc::burn(&mut card, &nfc::DeviceKey::single_profile(), &request, &now);
        let report = match burned {
            Ok(report) => report,
            Err(e) => {
                let _ = card.disconnect();
                return Err(match e {
                    nfc::BurnError::OutcomeUnknown { .. } => anyhow!(
                        "{e}; the seed of {upn} stays bound to token {serial}: put that token back"
                    ),
                    e => anyhow!("{upn} on token {serial}: {e}"),
                });
            }
        };
        // Read back: the token must answer with the serial burned and the clock just set (the
        // seed itself is write-only on these tokens).
        let back = nfc::read_info(&mut card);
        let _ = card.disconnect();
        let back =
            back.map_err(|e| anyhow!("reading token {serial} back after the burn failed ({e})"))?;
        if back.serial != report.info.serial {
            bail!(
                "token {serial} was burned but token {} answered the read back",
                back.serial
            );
        }
        let drift = back.drift_secs(now());
        if drift.abs() > MAX_READ_BACK_DRIFT_SECS {
            bail!(
                "token {serial} reads back a clock {drift} s off this computer's after the burn; \
                 put it back to burn it again"
            );
        }
        let code = totp.at(now())?;
        ledger
            .burned(job, (&serial, model.as_deref()), code.code.expose(), out)
            .await?;
        writeln!(
            out,
            "[{k}/{total}] {upn}: burned {serial} ({}), read back (serial and clock match), \
             recorded as burned; it shows {} now; take it off the reader",
            model.as_deref().unwrap_or("unknown model"),
            code.code.expose()
        )?;
        let _ = self.pcsc.wait_for_removal(&self.reader, self.wait);
        Ok(())
    }

    /// The token settings and the expected codes for a record's parameters.
    fn config(
        &self,
        upn: &str,
        handed: &super::Handed,
    ) -> anyhow::Result<(nfc::TokenConfig, otp::Totp)> {
        let p = &handed.params;
        let algorithm = match p.algorithm {
            otp::Algorithm::Sha1 => nfc::Algorithm::Sha1,
            otp::Algorithm::Sha256 => nfc::Algorithm::Sha256,
            other => bail!("{upn}: the seed is {other}; these tokens do SHA1 or SHA256"),
        };
        if p.digits != 6 {
            bail!(
                "{upn}: the seed has {} digits; these tokens show 6",
                p.digits
            );
        }
        let period = nfc::Period::from_secs(p.period_secs)
            .with_context(|| format!("{upn}: a {} s period; tokens do 30 or 60", p.period_secs))?;
        let params = otp::TotpParams {
            algorithm: p.algorithm,
            digits: otp::Digits::new(6)?,
            period: otp::Period::new(u64::from(p.period_secs))?,
            t0_unix_secs: 0,
        };
        let config = nfc::TokenConfig {
            display_timeout: self.display_timeout,
            algorithm,
            period,
        };
        Ok((config, otp::Totp::new(&handed.secret, params)))
    }

    /// Waits for a token that may take `job`'s seed, and has the ledger bind the seed to it and
    /// hand it over. A wrong one is explained, and the station waits for it to leave and the
    /// next to come.
    async fn next_token(
        &self,
        ledger: &impl Ledger,
        job: &Job,
        out: &mut dyn Write,
    ) -> anyhow::Result<(nfc::PcscCard, nfc::TokenInfo, super::Handed)> {
        let mut failed_reads = 0;
        loop {
            self.pcsc
                .wait_for_card(&self.reader, self.wait)
                .map_err(|e| match e {
                    nfc::PcscError::NoCard { .. } => anyhow!(
                        "no token on {} after {} s; switch the next token on (press its button) \
                         and put it on the reader",
                        self.reader,
                        self.wait.as_secs()
                    ),
                    e => e.into(),
                })?;
            let read = self
                .pcsc
                .connect(&self.reader)
                .map_err(anyhow::Error::new)
                .and_then(|mut card| match nfc::read_info(&mut card) {
                    Ok(info) => Ok((card, info)),
                    Err(e) => {
                        let _ = card.disconnect();
                        Err(e.into())
                    }
                });
            let (card, info) = match read {
                Ok(read) => read,
                // A token just laid down (or pcscd still reporting the last one) often fails
                // its first exchange: try again for a few seconds before asking the operator.
                Err(_) if failed_reads < READ_RETRIES => {
                    failed_reads += 1;
                    std::thread::sleep(READ_RETRY_PAUSE);
                    continue;
                }
                Err(e) => {
                    failed_reads = 0;
                    writeln!(
                        out,
                        "  could not read the token ({e}); take it off, switch it on and lay it \
                         flat on the reader"
                    )?;
                    self.wait_for_removal()?;
                    continue;
                }
            };
            failed_reads = 0;
            let problem = if let Some(bound) = job.bound.as_deref().filter(|b| *b != info.serial) {
                tokendesk_vault::bound_elsewhere(&info.serial, &job.upn, bound)
            } else if info.model().is_none() && !self.force_unknown_model {
                format!(
                    "token {} is not a known programmable Token2 model: take it off (or pass \
                     --force-unknown-model)",
                    info.serial
                )
            } else {
                let model = info.model().map(|m| m.to_string());
                match ledger.take(job, &info.serial, model.as_deref()).await? {
                    Ok(handed) => return Ok((card, info, handed)),
                    Err(problem) => problem,
                }
            };
            let _ = card.disconnect();
            writeln!(out, "  {problem}")?;
            self.wait_for_removal()?;
        }
    }

    fn wait_for_removal(&self) -> anyhow::Result<()> {
        self.pcsc
            .wait_for_removal(&self.reader, self.wait)
            .map_err(|_| {
                anyhow!(
                    "the token is still on {} after {} s; take it off",
                    self.reader,
                    self.wait.as_secs()
                )
            })
    }
}
