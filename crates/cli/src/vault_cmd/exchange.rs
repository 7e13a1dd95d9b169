//! `export`: Entra CSV, PSKC, otpauth URIs, Microsoft Graph requests (with their PowerShell
//! upload script) and Token2 TOTPVault CSV out, each record audited; and the password
//! inputs (file, environment, prompt) that `import` and `export` share.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use tokendesk_formats::csv::{self};
use tokendesk_formats::{graph, pskc, token2};
use tokendesk_otp::{Algorithm, Digits, OtpAuth, Period, Secret};
use tokendesk_vault::{State, owner_only};
use zeroize::Zeroizing;

use super::{Ctx, vault_error};
use crate::error::{CliError, Outcome};

pub(super) fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        CliError::env(
            anyhow::Error::new(e)
                .context(format!("cannot read the {what} file {}", path.display())),
        )
    })?);
    let line = Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned());
    if line.is_empty() {
        return Err(CliError::input(anyhow!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(line)
}

/// Reads a password from the terminal without echo (via `stty`), or says how else to give it.
pub(super) fn prompt_password(prompt: &str, hint: &str) -> Result<Zeroizing<String>, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::input(anyhow!("no password given: {hint}")));
    }
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = stty("-echo");
    eprint!("{prompt}");
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    read.map_err(|e| CliError::env(anyhow::Error::new(e).context("cannot read the password")))?;
    let pw = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if pw.is_empty() {
        return Err(CliError::input(anyhow!("the password is empty")));
    }
    Ok(pw)
}
/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// Entra ID hardware OATH token CSV (SHA-1 tokens only).
    Entra,
    /// One otpauth:// URI per line.
    Otpauth,
    /// PSKC (RFC 6030), encrypted with a password (PBKDF2-HMAC-SHA1 → AES-128-CBC, HMAC-SHA1 MAC).
    Pskc,
    /// Microsoft Graph (beta) hardwareOathDevices requests (create, assign, activate) as JSON,
    /// plus FILE's .ps1 sibling: the PowerShell script that uploads them. Needs serial,
    /// manufacturer and model on every record (burned tokens have them).
    Graph,
    /// Token2 TOTPVault / Molto2 CSV (`profile,seed,title,algorithm,digits,period`).
    Token2,
}

/// `tokendesk export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// File to create (mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only records in this state (purged, cancelled and lost are refused: they have no seed).
    #[arg(long, value_name = "STATE", value_parser = |s: &str| s.parse::<State>())]
    state: Option<State>,
    /// Only this user.
    #[arg(long, value_name = "UPN")]
    user: Option<String>,
    /// PSKC: file whose first line is the password (else TOKENDESK_EXPORT_PASSWORD, else a
    /// prompt on a terminal). Never give the password itself on the command line.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// PSKC: write the seeds unencrypted (anyone who reads the file can clone the tokens).
    #[arg(long)]
    insecure_plaintext: bool,
}

/// The PSKC export password: file, environment or prompt (twice). At least 12 characters.
fn export_password(args: &ExportArgs) -> Result<Option<Zeroizing<String>>, CliError> {
    if !matches!(args.format, ExportFormat::Pskc) {
        if args.password_file.is_some() || args.insecure_plaintext {
            return Err(CliError::input(anyhow!(
                "--password-file and --insecure-plaintext apply to --format pskc only"
            )));
        }
        return Ok(None);
    }
    if args.insecure_plaintext {
        if args.password_file.is_some() {
            return Err(CliError::input(anyhow!(
                "choose --password-file or --insecure-plaintext, not both"
            )));
        }
        return Ok(None);
    }
    let hint = "pass --password-file FILE, set TOKENDESK_EXPORT_PASSWORD, or (only if the \
                file will be protected otherwise) --insecure-plaintext";
    let pw = match &args.password_file {
        Some(f) => read_secret_file(f, "password")?,
        None => match std::env::var("TOKENDESK_EXPORT_PASSWORD") {
            Ok(p) => Zeroizing::new(p),
            Err(_) => {
                let first = prompt_password("PSKC export password: ", hint)?;
                let again = prompt_password("again: ", hint)?;
                if first.as_bytes() != again.as_bytes() {
                    return Err(CliError::input(anyhow!(
                        "the passwords differ; nothing exported"
                    )));
                }
                first
            }
        },
    };
    if pw.chars().count() < 12 {
        return Err(CliError::input(anyhow!(
            "the export password must have at least 12 characters"
        )));
    }
    Ok(Some(pw))
}

/// The Graph requests or the TOTPVault CSV for `seeds` (all or nothing).
fn other_export(
    format: ExportFormat,
    seeds: &[tokendesk_vault::ExportedSeed],
) -> Result<Zeroizing<String>, CliError> {
    let secrets: Vec<Secret> = seeds
        .iter()
        .map(tokendesk_vault::ExportedSeed::secret)
        .collect();
    if let ExportFormat::Token2 = format {
        let profiles: Vec<_> = seeds
            .iter()
            .zip(&secrets)
            .enumerate()
            .map(|(i, (item, secret))| token2::Profile {
                profile: u32::try_from(i).unwrap_or(u32::MAX),
                title: &item.record.upn,
                secret,
                algorithm: item.record.params.algorithm,
                digits: item.record.params.digits,
                period_secs: item.record.params.period_secs,
            })
            .collect();
        return Ok(token2::write(&profiles));
    }
    let tokens: Vec<_> = seeds
        .iter()
        .zip(&secrets)
        .map(|(item, secret)| item.graph_token(secret))
        .collect();
    graph::write(&tokens).map_err(|e| {
        CliError::input(anyhow!(
            "{e}; nothing exported (export burned tokens with --state burned)"
        ))
    })
}

/// The upload script beside a Graph export: FILE with the extension `.ps1`.
fn script_path(out: &Path) -> Result<PathBuf, CliError> {
    let script = out.with_extension("ps1");
    if script == out {
        return Err(CliError::input(anyhow!(
            "name the Graph export FILE.json; its upload script is written to FILE.ps1"
        )));
    }
    Ok(script)
}

pub(crate) async fn export(
    ctx: &Ctx<'_>,
    args: &ExportArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let password = export_password(args)?;
    let script = match args.format {
        ExportFormat::Graph => Some(script_path(&args.out)?),
        _ => None,
    };
    let mut file = owner_only::open(&args.out, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| {
            CliError::env(
                anyhow::Error::new(e).context(format!("cannot create {}", args.out.display())),
            )
        })?;
    let result = write_export(ctx, args, password.as_ref().map(|p| p.as_str()), &mut file).await;
    let result = match (result, &script) {
        (Ok(counts), Some(script)) => write_script(script).map(|()| counts),
        (result, _) => result,
    };
    match result {
        Ok((written, skipped)) => {
            writeln!(
                out,
                "exported {written} record(s) to {}",
                args.out.display()
            )?;
            if let Some(script) = &script {
                writeln!(
                    out,
                    "upload script: {} (Microsoft Graph PowerShell SDK; the Graph API is beta; \
                     delete {} after the upload)",
                    script.display(),
                    args.out.display()
                )?;
            }
            if skipped > 0 {
                writeln!(
                    out,
                    "skipped {skipped} non-SHA-1 token(s): the Entra CSV assumes SHA-1; use Graph's hashFunction"
                )?;
            }
            Ok(Outcome::Done)
        }
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&args.out);
            Err(e)
        }
    }
}

/// Writes the Graph upload script (no secrets in it) next to the export; never overwrites.
fn write_script(path: &Path) -> Result<(), CliError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            CliError::env(
                anyhow::Error::new(e).context(format!("cannot create {}", path.display())),
            )
        })?;
    f.write_all(graph::UPLOAD_SCRIPT.as_bytes())
        .map_err(|e| CliError::env(anyhow::Error::new(e).context("cannot write the script")))
}

async fn write_export(
    ctx: &Ctx<'_>,
    args: &ExportArgs,
    password: Option<&str>,
    file: &mut std::fs::File,
) -> Result<(usize, usize), CliError> {
    let vault = ctx.open().await?;
    let format = match args.format {
        ExportFormat::Entra => "entra",
        ExportFormat::Otpauth => "otpauth",
        ExportFormat::Graph => "graph",
        ExportFormat::Token2 => "token2",
        ExportFormat::Pskc if password.is_some() => "pskc",
        ExportFormat::Pskc => "pskc-plaintext",
    };
    // Graph's requirements are checked before any seed is decrypted or audited.
    let check: &(
         dyn Fn(&tokendesk_vault::Record) -> Result<(), tokendesk_formats::graph::GraphError> + Sync
     ) = match args.format {
        ExportFormat::Graph => &tokendesk_vault::graph_ready,
        _ => &|_| Ok(()),
    };
    let seeds = vault
        .export_seeds_checked(
            &ctx.admin(),
            args.state,
            args.user.as_deref(),
            format,
            check,
        )
        .await
        .map_err(vault_error)?;
    let io =
        |e: std::io::Error| CliError::env(anyhow::Error::new(e).context("cannot write the export"));
    if let ExportFormat::Pskc = args.format {
        let secrets: Vec<Secret> = seeds
            .iter()
            .map(tokendesk_vault::ExportedSeed::secret)
            .collect();
        let keys: Vec<_> = seeds
            .iter()
            .zip(&secrets)
            .map(|(item, secret)| item.pskc_key(secret))
            .collect();
        let protection = match password {
            Some(p) => pskc::Protection::Password {
                password: p.as_bytes(),
                iterations: pskc::EXPORT_ITERATIONS,
            },
            None => pskc::Protection::InsecurePlaintext,
        };
        let text =
            pskc::write(&keys, &protection).map_err(|e| CliError::env(anyhow::Error::new(e)))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        return Ok((keys.len(), 0));
    }
    if let ExportFormat::Graph | ExportFormat::Token2 = args.format {
        let text = other_export(args.format, &seeds)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        return Ok((seeds.len(), 0));
    }
    // Sized once: a growing buffer would leave copies of earlier lines (seeds) in memory it
    // frees without zeroizing, and would briefly need twice the room.
    let mut buf = Zeroizing::new(String::with_capacity(seeds.len() * 200 + 256));
    let (mut written, mut skipped) = (0, 0);
    if let ExportFormat::Entra = args.format {
        buf.push_str(&csv::entra_header());
    }
    for item in &seeds {
        let r = &item.record;
        let secret = item.secret();
        match args.format {
            ExportFormat::Entra => {
                if r.params.algorithm != Algorithm::Sha1 {
                    skipped += 1;
                    continue;
                }
                buf.push_str(&csv::entra_line(
                    &r.upn,
                    r.serial.as_deref(),
                    &secret,
                    r.params.period_secs,
                    r.manufacturer.as_deref(),
                    r.model.as_deref(),
                ));
            }
            ExportFormat::Pskc | ExportFormat::Graph | ExportFormat::Token2 => {}
            ExportFormat::Otpauth => {
                let mut uri = OtpAuth::new_totp(secret, Some("Microsoft".into()), r.upn.clone());
                uri.algorithm = r.params.algorithm;
                uri.digits = Digits::new(r.params.digits).map_err(CliError::input)?;
                uri.period =
                    Period::new(u64::from(r.params.period_secs)).map_err(CliError::input)?;
                buf.push_str(&uri.to_uri());
                buf.push('\n');
            }
        }
        written += 1;
    }
    file.write_all(buf.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok((written, skipped))
}
