//! `import` and `export`: the guide's spreadsheet (`username,secret`), Entra ID's hardware
//! OATH token CSV and PSKC (RFC 6030) in; Entra CSV, PSKC and otpauth URIs out. Parsing lives
//! in the pure `tokendesk-formats` crate. Imports are validated completely first and written in
//! one transaction; row errors name the line (or key), never the secret.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use tokendesk_formats::csv::{self};
use tokendesk_formats::{Parsed, ReadError, pskc};
use tokendesk_otp::{Algorithm, Digits, OtpAuth, Period, Secret};
use tokendesk_vault::{NewRecord, State, owner_only};
use zeroize::Zeroizing;

use super::{Ctx, vault_error};
use crate::error::{CliError, Outcome};

/// Import formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// `username,secret` rows (header optional; `;` or `,`; BOM and CRLF accepted).
    Spreadsheet,
    /// Entra ID CSV: `upn,serial number,secret key,time interval,manufacturer,model`.
    Entra,
    /// PSKC (RFC 6030) XML: plain, password (PBKDF2) or pre-shared AES-128 key; TOTP keys
    /// with a `<UserId>` naming the user.
    Pskc,
}

/// `tokendesk import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// Its format.
    #[arg(long, value_enum)]
    format: ImportFormat,
    /// Check every row and report; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import the valid rows and report the others (default: import nothing if any row is bad).
    #[arg(long)]
    skip_invalid: bool,
    /// PSKC: file whose first line is the file's password (else TOKENDESK_IMPORT_PASSWORD, else
    /// a prompt on a terminal).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// PSKC: file holding the pre-shared AES-128 key as 32 hex digits.
    #[arg(long, value_name = "FILE")]
    psk_file: Option<PathBuf>,
}

/// Rows above which an import shows a progress bar (on a terminal).
const PROGRESS_ROWS: usize = 500;

fn normalise(upn: &str) -> Result<String, String> {
    tokendesk_vault::validate_upn(upn).map_err(|e| e.to_string())
}

fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
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
fn prompt_password(prompt: &str, hint: &str) -> Result<Zeroizing<String>, CliError> {
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

fn parse_import(
    bytes: &[u8],
    args: &ImportArgs,
) -> Result<(Parsed, Option<&'static str>), CliError> {
    let format = match args.format {
        ImportFormat::Spreadsheet => tokendesk_formats::ImportFormat::Spreadsheet,
        ImportFormat::Entra => tokendesk_formats::ImportFormat::Entra,
        ImportFormat::Pskc => tokendesk_formats::ImportFormat::Pskc,
    };
    let (password, psk) = if args.format == ImportFormat::Pskc {
        (pskc_password(args)?, pskc_key(args)?)
    } else {
        (None, None)
    };
    let creds = pskc::Credentials {
        password: password.as_ref().map(|p| p.as_bytes()),
        preshared_key: psk.as_ref().map(|k| k.as_slice()),
    };
    let failed = |e: ReadError| match e {
        ReadError::NotText => CliError::input(anyhow!("{} is not UTF-8 text", args.file.display())),
        ReadError::Pskc(e) => pskc_error(e),
    };
    let (parsed, scheme) = match tokendesk_formats::read(format, bytes, &creds, &normalise) {
        Ok(read) => read,
        Err(ReadError::Pskc(e @ pskc::PskcError::NeedPassword(_))) => {
            let pw = prompt_password(
                "PSKC file password: ",
                "pass --password-file FILE or set TOKENDESK_IMPORT_PASSWORD",
            )
            .map_err(|p| CliError::input(anyhow!("{e}: {:#}", p.error)))?;
            let creds = pskc::Credentials {
                password: Some(pw.as_bytes()),
                ..creds
            };
            tokendesk_formats::read(format, bytes, &creds, &normalise).map_err(failed)?
        }
        Err(e) => return Err(failed(e)),
    };
    let scheme = scheme.map(|s| match s {
        pskc::Scheme::Plain => "plain",
        pskc::Scheme::Password => "password (PBKDF2), MAC verified",
        pskc::Scheme::PreSharedKey => "pre-shared key, MAC verified",
    });
    Ok((parsed, scheme))
}

/// The PSKC password from `--password-file` or `TOKENDESK_IMPORT_PASSWORD`, if given.
fn pskc_password(args: &ImportArgs) -> Result<Option<Zeroizing<String>>, CliError> {
    Ok(match &args.password_file {
        Some(f) => Some(read_secret_file(f, "password")?),
        None => std::env::var("TOKENDESK_IMPORT_PASSWORD")
            .ok()
            .map(Zeroizing::new),
    })
}

/// The PSKC pre-shared AES-128 key from `--psk-file` (32 hex digits), if given.
fn pskc_key(args: &ImportArgs) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    let Some(f) = &args.psk_file else {
        return Ok(None);
    };
    let hex = read_secret_file(f, "pre-shared key")?;
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.trim().as_bytes())
        .map(|k| Some(Zeroizing::new(k)))
        .map_err(|_| {
            CliError::input(anyhow!(
                "the pre-shared key file must hold the AES-128 key as 32 hex digits"
            ))
        })
}

fn pskc_error(e: pskc::PskcError) -> CliError {
    let hint = match &e {
        pskc::PskcError::NeedPassword(_) => {
            " (pass --password-file FILE or set TOKENDESK_IMPORT_PASSWORD)"
        }
        pskc::PskcError::NeedKey(_) => " (pass --psk-file FILE holding 32 hex digits)",
        _ => "",
    };
    CliError::input(anyhow!("{e}{hint}; nothing imported"))
}

pub(crate) async fn import(
    ctx: &Ctx<'_>,
    args: &ImportArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let cannot_read = |e: std::io::Error| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot read {}", args.file.display())))
    };
    let size = std::fs::metadata(&args.file).map_err(cannot_read)?.len();
    if size > pskc::MAX_INPUT_BYTES as u64 {
        return Err(CliError::input(anyhow!(
            "{} is larger than {} MiB; split it",
            args.file.display(),
            pskc::MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(&args.file).map_err(cannot_read)?);
    let (parsed, scheme) = parse_import(&bytes, args)?;
    drop(bytes);
    let Parsed { rows, errors } = parsed;
    if let Some(scheme) = scheme {
        writeln!(out, "PSKC protection: {scheme}")?;
    }
    for e in &errors {
        writeln!(out, "{e}")?;
    }
    if !errors.is_empty() && !args.skip_invalid {
        return Err(CliError::input(anyhow!(
            "{} invalid row(s); nothing imported (fix them, or pass --skip-invalid)",
            errors.len()
        )));
    }
    if args.dry_run {
        writeln!(
            out,
            "dry run: {} row(s) valid, {} invalid; nothing imported",
            rows.len(),
            errors.len()
        )?;
        return Ok(Outcome::Done);
    }
    let vault = ctx.open().await?;
    let first_line = rows.first().map(|r| r.line).unwrap_or_default();
    let progress = Progress::new(rows.len());
    let items: Vec<(NewRecord, Secret)> = rows
        .into_iter()
        .map(|r| {
            progress.row();
            NewRecord::from_token_row(r)
        })
        .collect();
    progress.writing(items.len());
    let source = format!("import:{:?}", args.format).to_lowercase();
    let result = vault.capture_batch(&ctx.admin(), &items, &source).await;
    progress.finish();
    let n = result.map_err(|e| {
        let err = vault_error(e);
        CliError {
            exit_code: err.exit_code,
            error: err
                .error
                .context(format!("nothing imported (rows from line {first_line})")),
        }
    })?;
    // Closing checkpoints SQLite's write-ahead log, so later commands do not read a large WAL.
    vault.store().close().await;
    writeln!(out, "imported {n} record(s); skipped {}", errors.len())?;
    Ok(Outcome::Done)
}

/// A progress bar on stderr for imports of more than [`PROGRESS_ROWS`] rows, only when stderr
/// is a terminal. It shows counts and phases, never a user or a secret. The vault writes the
/// batch in one transaction without reporting inside it, so that phase is a spinner.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(rows: usize) -> Self {
        Self::with_terminal(rows, std::io::stderr().is_terminal())
    }

    fn with_terminal(rows: usize, terminal: bool) -> Self {
        if !terminal || rows <= PROGRESS_ROWS {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(rows as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("preparing");
        Self(Some(bar))
    }

    fn row(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    fn writing(&self, rows: usize) {
        if let Some(bar) = &self.0 {
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            {
                bar.set_style(style);
            }
            bar.set_message(format!(
                "encrypting, auditing and writing {rows} records in one transaction"
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
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

pub(crate) async fn export(
    ctx: &Ctx<'_>,
    args: &ExportArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let password = export_password(args)?;
    let mut file = owner_only::open(&args.out, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| {
            CliError::env(
                anyhow::Error::new(e).context(format!("cannot create {}", args.out.display())),
            )
        })?;
    let result = write_export(ctx, args, password.as_ref().map(|p| p.as_str()), &mut file).await;
    match result {
        Ok((written, skipped)) => {
            writeln!(
                out,
                "exported {written} record(s) to {}",
                args.out.display()
            )?;
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
        ExportFormat::Pskc if password.is_some() => "pskc",
        ExportFormat::Pskc => "pskc-plaintext",
    };
    let seeds = vault
        .export_seeds(&ctx.admin(), args.state, args.user.as_deref(), format)
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
    let mut buf = Zeroizing::new(String::new());
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
            ExportFormat::Pskc => {}
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
