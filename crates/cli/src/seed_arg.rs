//! The `<SECRET|URI|->` argument and the OTP parameter flags shared by `otp`, `drift` and
//! `seed`, resolved into a secret plus parameters.

use std::fmt;
use std::io::Read;

use anyhow::anyhow;
use clap::Args;
use tokendesk_otp::{
    Algorithm, Digits, OtpKind, ParseOptions, Period, Secret, SeedInput, TotpParams,
};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Seed text from the command line: kept in a zeroizing buffer and never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct SeedText(Zeroizing<String>);

impl fmt::Debug for SeedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedText(<redacted>)")
    }
}

pub(crate) fn parse_seed_text(s: &str) -> Result<SeedText, String> {
    Ok(SeedText(Zeroizing::new(s.to_owned())))
}

pub(crate) fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
        .map_err(|e: tokendesk_otp::ParamError| e.to_string())
}

/// How the seed argument is read.
#[derive(Debug, Args)]
pub(crate) struct SeedOptions {
    /// Read a bare secret as hex (also: prefix it with `hex:`)
    #[arg(long)]
    pub hex: bool,
    /// Accept secrets shorter than 80 bits
    #[arg(long)]
    pub allow_short: bool,
}

/// TOTP parameters; an otpauth URI brings its own, and a flag that contradicts it is an error.
#[derive(Debug, Args)]
pub(crate) struct ParamArgs {
    /// HMAC hash [default: sha1]
    #[arg(long, value_name = "sha1|sha256|sha512", value_parser = parse_algorithm)]
    pub algorithm: Option<Algorithm>,
    /// Code length, 6 to 10 [default: 6]
    #[arg(long, value_name = "N")]
    pub digits: Option<u32>,
    /// Seconds per step, 1 to 3600 [default: 30]
    #[arg(long, value_name = "S")]
    pub period: Option<u64>,
    /// Unix time at which step 0 starts (RFC 6238 T0)
    #[arg(long, value_name = "UNIX", default_value_t = 0)]
    pub t0: u64,
}

/// A seed ready to use: secret, parameters and kind.
pub(crate) struct Resolved {
    pub secret: Secret,
    pub params: TotpParams,
    pub kind: OtpKind,
}

/// Reads the seed text: the argument itself, or standard input for `-` (so the secret stays
/// out of `ps` and shell history).
pub(crate) fn read_text(arg: &SeedText) -> Result<Zeroizing<String>, CliError> {
    if arg.0.as_str() != "-" {
        return Ok(arg.0.clone());
    }
    let mut all = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut all).map_err(|e| {
        CliError::env(anyhow::Error::new(e).context("could not read standard input"))
    })?;
    let mut lines = all.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    if lines.next().is_some() {
        return Err(CliError::input(anyhow!(
            "standard input has more than one line; give one secret or otpauth link"
        )));
    }
    Ok(Zeroizing::new(first.to_owned()))
}

/// Parses the seed argument (any form [`SeedInput`] knows).
pub(crate) fn parse(arg: &SeedText, opts: &SeedOptions) -> Result<SeedInput, CliError> {
    let text = read_text(arg)?;
    let options = ParseOptions {
        allow_short: opts.allow_short,
        hex: opts.hex,
    };
    Ok(SeedInput::parse_with(&text, options)?)
}

fn pick<T: PartialEq + fmt::Display>(
    name: &str,
    from_uri: Option<T>,
    flag: Option<T>,
    default: T,
) -> Result<T, CliError> {
    match (from_uri, flag) {
        (Some(u), Some(f)) if u != f => Err(CliError::input(anyhow!(
            "the otpauth link says {name}={u}, but --{name} {f} was given; drop the flag or fix the link"
        ))),
        (Some(u), _) => Ok(u),
        (None, Some(f)) => Ok(f),
        (None, None) => Ok(default),
    }
}

/// Resolves the argument and flags into one seed with its parameters.
pub(crate) fn resolve(
    arg: &SeedText,
    opts: &SeedOptions,
    params: &ParamArgs,
) -> Result<Resolved, CliError> {
    let uri = match parse(arg, opts)? {
        SeedInput::Secret(secret) => {
            return Ok(Resolved {
                secret,
                params: flags_only(params)?,
                kind: OtpKind::Totp,
            });
        }
        SeedInput::OtpAuth(uri) => uri,
        SeedInput::Migration(m) if m.accounts.len() == 1 => {
            m.accounts.into_iter().next().ok_or_else(|| {
                CliError::input(anyhow!("the Google Authenticator export holds no accounts"))
            })?
        }
        SeedInput::Migration(m) => {
            return Err(CliError::input(anyhow!(
                "this Google Authenticator export holds {} accounts; run `tokendesk seed show` on \
                 it to list them, then pass one otpauth link",
                m.accounts.len()
            )));
        }
    };
    let digits = params.digits.map(Digits::new).transpose()?;
    let period = params.period.map(Period::new).transpose()?;
    let resolved = TotpParams {
        algorithm: pick(
            "algorithm",
            Some(uri.algorithm),
            params.algorithm,
            Algorithm::Sha1,
        )?,
        digits: Digits::new(u32::from(pick(
            "digits",
            Some(uri.digits.get()),
            digits.map(Digits::get),
            6,
        )?))?,
        period: Period::new(pick(
            "period",
            Some(uri.period.secs()),
            period.map(Period::secs),
            30,
        )?)?,
        t0_unix_secs: params.t0,
    };
    Ok(Resolved {
        secret: uri.secret.duplicate(),
        params: resolved,
        kind: uri.kind,
    })
}

/// Parameters from flags alone (a bare secret has none of its own).
pub(crate) fn flags_only(params: &ParamArgs) -> Result<TotpParams, CliError> {
    Ok(TotpParams {
        algorithm: params.algorithm.unwrap_or_default(),
        digits: params
            .digits
            .map(Digits::new)
            .transpose()?
            .unwrap_or_default(),
        period: params
            .period
            .map(Period::new)
            .transpose()?
            .unwrap_or_default(),
        t0_unix_secs: params.t0,
    })
}

/// A code typed from a token's display: a secret while it is current, so wiped on drop and
/// redacted in `Debug`. Spaces people type ("123 456") are removed.
#[derive(Clone)]
pub(crate) struct CodeArg(Zeroizing<String>);

impl CodeArg {
    /// The digits, for comparing against computed codes only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeArg(<redacted>)")
    }
}

pub(crate) fn parse_code(s: &str) -> Result<CodeArg, String> {
    Ok(CodeArg(Zeroizing::new(
        s.chars().filter(|c| !c.is_whitespace()).collect(),
    )))
}
