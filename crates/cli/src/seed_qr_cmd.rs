//! `tokendesk seed qr`: show a seed as an otpauth QR code for a phone burner app: Unicode
//! half blocks in the terminal, or a PNG/SVG file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use qrcode::{EcLevel, QrCode};
use tokendesk_otp::{OtpAuth, SeedInput};
use zeroize::Zeroizing;

use crate::error::{CliError, Outcome};
use crate::seed_arg::{self, SeedOptions, SeedText, parse_seed_text};

/// Light modules around the code; the QR standard asks for 4.
const QUIET_ZONE: usize = 4;
/// Pixels per module in PNG output.
const PNG_SCALE: u32 = 8;

/// Arguments of `seed qr`.
#[derive(Debug, Args)]
pub struct QrArgs {
    /// Base32 secret, `hex:` secret, otpauth:// link, or `-` for stdin
    #[arg(value_name = "SECRET|URI|-", value_parser = parse_seed_text)]
    seed: SeedText,
    /// Write a PNG image instead of printing to the terminal (created with mode 0600)
    #[arg(long, value_name = "FILE", conflicts_with = "svg")]
    png: Option<PathBuf>,
    /// Write an SVG image instead of printing to the terminal (created with mode 0600)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Issuer shown by the authenticator app (overrides the link's)
    #[arg(long)]
    issuer: Option<String>,
    /// Account shown by the authenticator app, usually the user's UPN (overrides the link's)
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    seed_opts: SeedOptions,
}

pub(crate) fn run(args: &QrArgs, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut uri = match seed_arg::parse(&args.seed, &args.seed_opts)? {
        SeedInput::Secret(secret) => OtpAuth::new_totp(secret, None, String::new()),
        SeedInput::OtpAuth(uri) => uri,
        SeedInput::Migration(m) if m.accounts.len() == 1 => m
            .accounts
            .into_iter()
            .next()
            .ok_or_else(|| CliError::input(anyhow!("the export holds no accounts")))?,
        SeedInput::Migration(m) => {
            return Err(CliError::input(anyhow!(
                "this Google Authenticator export holds {} accounts; pass one otpauth link",
                m.accounts.len()
            )));
        }
    };
    if let Some(issuer) = &args.issuer {
        uri.issuer = Some(issuer.clone()).filter(|s| !s.is_empty());
    }
    if let Some(account) = &args.account {
        uri.account = account.clone();
    }
    let text = uri.to_uri();
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| CliError::input(anyhow!("the otpauth link does not fit in a QR code: {e}")))?;
    if let Some(path) = &args.png {
        write_private(path, &png(&code)?)?;
        writeln!(
            out,
            "wrote {} (it holds the seed: delete it after burning)",
            path.display()
        )?;
    } else if let Some(path) = &args.svg {
        let svg = Zeroizing::new(
            code.render::<qrcode::render::svg::Color<'_>>()
                .quiet_zone(true)
                .min_dimensions(256, 256)
                .build(),
        );
        write_private(path, svg.as_bytes())?;
        writeln!(
            out,
            "wrote {} (it holds the seed: delete it after burning)",
            path.display()
        )?;
    } else {
        out.write_all(terminal(&code).as_bytes())?;
    }
    Ok(Outcome::Done)
}

/// Dark/light of module (x, y) including the quiet zone.
fn is_dark(code: &QrCode, x: usize, y: usize) -> bool {
    let w = code.width();
    let (Some(cx), Some(cy)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
        return false;
    };
    cx < w && cy < w && code[(cx, cy)] == qrcode::Color::Dark
}

/// Two module rows per text line with half blocks. Light modules are drawn as blocks in
/// bright white on a black background (explicit ANSI colours), so the code reads the same on
/// light and dark terminal themes.
fn terminal(code: &QrCode) -> Zeroizing<String> {
    let n = code.width() + 2 * QUIET_ZONE;
    let mut s = Zeroizing::new(String::with_capacity(n * n));
    for y in (0..n).step_by(2) {
        s.push_str("\x1b[97;40m");
        for x in 0..n {
            let top = !is_dark(code, x, y);
            let bottom = y + 1 < n && !is_dark(code, x, y + 1);
            s.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        s.push_str("\x1b[0m\n");
    }
    s
}

fn png(code: &QrCode) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let n = (code.width() + 2 * QUIET_ZONE) as u32;
    let img = image::GrayImage::from_fn(n * PNG_SCALE, n * PNG_SCALE, |x, y| {
        let dark = is_dark(code, (x / PNG_SCALE) as usize, (y / PNG_SCALE) as usize);
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| CliError::env(anyhow!("could not encode the PNG: {e}")))?;
    Ok(Zeroizing::new(out.into_inner()))
}

/// Creates (or truncates) `path` readable by the owner only: the image holds the seed.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let ctx = |e: std::io::Error| {
        CliError::env(anyhow::Error::new(e).context(format!("could not write {}", path.display())))
    };
    let mut f = tokendesk_vault::owner_only::open(
        path,
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )
    .map_err(ctx)?;
    f.write_all(bytes).map_err(ctx)?;
    Ok(())
}
