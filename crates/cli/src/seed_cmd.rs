//! `tokendesk seed new|show`: generate a seed, or show one in every form with what accepts it.

use std::io::Write;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde::Serialize;
use tokendesk_otp::{
    Algorithm, MIN_SECRET_BYTES, OtpAuth, OtpKind, Secret, SeedInput, Totp, TotpParams,
};

use crate::clock::Clock;
use crate::error::{CliError, Outcome};
use crate::seed_arg::{self, SeedOptions, SeedText, parse_seed_text};

/// `tokendesk seed …`
#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// Generate a random seed with the operating system's CSPRNG
    New(NewArgs),
    /// Show a seed as canonical base32, hex, bit length and otpauth link, and whether Entra ID
    /// and Token2 programmable tokens accept it
    Show(ShowArgs),
    /// Show a seed as an otpauth QR code (terminal, PNG or SVG) for a phone burner app
    Qr(crate::seed_qr_cmd::QrArgs),
}

/// Arguments of `seed new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Seed length in bytes (20 = 160 bits, 32 base32 characters)
    #[arg(long, value_name = "N", default_value_t = 20)]
    bytes: usize,
    /// Accept lengths below 10 bytes (80 bits)
    #[arg(long)]
    allow_short: bool,
    /// Print JSON: base32, hex, bits
    #[arg(long)]
    json: bool,
}

/// Arguments of `seed show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Base32 secret, `hex:` secret, otpauth:// or otpauth-migration:// link, or `-` for stdin
    #[arg(value_name = "SECRET|URI|-", value_parser = parse_seed_text)]
    seed: SeedText,
    /// Issuer for the otpauth link (overrides the link's)
    #[arg(long)]
    issuer: Option<String>,
    /// Account for the otpauth link, usually the user's UPN (overrides the link's)
    #[arg(long)]
    account: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    seed_opts: SeedOptions,
}

pub(crate) fn run(
    cmd: &SeedCommand,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    match cmd {
        SeedCommand::New(args) => new(args, out),
        SeedCommand::Show(args) => show(args, clock, out),
        SeedCommand::Qr(args) => crate::seed_qr_cmd::run(args, out),
    }
}

fn new(args: &NewArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    if args.bytes == 0 || args.bytes > tokendesk_otp::MAX_SECRET_BYTES {
        return Err(CliError::input(anyhow!(
            "--bytes must be 1 to {}; 20 is the usual length",
            tokendesk_otp::MAX_SECRET_BYTES
        )));
    }
    if args.bytes < MIN_SECRET_BYTES && !args.allow_short {
        return Err(CliError::input(anyhow!(
            "{} bytes is fewer than the 80 bits required; pass --allow-short to accept it",
            args.bytes
        )));
    }
    let secret = Secret::generate(args.bytes)
        .map_err(|e| CliError::env(anyhow!("the operating system has no randomness: {e}")))?;
    if args.json {
        let json = serde_json::json!({
            "base32": secret.to_base32().as_str(),
            "hex": secret.to_hex().as_str(),
            "bits": secret.bits(),
        });
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "{}", secret.to_base32().as_str())?;
    }
    Ok(Outcome::Done)
}

/// Whether a system takes this seed, and if not, why.
#[derive(Serialize)]
struct Acceptance {
    accepted: bool,
    reasons: Vec<String>,
}

impl Acceptance {
    fn from_reasons(reasons: Vec<String>) -> Self {
        Self {
            accepted: reasons.is_empty(),
            reasons,
        }
    }

    fn describe(&self, ok: &str) -> String {
        if self.accepted {
            format!("accepted ({ok})")
        } else {
            format!("NOT accepted: {}", self.reasons.join("; "))
        }
    }
}

/// Entra ID hardware OATH tokens: base32 of at most 128 characters, SHA-1 or SHA-256 (Graph's
/// `hashFunction`), 30 or 60 s, TOTP with 6 digits.
fn entra(secret: &Secret, kind: OtpKind, p: TotpParams) -> Acceptance {
    let mut r = Vec::new();
    let chars = secret.to_base32().len();
    if chars > 128 {
        r.push(format!("{chars} base32 characters, more than 128"));
    }
    common_token_rules(kind, p, &mut r);
    Acceptance::from_reasons(r)
}

/// Token2 programmable tokens: 1-63 byte seeds, SHA-1 or SHA-256, 30 or 60 s, 6 digits, TOTP.
fn token2(secret: &Secret, kind: OtpKind, p: TotpParams) -> Acceptance {
    let mut r = Vec::new();
    if !(1..=63).contains(&secret.len()) {
        r.push(format!("{} bytes, outside 1-63", secret.len()));
    }
    common_token_rules(kind, p, &mut r);
    Acceptance::from_reasons(r)
}

fn common_token_rules(kind: OtpKind, p: TotpParams, r: &mut Vec<String>) {
    if kind != OtpKind::Totp {
        r.push("HOTP (counter-based), not TOTP".into());
    }
    if p.algorithm == Algorithm::Sha512 {
        r.push("SHA512; only SHA1 and SHA256".into());
    }
    if !matches!(p.period.secs(), 30 | 60) {
        r.push(format!("{} s period; only 30 or 60", p.period.secs()));
    }
    if p.digits.get() != 6 {
        r.push(format!("{} digits; only 6", p.digits.get()));
    }
}

fn show(args: &ShowArgs, clock: &dyn Clock, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let accounts = match seed_arg::parse(&args.seed, &args.seed_opts)? {
        SeedInput::Secret(secret) => vec![OtpAuth::new_totp(secret, None, String::new())],
        SeedInput::OtpAuth(uri) => vec![uri],
        SeedInput::Migration(m) => m.accounts,
    };
    let now = clock.now_unix_secs();
    let mut json = Vec::new();
    for (i, mut uri) in accounts.into_iter().enumerate() {
        if let Some(issuer) = &args.issuer {
            uri.issuer = Some(issuer.clone()).filter(|s| !s.is_empty());
        }
        if let Some(account) = &args.account {
            uri.account = account.clone();
        }
        let p = uri.totp_params();
        let (e, t) = (
            entra(&uri.secret, uri.kind, p),
            token2(&uri.secret, uri.kind, p),
        );
        if args.json {
            json.push(serde_json::json!({
                "issuer": uri.issuer,
                "account": uri.account,
                "base32": uri.secret.to_base32().as_str(),
                "hex": uri.secret.to_hex().as_str(),
                "bits": uri.secret.bits(),
                "type": if uri.kind == OtpKind::Totp { "totp" } else { "hotp" },
                "algorithm": p.algorithm.as_str(),
                "digits": p.digits.get(),
                "period": p.period.secs(),
                "otpauth": uri.to_uri().as_str(),
                "entra_id": e,
                "token2": t,
            }));
            continue;
        }
        if i > 0 {
            writeln!(out)?;
        }
        print_one(&uri, p, &e, &t, now, out)?;
    }
    if args.json {
        let value = match json.len() {
            1 => json.pop().unwrap_or_default(),
            _ => serde_json::Value::Array(json),
        };
        writeln!(out, "{value}")?;
    }
    Ok(Outcome::Done)
}

fn print_one(
    uri: &OtpAuth,
    p: TotpParams,
    e: &Acceptance,
    t: &Acceptance,
    now: u64,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let b32 = uri.secret.to_base32();
    let grouped = uri.secret.to_base32_grouped();
    let label = match (&uri.issuer, uri.account.is_empty()) {
        (Some(i), false) => format!("{i}: {}", uri.account),
        (Some(i), true) => i.clone(),
        (None, false) => uri.account.clone(),
        (None, true) => "(no issuer or account; add --issuer and --account)".into(),
    };
    writeln!(out, "account    {label}")?;
    writeln!(out, "base32     {}", b32.as_str())?;
    writeln!(out, "grouped    {}", grouped.as_str())?;
    writeln!(out, "hex        {}", uri.secret.to_hex().as_str())?;
    writeln!(
        out,
        "length     {} bytes ({} bits)",
        uri.secret.len(),
        uri.secret.bits()
    )?;
    match uri.kind {
        OtpKind::Totp => {
            let code = Totp::new(&uri.secret, p).at(now).map_err(CliError::input)?;
            writeln!(
                out,
                "type       TOTP, {}, {} digits, {} s",
                p.algorithm,
                p.digits.get(),
                p.period.secs()
            )?;
            writeln!(
                out,
                "code now   {} ({} s left)",
                code.code.expose(),
                code.secs_left
            )?;
        }
        OtpKind::Hotp { counter } => {
            writeln!(
                out,
                "type       HOTP, {}, {} digits, counter {counter}",
                p.algorithm,
                p.digits.get()
            )?;
        }
    }
    writeln!(out, "otpauth    {}", uri.to_uri().as_str())?;
    writeln!(
        out,
        "Entra ID   {}",
        e.describe("base32 ≤ 128 characters, SHA1/SHA256, 30/60 s")
    )?;
    writeln!(
        out,
        "Token2     {}",
        t.describe("1-63 bytes, SHA1/SHA256, 30/60 s")
    )?;
    Ok(())
}
