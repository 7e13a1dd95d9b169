//! `export`: Entra CSV, PSKC, otpauth URIs, Microsoft Graph requests (with their PowerShell
//! upload script) and Token2 TOTPVault CSV out, each record audited; and the password
//! inputs (file, environment, prompt) that `import` and `export` share.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use tokendesk_formats::{graph, pskc};
use tokendesk_vault::{ExportWriteError, ExportWriter, State, owner_only};
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
    // Written to FILE.partial and published under FILE only when complete.
    let mut file = owner_only::NewFile::create(&args.out).map_err(|e| {
        CliError::env(
            anyhow::Error::new(e).context(format!("cannot create {}", args.out.display())),
        )
    })?;
    let (written, skipped) =
        write_export(ctx, args, password.as_ref().map(|p| p.as_str()), &mut file).await?;
    if let Some(script) = &script {
        write_script(script)?;
    }
    if let Err(e) = file.finish() {
        if let Some(script) = &script {
            let _ = std::fs::remove_file(script);
        }
        return Err(CliError::env(
            anyhow::Error::new(e).context(format!("cannot write {}", args.out.display())),
        ));
    }
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

/// Export text on its way to the file, gathered in zeroizing memory of one fixed size: a
/// growing buffer would leave copies of earlier lines (seeds) in memory it frees without
/// zeroizing.
struct SeedSink<'f> {
    file: &'f mut owner_only::NewFile,
    buf: Zeroizing<Vec<u8>>,
}

impl<'f> SeedSink<'f> {
    const BYTES: usize = 1 << 16;

    fn new(file: &'f mut owner_only::NewFile) -> Self {
        Self {
            file,
            buf: Zeroizing::new(Vec::with_capacity(Self::BYTES)),
        }
    }

    fn push(&mut self, text: &str) -> Result<(), CliError> {
        if self.buf.len() + text.len() > self.buf.capacity() {
            self.flush()?;
        }
        if text.len() > self.buf.capacity() {
            return self.file.write_all(text.as_bytes()).map_err(write_error);
        }
        self.buf.extend_from_slice(text.as_bytes());
        Ok(())
    }

    /// Writes what is gathered and wipes the buffer (its capacity stays).
    fn flush(&mut self) -> Result<(), CliError> {
        self.file.write_all(&self.buf).map_err(write_error)?;
        zeroize::Zeroize::zeroize(&mut *self.buf);
        Ok(())
    }
}

fn write_error(e: std::io::Error) -> CliError {
    CliError::env(anyhow::Error::new(e).context("cannot write the export"))
}

/// The shared writer for `format` (PSKC in clear without a password).
fn export_writer(format: ExportFormat, password: Option<&str>) -> Result<ExportWriter, CliError> {
    Ok(match format {
        ExportFormat::Entra => ExportWriter::Entra,
        ExportFormat::Otpauth => ExportWriter::Otpauth,
        ExportFormat::Token2 => ExportWriter::Token2 { profile: 0 },
        ExportFormat::Graph => ExportWriter::Graph(graph::Writer::new()),
        ExportFormat::Pskc => {
            let protection = match password {
                Some(p) => pskc::Protection::Password {
                    password: p.as_bytes(),
                    iterations: pskc::EXPORT_ITERATIONS,
                },
                None => pskc::Protection::InsecurePlaintext,
            };
            ExportWriter::pskc(&protection).map_err(write_refused)?
        }
    })
}

/// A record the format cannot hold is the input's fault (Graph's requirements, an otpauth
/// link's digits or period); a PSKC writer failure is the environment's.
fn write_refused(e: ExportWriteError) -> CliError {
    match e {
        ExportWriteError::Graph(e) => graph_refused(e),
        ExportWriteError::Param(e) => CliError::input(e),
        e @ ExportWriteError::Pskc(_) => CliError::env(anyhow::Error::new(e)),
    }
}

fn graph_refused(e: graph::GraphError) -> CliError {
    CliError::input(anyhow!(
        "{e}; nothing exported (export burned tokens with --state burned)"
    ))
}

/// Audits the export (every entry committed before any seed is decrypted), then writes the
/// records a chunk at a time: memory stays flat whatever their number (issue 18).
async fn write_export(
    ctx: &Ctx<'_>,
    args: &ExportArgs,
    password: Option<&str>,
    file: &mut owner_only::NewFile,
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
    let check: Option<&tokendesk_vault::ExportCheck<'_>> = match args.format {
        ExportFormat::Graph => Some(&tokendesk_vault::graph_ready),
        _ => None,
    };
    let mut export = vault
        .export_start(
            &ctx.admin(),
            args.state,
            args.user.as_deref(),
            format,
            check,
        )
        .await
        .map_err(vault_error)?;
    let mut writer = export_writer(args.format, password)?;
    let mut sink = SeedSink::new(file);
    sink.push(&writer.head().map_err(write_refused)?)?;
    let (mut written, mut skipped) = (0, 0);
    while let Some(chunk) = export.next_chunk().await.map_err(vault_error)? {
        for item in &chunk {
            match writer.record(item).map_err(write_refused)? {
                Some(text) => {
                    sink.push(&text)?;
                    written += 1;
                }
                None => skipped += 1,
            }
        }
    }
    sink.push(writer.tail())?;
    sink.flush()?;
    Ok((written, skipped))
}
