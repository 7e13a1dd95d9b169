//! `tokendesk otp`: codes for a seed, now or at a given time, with past and future steps.

use std::io::{BufWriter, Write};

use anyhow::anyhow;
use clap::Args;
use serde::Serialize;
use tokendesk_otp::{Hotp, OtpKind, Totp, TotpCode};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::seed_arg::{self, ParamArgs, SeedOptions, SeedText, parse_seed_text};
use crate::timefmt::{Zone, resolve_at};

/// Most codes one call prints: far beyond any helpdesk use, it bounds a typo like `--future 1e12`.
const MAX_CODES: u64 = 100_000_000;

/// Arguments of `tokendesk otp`.
#[derive(Debug, Args)]
pub struct OtpArgs {
    /// Base32 secret, `hex:` secret, otpauth:// link, or `-` to read it from standard input
    /// (keeps the secret out of `ps` and shell history)
    #[arg(value_name = "SECRET|URI|-", value_parser = parse_seed_text)]
    seed: SeedText,
    /// Time to compute for: Unix seconds or RFC 3339 (2026-12-01T09:30:00+01:00) [default: now]
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Also show this many earlier steps
    #[arg(long, value_name = "N", default_value_t = 0)]
    past: u64,
    /// Also show this many later steps (future codes, e.g. to e-mail)
    #[arg(long, value_name = "N", default_value_t = 0)]
    future: u64,
    /// Print only the codes, one per line, for scripts
    #[arg(long, conflicts_with = "json")]
    codes: bool,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    params: ParamArgs,
    #[command(flatten)]
    seed_opts: SeedOptions,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    algorithm: &'static str,
    digits: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<u64>,
    codes: Vec<JsonCode<'a>>,
}

#[derive(Serialize)]
struct JsonCode<'a> {
    offset: i64,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<u64>,
}

/// The steps to show: `first..=last` around `base`.
struct Span {
    base: u64,
    first: u64,
    last: u64,
}

impl Span {
    fn new(base: u64, past: u64, future: u64) -> Result<Self, CliError> {
        if past.saturating_add(future) >= MAX_CODES {
            return Err(CliError::input(anyhow!(
                "--past plus --future must stay below {MAX_CODES}"
            )));
        }
        Ok(Self {
            base,
            first: base.saturating_sub(past),
            last: base.saturating_add(future),
        })
    }

    fn offset(&self, step: u64) -> i64 {
        // Both differences are below MAX_CODES, so they fit an i64.
        if step >= self.base {
            (step - self.base) as i64
        } else {
            -((self.base - step) as i64)
        }
    }
}

pub(crate) fn run(
    args: &OtpArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let seed = seed_arg::resolve(&args.seed, &args.seed_opts, &args.params)?;
    let totp = Totp::new(&seed.secret, seed.params);
    let mut out = BufWriter::with_capacity(1 << 16, out);
    match seed.kind {
        OtpKind::Hotp { counter } => {
            if args.at.is_some() {
                return Err(CliError::input(anyhow!(
                    "--at has no meaning for an HOTP (counter-based) link; use --past/--future to move the counter"
                )));
            }
            let span = Span::new(counter, args.past, args.future)?;
            print_hotp(args, totp.hotp(), &span, &mut out)?;
        }
        OtpKind::Totp => {
            let at = resolve_at(args.at.as_deref(), clock)?;
            let now_step = totp.step_at(at).map_err(CliError::input)?;
            let span = Span::new(now_step, args.past, args.future)?;
            print_totp(args, &totp, at, &span, &mut out)?;
        }
    }
    out.flush()?;
    Ok(Outcome::Done)
}

/// Writes codes one per line without building strings: the bulk path (`--codes`).
fn write_codes(hotp: &Hotp, span: &Span, out: &mut impl Write) -> std::io::Result<()> {
    let digits = usize::from(hotp.digits().get());
    let mut line = [b'\n'; 11];
    for step in span.first..=span.last {
        let mut v = hotp.value(step);
        for slot in line.iter_mut().take(digits).rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.write_all(line.get(..=digits).unwrap_or(&line))?;
    }
    line.fill(0);
    Ok(())
}

fn print_hotp(
    args: &OtpArgs,
    hotp: &Hotp,
    span: &Span,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if args.codes || (!args.json && args.past == 0 && args.future == 0) {
        write_codes(hotp, span, out)?;
        return Ok(());
    }
    let codes: Vec<_> = (span.first..=span.last)
        .map(|c| (c, hotp.code(c)))
        .collect();
    if args.json {
        let json = JsonOut {
            kind: "hotp",
            algorithm: hotp.algorithm().as_str(),
            digits: hotp.digits().get(),
            period: None,
            codes: codes
                .iter()
                .map(|(counter, code)| JsonCode {
                    offset: span.offset(*counter),
                    code: code.expose(),
                    step: None,
                    counter: Some(*counter),
                    valid_from: None,
                    valid_until: None,
                })
                .collect(),
        };
        write_json(&json, out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} · {} digits · HOTP counter",
        hotp.algorithm(),
        hotp.digits().get()
    )?;
    writeln!(out, "{:>7}  {:<10}  counter", "offset", "code")?;
    for (counter, code) in &codes {
        writeln!(
            out,
            "{:>+7}  {:<10}  {counter}",
            span.offset(*counter),
            code.expose()
        )?;
    }
    Ok(())
}

fn print_totp(
    args: &OtpArgs,
    totp: &Totp,
    at: u64,
    span: &Span,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if args.codes || (!args.json && args.past == 0 && args.future == 0) {
        write_codes(totp.hotp(), span, out)?;
        return Ok(());
    }
    let mut codes = Vec::new();
    for step in span.first..=span.last {
        codes.push(
            totp.at_offset(at, span.offset(step))
                .map_err(CliError::input)?,
        );
    }
    let p = totp.params();
    if args.json {
        let json = JsonOut {
            kind: "totp",
            algorithm: p.algorithm.as_str(),
            digits: p.digits.get(),
            period: Some(p.period.secs()),
            codes: codes
                .iter()
                .map(|c| JsonCode {
                    offset: span.offset(c.step),
                    code: c.code.expose(),
                    step: Some(c.step),
                    counter: None,
                    valid_from: Some(c.valid_from),
                    valid_until: Some(c.valid_until),
                })
                .collect(),
        };
        write_json(&json, out)?;
        return Ok(());
    }
    print_table(totp, span, &codes, args.future > 0, out)
}

fn print_table(
    totp: &Totp,
    span: &Span,
    codes: &[TotpCode],
    has_future: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let p = totp.params();
    let zone = Zone::local();
    writeln!(
        out,
        "{} · {} digits · {} s steps · times in {}",
        p.algorithm,
        p.digits.get(),
        p.period.secs(),
        zone.label(codes.first().map_or(0, |c| c.valid_from))
    )?;
    writeln!(out, "{:>7}  {:<10}  valid from – until", "offset", "code")?;
    for c in codes {
        let offset = span.offset(c.step);
        let until = if zone.same_day(c.valid_from, c.valid_until.saturating_sub(1)) {
            zone.time(c.valid_until)
        } else {
            zone.datetime(c.valid_until)
        };
        let note = if offset == 0 {
            format!("   current, {} s left", c.secs_left)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:>7}  {:<10}  {} – {until}{note}",
            signed(offset),
            c.code.expose(),
            zone.datetime(c.valid_from),
        )?;
    }
    if has_future {
        writeln!(
            out,
            "\nA future code works only inside its window: tell the user the exact time to type it.\n\
             tokendesk assumes Entra ID accepts a code at most about 2 minutes outside its window."
        )?;
    }
    Ok(())
}

/// `-1`, `0`, `+1`: the sign only where it means something.
fn signed(offset: i64) -> String {
    if offset > 0 {
        format!("+{offset}")
    } else {
        offset.to_string()
    }
}

fn write_json(json: &impl Serialize, out: &mut impl Write) -> Result<(), CliError> {
    serde_json::to_writer(&mut *out, json).map_err(|e| CliError::env(anyhow::Error::new(e)))?;
    writeln!(out)?;
    Ok(())
}
