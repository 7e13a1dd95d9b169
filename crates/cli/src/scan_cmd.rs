//! `tokendesk scan`: find QR codes in screenshots, on the screen or on the clipboard, and say
//! what each one is: a TOTP seed (shown with its current code), or a look-alike explained.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use serde_json::{Value, json};
use tokendesk_otp::{InputError, OtpAuth, OtpKind, SeedInput, Totp};
use tokendesk_qr::{QrCode, QrError};

use crate::capture;
use crate::clock::Clock;
use crate::error::{CliError, Outcome};

/// Largest image file or standard input read, in bytes (an 8K PNG screenshot is ~50 MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Pause between screen grabs with `--watch`.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Arguments of `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Screenshots to scan (PNG, JPEG, BMP, GIF, WebP); `-` reads one image from standard input
    #[arg(value_name = "IMAGE|-")]
    images: Vec<PathBuf>,
    /// Print one JSON line per input
    #[arg(long)]
    json: bool,
    /// Grab every monitor instead of reading files
    #[arg(long, conflicts_with_all = ["images", "clipboard"])]
    screen: bool,
    /// With --screen: grab about twice a second until a seed appears, print it once, exit
    #[arg(long, requires = "screen")]
    watch: bool,
    /// With --watch: give up after this many seconds (exit 1)
    #[arg(long, value_name = "S", default_value_t = 120, requires = "watch")]
    timeout: u64,
    /// Decode the image on the clipboard (e.g. a Win+Shift+S or PrtScn snip)
    #[arg(long, conflicts_with = "images")]
    clipboard: bool,
}

/// What one payload turned out to be.
enum Finding {
    Seed(OtpAuth),
    /// A bare base32 secret in a QR code: a seed with default TOTP parameters.
    BareSecret(OtpAuth),
    Migration {
        accounts: Vec<OtpAuth>,
    },
    NotSeed {
        kind: &'static str,
        reason: String,
    },
}

impl Finding {
    fn is_seed(&self) -> bool {
        matches!(self, Self::Seed(_) | Self::BareSecret(_))
    }
}

/// Classifies one payload with the OTP core; the text itself is never echoed.
fn classify(code: &QrCode) -> Finding {
    match SeedInput::parse(code.expose_payload()) {
        Ok(SeedInput::OtpAuth(uri)) => Finding::Seed(uri),
        Ok(SeedInput::Secret(secret)) => {
            Finding::BareSecret(OtpAuth::new_totp(secret, None, String::new()))
        }
        Ok(SeedInput::Migration(m)) => Finding::Migration {
            accounts: m.accounts,
        },
        Err(e) => {
            let kind = match e {
                InputError::MicrosoftPushQr => "phonefactor",
                InputError::Passkey => "fido",
                InputError::SerialBarcode { .. } => "serial",
                InputError::OtherUrl { .. } => "url",
                _ if code
                    .expose_payload()
                    .get(..10)
                    .is_some_and(|p| p.eq_ignore_ascii_case("otpauth://")) =>
                {
                    "invalid-otpauth"
                }
                _ => "other",
            };
            Finding::NotSeed {
                kind,
                reason: e.to_string(),
            }
        }
    }
}

/// Scanned input: its name and what was found, or why it could not be read.
struct Scanned {
    name: String,
    result: Result<Vec<Finding>, String>,
}

pub(crate) fn run(
    args: &ScanArgs,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    if args.screen {
        return screen(args, clock, out);
    }
    let inputs: Vec<Scanned> = if args.clipboard {
        let result = capture::clipboard()
            .map_err(CliError::env)
            .map(|(w, h, luma)| tokendesk_qr::decode_luma(w, h, luma));
        vec![scanned(
            "clipboard",
            result.map_err(|e| format!("{:#}", e.error)),
        )]
    } else if args.images.is_empty() {
        return Err(CliError::input(anyhow!(
            "give one or more image files, `-` for standard input, --screen or --clipboard"
        )));
    } else {
        args.images.iter().map(|p| scan_file(p)).collect()
    };
    let mut seeds = 0;
    let mut unreadable = 0;
    for s in &inputs {
        match &s.result {
            Ok(found) => seeds += found.iter().filter(|f| f.is_seed()).count(),
            Err(_) => unreadable += 1,
        }
        print_scanned(s, args.json, clock.now_unix_secs(), out)?;
    }
    if unreadable > 0 {
        return Err(CliError::input(anyhow!(
            "{unreadable} of {} inputs could not be read",
            inputs.len()
        )));
    }
    Ok(if seeds > 0 {
        Outcome::Done
    } else {
        Outcome::Negative
    })
}

fn scanned(name: &str, result: Result<Vec<QrCode>, String>) -> Scanned {
    Scanned {
        name: name.to_owned(),
        result: result.map(|codes| codes.iter().map(classify).collect()),
    }
}

fn scan_file(path: &std::path::Path) -> Scanned {
    let name = path.display().to_string();
    let bytes = if name == "-" {
        read_capped(std::io::stdin().lock())
    } else {
        std::fs::File::open(path).and_then(read_capped)
    };
    let result = match bytes {
        Ok(b) => tokendesk_qr::decode_image(&b).map_err(|e: QrError| e.to_string()),
        Err(e) => Err(format!("could not read the file: {e}")),
    };
    scanned(&name, result)
}

fn read_capped(r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB; this is not a screenshot",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(buf)
}

/// `--screen [--watch]`: grabs every monitor once, or until a seed appears.
fn screen(args: &ScanArgs, clock: &dyn Clock, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let grabs = capture::screen().map_err(CliError::env)?;
        // Every monitor is decoded on its own; the findings are reported together as "screen".
        let mut codes = Vec::new();
        for shot in grabs {
            codes.extend(shot.decode().map_err(CliError::env)?);
        }
        let s = scanned("screen", Ok(codes));
        let seeds = s
            .result
            .as_ref()
            .map_or(0, |f| f.iter().filter(|f| f.is_seed()).count());
        if seeds > 0 || !args.watch || Instant::now() >= deadline {
            print_scanned(&s, args.json, clock.now_unix_secs(), out)?;
            return Ok(if seeds > 0 {
                Outcome::Done
            } else {
                Outcome::Negative
            });
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
}

fn print_scanned(s: &Scanned, json: bool, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    if json {
        let line = match &s.result {
            Ok(found) => {
                json!({"file": s.name, "found": found.iter().map(to_json).collect::<Vec<_>>()})
            }
            Err(e) => json!({"file": s.name, "found": [], "error": e}),
        };
        writeln!(out, "{line}")?;
        return Ok(());
    }
    writeln!(out, "{}:", s.name)?;
    match &s.result {
        Err(e) => writeln!(out, "  could not read the image: {e}")?,
        Ok(found) if found.is_empty() => writeln!(
            out,
            "  no QR code found; enlarge the QR code in the screen-share viewer (or ask the user \
             to zoom in) and capture again, or type the key shown under \"Can't scan image?\""
        )?,
        Ok(found) => {
            for f in found {
                print_finding(f, now, out)?;
            }
        }
    }
    Ok(())
}

fn to_json(f: &Finding) -> Value {
    match f {
        Finding::Seed(u) | Finding::BareSecret(u) => {
            let p = u.totp_params();
            let mut v = json!({
                "kind": if matches!(f, Finding::Seed(_)) { "otpauth" } else { "secret" },
                "secret": u.secret.to_base32().as_str(),
                "issuer": u.issuer,
                "account": u.account,
                "algorithm": p.algorithm.as_str(),
                "digits": p.digits.get(),
                "period": p.period.secs(),
            });
            if let (OtpKind::Hotp { counter }, Some(obj)) = (u.kind, v.as_object_mut()) {
                obj.insert("type".into(), json!("hotp"));
                obj.insert("counter".into(), json!(counter));
            }
            v
        }
        Finding::Migration { accounts } => json!({
            "kind": "otpauth-migration",
            "accounts": accounts.len(),
        }),
        Finding::NotSeed { kind, reason } => json!({"kind": kind, "message": reason}),
    }
}

fn print_finding(f: &Finding, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    match f {
        Finding::Seed(u) | Finding::BareSecret(u) => print_seed(u, now, out),
        Finding::Migration { accounts } => {
            writeln!(
                out,
                "  Google Authenticator export with {} account(s), not a single seed; run \
                 `tokendesk seed show` on the otpauth-migration:// text to list them",
                accounts.len()
            )?;
            Ok(())
        }
        Finding::NotSeed { reason, .. } => {
            writeln!(out, "  not a seed: {reason}")?;
            Ok(())
        }
    }
}

fn print_seed(u: &OtpAuth, now: u64, out: &mut dyn Write) -> Result<(), CliError> {
    let p = u.totp_params();
    let grouped = u.secret.to_base32_grouped();
    writeln!(out, "  seed      TOTP seed")?;
    writeln!(
        out,
        "  issuer    {}",
        u.issuer.as_deref().unwrap_or("(none)")
    )?;
    writeln!(
        out,
        "  account   {}",
        if u.account.is_empty() {
            "(none)"
        } else {
            &u.account
        }
    )?;
    match u.kind {
        OtpKind::Totp => {
            writeln!(
                out,
                "  type      TOTP, {}, {} digits, {} s",
                p.algorithm,
                p.digits.get(),
                p.period.secs()
            )?;
            writeln!(out, "  secret    {}", grouped.as_str())?;
            let code = Totp::new(&u.secret, p).at(now).map_err(CliError::input)?;
            writeln!(
                out,
                "  code now  {} ({} s left) - type it into Microsoft's \"Enter code\" box",
                code.code.expose(),
                code.secs_left
            )?;
        }
        OtpKind::Hotp { counter } => {
            writeln!(
                out,
                "  type      HOTP (counter {counter}), {}, {} digits - Entra ID needs TOTP",
                p.algorithm,
                p.digits.get()
            )?;
            writeln!(out, "  secret    {}", grouped.as_str())?;
        }
    }
    Ok(())
}
