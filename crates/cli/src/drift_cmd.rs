//! `tokendesk drift`: where the code on a token's display falls relative to this computer's
//! clock, as checked at burn time and at delivery.

use std::io::Write;

use anyhow::anyhow;
use clap::Args;
use tokendesk_otp::{Drift, OtpKind, Totp, drift_search, one_day_steps};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::seed_arg::{
    self, CodeArg, ParamArgs, SeedOptions, SeedText, parse_code, parse_seed_text,
};
use crate::timefmt::resolve_at;

/// Arguments of `tokendesk drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Base32 secret, `hex:` secret, otpauth:// link, or `-` to read it from standard input
    #[arg(value_name = "SECRET|URI|-", value_parser = parse_seed_text)]
    seed: SeedText,
    /// The code shown on the token
    #[arg(value_name = "CODE", value_parser = parse_code)]
    code: CodeArg,
    /// The next code the token shows, to rule out chance matches
    #[arg(value_name = "CODE2", value_parser = parse_code)]
    next_code: Option<CodeArg>,
    /// Steps to search either side of now [default: one day's worth]
    #[arg(long, value_name = "STEPS")]
    window: Option<u64>,
    /// The time the code was read: Unix seconds or RFC 3339 [default: now]
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    params: ParamArgs,
    #[command(flatten)]
    seed_opts: SeedOptions,
}

pub(crate) fn run(
    args: &DriftArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let seed = seed_arg::resolve(&args.seed, &args.seed_opts, &args.params)?;
    if seed.kind != OtpKind::Totp {
        return Err(CliError::input(anyhow!(
            "drift applies to time-based (TOTP) seeds; this is an HOTP link"
        )));
    }
    let totp = Totp::new(&seed.secret, seed.params);
    let digits = usize::from(seed.params.digits.get());
    let code = args.code.expose();
    let next = args.next_code.as_ref().map(CodeArg::expose);
    for c in std::iter::once(code).chain(next) {
        if c.len() != digits || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CliError::input(anyhow!(
                "a code must be {digits} digits as shown on the token (set --digits for other tokens)"
            )));
        }
    }
    let at = resolve_at(args.at.as_deref(), clock)?;
    let window = args.window.unwrap_or_else(|| one_day_steps(&totp));
    let period = seed.params.period.secs();
    let result = drift_search(&totp, at, code, next, window);
    let span = describe_window(window, period);
    if args.json {
        let json = match &result {
            Drift::Found {
                offset_steps,
                drift_secs,
                step,
            } => serde_json::json!({
                "result": "found", "offset_steps": offset_steps, "drift_secs": drift_secs,
                "step": step, "window_steps": window, "period": period,
            }),
            Drift::NotFound => serde_json::json!({
                "result": "not_found", "window_steps": window, "period": period,
            }),
            Drift::Ambiguous { offsets } => serde_json::json!({
                "result": "ambiguous", "offsets": offsets, "window_steps": window, "period": period,
            }),
        };
        writeln!(out, "{json}")?;
    } else {
        match &result {
            Drift::Found {
                offset_steps: 0, ..
            } => writeln!(
                out,
                "in step: the token shows the current code (drift under {period} s)"
            )?,
            Drift::Found {
                offset_steps,
                drift_secs,
                ..
            } => writeln!(
                out,
                "found: the token is {} step{} {} this computer's clock ({drift_secs:+} s)",
                offset_steps.unsigned_abs(),
                if offset_steps.unsigned_abs() == 1 {
                    ""
                } else {
                    "s"
                },
                if *offset_steps > 0 {
                    "ahead of"
                } else {
                    "behind"
                },
            )?,
            Drift::NotFound => writeln!(
                out,
                "not found within {span}: check the secret, the code, and the token's algorithm and period"
            )?,
            Drift::Ambiguous { offsets } => writeln!(
                out,
                "ambiguous: the code occurs {} times within {span} (offsets {}); read the next code \
                 from the token and pass both",
                offsets.len(),
                offsets
                    .iter()
                    .map(|o| format!("{o:+}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?,
        }
    }
    Ok(match result {
        Drift::Found { .. } => Outcome::Done,
        Drift::NotFound | Drift::Ambiguous { .. } => Outcome::Negative,
    })
}

fn describe_window(steps: u64, period: u64) -> String {
    let secs = steps.saturating_mul(period);
    let human = if secs.is_multiple_of(86_400) && secs > 0 {
        format!("{} day(s)", secs / 86_400)
    } else if secs.is_multiple_of(3600) && secs > 0 {
        format!("{} hour(s)", secs / 3600)
    } else {
        format!("{secs} s")
    };
    format!("±{steps} steps (±{human})")
}
