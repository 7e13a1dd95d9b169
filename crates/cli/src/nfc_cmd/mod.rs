//! `tokendesk nfc …`: list readers, read a token, burn a seed, sync a token's clock, over
//! PC/SC with `tokendesk-nfc`. The host clock comes from the injected [`Clock`].

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use tokendesk_nfc as nfc;
use tokendesk_otp as otp;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::seed_arg;
use crate::vault_cmd::{Ctx, VaultOptions, runtime, vault_error};

/// Program Token2 NFC tokens through a PC/SC contactless reader.
#[derive(Debug, Args)]
pub struct NfcArgs {
    #[command(subcommand)]
    command: NfcCommand,
}

#[derive(Debug, Subcommand)]
enum NfcCommand {
    /// List PC/SC readers and whether a token is on each.
    Readers,
    /// Show the token's serial, model, clock and drift from this computer's clock.
    Info(ReaderArgs),
    /// Burn a TOTP seed (and set the clock) on a single-profile token.
    Burn(BurnArgs),
    /// Set the clock of a token whose model keeps its seed across a clock change.
    SyncTime(SyncArgs),
}

#[derive(Debug, Args)]
struct ReaderArgs {
    /// Reader name, or a unique part of it (see `tokendesk nfc readers`). Default: the only
    /// reader holding a token, or the only reader.
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
    /// Seconds to wait for a token on the reader.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    wait: u64,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct SeedSource {
    /// The seed: base32 (or hex:…). Visible to other local users in the process list; prefer `-`.
    #[arg(long, value_name = "S", value_parser = seed_arg::parse_seed_text)]
    secret: Option<seed_arg::SeedText>,
    /// An otpauth://totp/ URI; its algorithm and period are used unless given as flags.
    #[arg(long, value_name = "URI", value_parser = seed_arg::parse_seed_text)]
    uri: Option<seed_arg::SeedText>,
    /// `-`: read the seed or otpauth URI from standard input.
    #[arg(value_name = "-")]
    stdin: Option<String>,
    /// Burn the seed the vault holds for this user (an audited disclosure); afterwards the
    /// token's serial and model are recorded and the record moves to `burned`.
    #[arg(long, value_name = "UPN")]
    user: Option<String>,
    /// Burn with a one-time grant from the server this desk is signed in to (`tokendesk
    /// login`): the command shown by the record page's "Burn on a desk reader". The seed is
    /// fetched once, burnt, checked against the server, and never shown or stored.
    #[arg(long, value_name = "GRANT")]
    grant: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgorithmArg {
    Sha1,
    Sha256,
}

#[derive(Debug, Args)]
struct BurnArgs {
    #[command(flatten)]
    source: SeedSource,
    /// HMAC algorithm [default: sha1, or the URI's].
    #[arg(long, value_enum)]
    algorithm: Option<AlgorithmArg>,
    /// Time step in seconds: 30 or 60 [default: 30, or the URI's].
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["30", "60"]))]
    period: Option<String>,
    #[command(flatten)]
    settings: Settings,
    /// With `--user`: ask the server this desk is signed in to for a burn grant for that
    /// user's captured record, instead of the local vault.
    #[arg(long, requires = "user")]
    remote: bool,
    /// Burn even if the serial is not a known programmable Token2 model.
    #[arg(long)]
    force_unknown_model: bool,
    #[command(flatten)]
    reader: ReaderArgs,
}

#[derive(Debug, Args)]
struct Settings {
    /// Seconds the display stays on: 15, 30, 60 or 120.
    #[arg(long, value_name = "SECS", default_value = "30",
          value_parser = clap::builder::PossibleValuesParser::new(["15", "30", "60", "120"]))]
    display_timeout: String,
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// The token's HMAC algorithm (the config write always carries it; keep what was burnt).
    #[arg(long, value_enum, default_value = "sha1")]
    algorithm: AlgorithmArg,
    /// The token's time step in seconds (keep what was burnt).
    #[arg(long, default_value = "30",
          value_parser = clap::builder::PossibleValuesParser::new(["30", "60"]))]
    period: String,
    #[command(flatten)]
    settings: Settings,
    #[command(flatten)]
    reader: ReaderArgs,
}

/// Runs an `nfc` subcommand, writing results to `out`.
///
/// # Errors
/// Exit 2 for the seed and flags; exit 3 for PC/SC (service, reader, token) and the burn, each
/// with a message that says what to do next; none contains the seed.
pub(crate) fn run(
    args: &NfcArgs,
    vault: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let env = |r: anyhow::Result<()>| r.map(|()| Outcome::Done).map_err(CliError::env);
    match &args.command {
        NfcCommand::Readers => env(transport::readers(out)),
        NfcCommand::Info(r) => env(transport::info(r, clock, out)),
        NfcCommand::Burn(b) => match (&b.source.user, &b.source.grant) {
            (_, Some(grant)) => grant::burn(b, grant::Source::Grant(grant), clock, out),
            (Some(upn), None) if b.remote => grant::burn(b, grant::Source::User(upn), clock, out),
            (Some(upn), None) => burn_from_vault(b, upn, vault, clock, out),
            (None, None) => {
                let plan = BurnPlan::from_args(b).map_err(CliError::input)?;
                env(transport::burn(&plan, &b.reader, clock, out).map(|_| ()))
            }
        },
        NfcCommand::SyncTime(s) => {
            let config = nfc::TokenConfig {
                display_timeout: display_timeout(&s.settings).map_err(CliError::input)?,
                algorithm: token_algorithm(s.algorithm),
                period: token_period(&s.period).map_err(CliError::input)?,
            };
            env(transport::sync_time(config, &s.reader, clock, out))
        }
    }
}

pub(crate) fn format_unix(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

#[cfg_attr(not(feature = "nfc-pcsc"), allow(dead_code))]
fn describe_drift(drift_secs: i64) -> String {
    match drift_secs {
        0 => "in step with this computer".to_owned(),
        d if d > 0 => format!("{d} s ahead of this computer"),
        d => format!("{} s behind this computer", d.unsigned_abs()),
    }
}

fn token_algorithm(a: AlgorithmArg) -> nfc::Algorithm {
    match a {
        AlgorithmArg::Sha1 => nfc::Algorithm::Sha1,
        AlgorithmArg::Sha256 => nfc::Algorithm::Sha256,
    }
}

fn token_period(p: &str) -> anyhow::Result<nfc::Period> {
    p.parse::<u32>()
        .ok()
        .and_then(nfc::Period::from_secs)
        .context("the period must be 30 or 60 seconds")
}

fn display_timeout(s: &Settings) -> anyhow::Result<nfc::DisplayTimeout> {
    s.display_timeout
        .parse::<u32>()
        .ok()
        .and_then(nfc::DisplayTimeout::from_secs)
        .context("the display timeout must be 15, 30, 60 or 120 seconds")
}

/// A validated burn: the seed, the settings, and the TOTP generator for the expected code.
#[cfg_attr(not(feature = "nfc-pcsc"), allow(dead_code))]
struct BurnPlan {
    seed: nfc::Seed,
    config: nfc::TokenConfig,
    totp: otp::Totp,
    force_unknown_model: bool,
}

impl BurnPlan {
    fn from_args(b: &BurnArgs) -> anyhow::Result<Self> {
        let read = |t: &seed_arg::SeedText| seed_arg::read_text(t).map_err(|e| e.error);
        let text: Zeroizing<String> = match (&b.source.secret, &b.source.uri, &b.source.stdin) {
            (Some(s), _, _) => read(s)?,
            (_, Some(u), _) => {
                let text = read(u)?;
                if !text
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("otpauth://")
                {
                    bail!("--uri takes an otpauth:// URI; give a bare seed with --secret");
                }
                text
            }
            (_, _, Some(dash)) if dash == "-" => {
                read(&seed_arg::parse_seed_text("-").map_err(anyhow::Error::msg)?)?
            }
            (_, _, Some(_)) => {
                bail!("give the seed with --secret, --uri, or `-` for standard input")
            }
            (None, None, None) => bail!("give the seed with --secret, --uri, or `-`"),
        };
        let (secret, uri) = otp::SeedInput::parse(&text)?.into_single().context(
            "this is a multi-account export; burn one account at a time (--uri with one otpauth URI)",
        )?;
        Self::build(&secret, uri.as_ref(), b)
    }

    /// The plan for `secret`; an otpauth URI (or a vault record's parameters, given the same
    /// shape) fixes algorithm and period, and flags may only restate them.
    fn build(
        secret: &otp::Secret,
        uri: Option<&otp::OtpAuth>,
        b: &BurnArgs,
    ) -> anyhow::Result<Self> {
        let mut algorithm = b.algorithm.map(token_algorithm);
        let mut period = b.period.as_deref().map(token_period).transpose()?;
        if let Some(u) = uri {
            if u.kind != otp::OtpKind::Totp {
                bail!("the URI is not otpauth://totp/; these tokens only do TOTP");
            }
            if u.digits.get() != 6 {
                bail!(
                    "the URI asks for {} digits; these tokens show 6",
                    u.digits.get()
                );
            }
            let uri_algorithm = match u.algorithm {
                otp::Algorithm::Sha1 => nfc::Algorithm::Sha1,
                otp::Algorithm::Sha256 => nfc::Algorithm::Sha256,
                other => bail!("the URI asks for {other}; these tokens do SHA1 or SHA256"),
            };
            let uri_period = u32::try_from(u.period.secs())
                .ok()
                .and_then(nfc::Period::from_secs)
                .with_context(|| {
                    format!(
                        "the URI asks for a {} s period; these tokens do 30 or 60",
                        u.period.secs()
                    )
                })?;
            if algorithm.is_some_and(|a| a != uri_algorithm) {
                bail!("--algorithm contradicts the URI's algorithm; drop one of them");
            }
            if period.is_some_and(|p| p != uri_period) {
                bail!("--period contradicts the URI's period; drop one of them");
            }
            algorithm = Some(uri_algorithm);
            period = Some(uri_period);
        }
        let config = nfc::TokenConfig {
            display_timeout: display_timeout(&b.settings)?,
            algorithm: algorithm.unwrap_or_default(),
            period: period.unwrap_or_default(),
        };
        let params = otp::TotpParams {
            algorithm: match config.algorithm {
                nfc::Algorithm::Sha1 => otp::Algorithm::Sha1,
                nfc::Algorithm::Sha256 => otp::Algorithm::Sha256,
            },
            digits: otp::Digits::new(6)?,
            period: otp::Period::new(u64::from(config.period.secs()))?,
            t0_unix_secs: 0,
        };
        Ok(Self {
            seed: nfc::Seed::new(secret.expose_bytes())?,
            totp: otp::Totp::new(secret, params),
            config,
            force_unknown_model: b.force_unknown_model,
        })
    }
}

/// What a burn wrote, for the vault record.
#[cfg_attr(not(feature = "nfc-pcsc"), allow(dead_code))]
struct Burned {
    serial: String,
    model: Option<String>,
}

/// `nfc burn --user`: the seed comes from the vault (one audited `export` with format
/// `nfc-burn`), the record must be `captured`, and after a successful burn the token's serial
/// and model are recorded and the record moves to `burned` (audited). A failed burn leaves the
/// record as it was.
fn burn_from_vault(
    b: &BurnArgs,
    upn: &str,
    opts: &VaultOptions,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let runtime = runtime()?;
    let ctx = Ctx::new(opts, clock);
    runtime.block_on(async {
        let vault = ctx.open().await?;
        let record = vault.current(upn).await.map_err(vault_error)?;
        if record.state != tokendesk_vault::State::Captured {
            return Err(CliError::input(anyhow::anyhow!(
                "the record of {} is {}; only captured records are burned from the vault",
                record.upn,
                record.state.as_str()
            )));
        }
        let exported = vault
            .export_seeds(&ctx.admin(), None, Some(upn), "nfc-burn")
            .await
            .map_err(vault_error)?
            .pop()
            .ok_or_else(|| CliError::input(anyhow::anyhow!("the vault holds no seed for {upn}")))?;
        let secret = exported.secret();
        let p = &exported.record.params;
        let mut stored = otp::OtpAuth::new_totp(secret.duplicate(), None, record.upn.clone());
        stored.algorithm = p.algorithm;
        stored.digits = otp::Digits::new(p.digits).map_err(CliError::input)?;
        stored.period = otp::Period::new(u64::from(p.period_secs)).map_err(CliError::input)?;
        let plan = BurnPlan::build(&secret, Some(&stored), b).map_err(CliError::input)?;
        let burned = transport::burn(&plan, &b.reader, clock, out).map_err(CliError::env)?;
        let token = tokendesk_vault::TokenUpdate {
            serial: Some(burned.serial),
            model: burned.model,
            manufacturer: Some("Token2".into()),
        };
        // Exactly the record whose seed was burned, even if another appeared meanwhile.
        let r = vault
            .mark_burned(&ctx.admin(), &(&exported.record).into(), token)
            .await
            .map_err(vault_error)?;
        writeln!(out, "recorded: {} is now {}", r.upn, r.state.as_str())?;
        Ok(Outcome::Done)
    })
}

#[cfg_attr(not(feature = "nfc-pcsc"), allow(dead_code))]
fn time_sync_note(model: Option<nfc::Model>) -> &'static str {
    match model.map(nfc::Model::time_sync) {
        Some(nfc::TimeSync::Unrestricted) => "unrestricted time sync",
        Some(nfc::TimeSync::Restricted) => "restricted time sync: a clock change erases the seed",
        None => "unknown model",
    }
}

#[cfg(feature = "nfc-pcsc")]
mod transport {
    //! The commands over the PC/SC transport.
    use super::*;
    use std::time::Duration;

    /// How long to wait for the token to come back after an interrupted write.
    const REREAD_WAIT: Duration = Duration::from_secs(10);

    /// One connect session on the chosen reader. PC/SC failures are the outer error; the
    /// token's answer is the inner result, returned with the context a caller may re-use.
    fn session<T>(
        r: &ReaderArgs,
        f: impl FnOnce(&mut nfc::PcscCard) -> Result<T, nfc::BurnError>,
    ) -> anyhow::Result<(nfc::Pcsc, String, Result<T, nfc::BurnError>)> {
        let pcsc = nfc::Pcsc::establish()?;
        let reader = pcsc.choose_reader(r.reader.as_deref())?;
        pcsc.wait_for_card(&reader, Duration::from_secs(r.wait))?;
        let mut card = pcsc.connect(&reader)?;
        let result = f(&mut card);
        // The outcome is decided; a failing disconnect does not change it.
        let _ = card.disconnect();
        Ok((pcsc, reader, result))
    }

    /// Reads the token once it is back. pcscd may still report the token that left as present,
    /// so a failed read waits for the removal and tries again, until [`REREAD_WAIT`] is up.
    fn reread(pcsc: &nfc::Pcsc, reader: &str) -> Result<nfc::TokenInfo, String> {
        let deadline = std::time::Instant::now() + REREAD_WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let attempt = pcsc
                .wait_for_card(reader, left)
                .map_err(|e| e.to_string())
                .and_then(|()| pcsc.connect(reader).map_err(|e| e.to_string()))
                .and_then(|mut card| {
                    let info = nfc::read_info(&mut card);
                    let _ = card.disconnect();
                    info.map_err(|e| match e {
                        nfc::BurnError::Transport { reason, .. } => reason.to_string(),
                        other => other.to_string(),
                    })
                });
            match attempt {
                Ok(info) => return Ok(info),
                Err(reason) if left.is_zero() => return Err(reason),
                Err(_) => {
                    let _ = pcsc.wait_for_removal(reader, left.min(Duration::from_secs(1)));
                }
            }
        }
    }

    /// After an interrupted write (§4.4): wait for the token to come back, read its serial and
    /// clock, and say what the operator can check. The seed itself cannot be read back.
    fn reread_after_interruption(
        pcsc: &nfc::Pcsc,
        reader: &str,
        plan: &BurnPlan,
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        writeln!(
            out,
            "the burn was interrupted; hold the token on {reader} to re-read it…"
        )?;
        match reread(pcsc, reader) {
            Ok(info) => writeln!(
                out,
                "re-read {}: token clock {} ({})",
                info.serial,
                format_unix(u64::from(info.device_unix_secs)),
                describe_drift(info.drift_secs(clock.now_unix_secs()))
            )?,
            Err(reason) => writeln!(out, "could not re-read the token: {reason}")?,
        }
        let code = plan.totp.at(clock.now_unix_secs())?;
        writeln!(
            out,
            "if the burn completed, the token now shows {} (for {} more s); if it shows \
             something else or nothing, burn it again",
            code.code.expose(),
            code.secs_left
        )?;
        Ok(())
    }

    pub(super) fn readers(out: &mut dyn Write) -> anyhow::Result<()> {
        let pcsc = nfc::Pcsc::establish()?;
        let readers = pcsc.readers()?;
        if readers.is_empty() {
            return Err(nfc::PcscError::NoReaders.into());
        }
        for r in readers {
            let state = if r.card_present {
                "token present"
            } else {
                "empty"
            };
            writeln!(out, "{}\t{state}", r.name)?;
        }
        Ok(())
    }

    pub(super) fn info(
        r: &ReaderArgs,
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let (_, reader, info) = session(r, |card| nfc::read_info(card))?;
        let info = info?;
        let host = clock.now_unix_secs();
        let model = info.model();
        writeln!(out, "reader:      {reader}")?;
        writeln!(out, "serial:      {}", info.serial)?;
        match model {
            Some(m) => writeln!(out, "model:       {m} ({})", time_sync_note(model))?,
            None => writeln!(
                out,
                "model:       unknown serial prefix (not a known programmable Token2 model)"
            )?,
        }
        writeln!(
            out,
            "token clock: {} ({})",
            format_unix(u64::from(info.device_unix_secs)),
            describe_drift(info.drift_secs(host))
        )?;
        writeln!(out, "host clock:  {}", format_unix(host))?;
        Ok(())
    }

    pub(super) fn burn(
        plan: &BurnPlan,
        r: &ReaderArgs,
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> anyhow::Result<Burned> {
        let now = || clock.now_unix_secs();
        let request = nfc::BurnRequest {
            seed: &plan.seed,
            config: plan.config,
            allow_unknown_model: plan.force_unknown_model,
        };
        let (pcsc, reader, result) = session(r, |card| {
            nfc::burn(card, &nfc::DeviceKey::single_profile(), &request, &now)
        })?;
        let report = match result {
            Ok(report) => report,
            Err(e @ nfc::BurnError::OutcomeUnknown { .. }) => {
                reread_after_interruption(&pcsc, &reader, plan, clock, out)?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let model = report
            .model
            .map_or_else(|| "unknown model".to_owned(), |m| m.to_string());
        writeln!(out, "burned {} ({model}) on {reader}", report.info.serial)?;
        writeln!(
            out,
            "settings:   {}, {} s steps, display on for {} s",
            report.config.algorithm,
            report.config.period.secs(),
            report.config.display_timeout.secs()
        )?;
        writeln!(
            out,
            "clock:      set to {} (it was {})",
            format_unix(u64::from(report.clock_set_unix_secs)),
            describe_drift(report.drift_secs)
        )?;
        let code = plan.totp.at(now())?;
        writeln!(
            out,
            "the token should now show: {} (for {} more s)",
            code.code.expose(),
            code.secs_left
        )?;
        writeln!(
            out,
            "switch the token off and on and compare; if it differs, run `tokendesk nfc info` \
             and burn again"
        )?;
        Ok(Burned {
            serial: report.info.serial.to_string(),
            model: report.model.map(|m| m.to_string()),
        })
    }

    pub(super) fn sync_time(
        config: nfc::TokenConfig,
        r: &ReaderArgs,
        clock: &dyn Clock,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let now = || clock.now_unix_secs();
        let (_, reader, report) = session(r, |card| {
            nfc::sync_time(card, &nfc::DeviceKey::single_profile(), config, &now)
        })?;
        let report = report?;
        let model = report
            .model
            .map_or_else(|| "unknown model".to_owned(), |m| m.to_string());
        writeln!(
            out,
            "clock of {} ({model}) on {reader} set to {}; it was {}",
            report.info.serial,
            format_unix(u64::from(report.clock_set_unix_secs)),
            describe_drift(report.drift_secs)
        )?;
        Ok(())
    }
}

#[cfg(not(feature = "nfc-pcsc"))]
mod transport {
    //! Built without PC/SC: every command explains how to get it.
    use super::*;

    const NO_PCSC: &str = "this tokendesk was built without PC/SC support; rebuild it with \
        default features (cargo feature `nfc-pcsc`), which needs the PC/SC library \
        (Debian/Ubuntu: libpcsclite1)";

    pub(super) fn readers(_: &mut dyn Write) -> anyhow::Result<()> {
        bail!(NO_PCSC)
    }
    pub(super) fn info(_: &ReaderArgs, _: &dyn Clock, _: &mut dyn Write) -> anyhow::Result<()> {
        bail!(NO_PCSC)
    }
    pub(super) fn burn(
        _: &BurnPlan,
        _: &ReaderArgs,
        _: &dyn Clock,
        _: &mut dyn Write,
    ) -> anyhow::Result<Burned> {
        bail!(NO_PCSC)
    }
    pub(super) fn sync_time(
        _: nfc::TokenConfig,
        _: &ReaderArgs,
        _: &dyn Clock,
        _: &mut dyn Write,
    ) -> anyhow::Result<()> {
        bail!(NO_PCSC)
    }
}

pub(crate) mod grant;
#[cfg(test)]
mod tests;
