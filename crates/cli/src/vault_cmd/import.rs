//! `import`: the guide's spreadsheet, Entra ID's hardware OATH token CSV, PSKC (RFC 6030), and
//! the exports of other tools (Token2 TOTPVault, Aegis, 2FAS, Bitwarden, KeePassXC, Google
//! Authenticator text or a folder of its export screenshots). The format is detected from the
//! file unless `--format` is given, and the command says which. Parsing lives in the pure
//! `tokendesk-formats` crate. Imports are validated completely first and written in one
//! transaction; row errors name the line (or entry), never the secret.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use tokendesk_formats::{ImportFormat as Format, Parsed, ReadError, google, pskc};
use tokendesk_otp::Secret;
use tokendesk_vault::NewRecord;
use zeroize::Zeroizing;

use super::exchange::{prompt_password, read_secret_file};
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
    /// Token2 TOTPVault / Molto2 CSV: `profile,seed,title,algorithm,digits,period` (the title
    /// is the user).
    Token2,
    /// Aegis plain-text JSON export (an encrypted one is refused).
    Aegis,
    /// 2FAS backup (.2fas) without a password.
    #[value(name = "2fas")]
    TwoFas,
    /// Bitwarden CSV export (rows with `login_totp`).
    Bitwarden,
    /// KeePassXC CSV export (rows with `TOTP`).
    Keepassxc,
    /// Google Authenticator export: a folder of its export screenshots, one screenshot, or
    /// text with one otpauth-migration:// URI per line.
    Google,
}

impl ImportFormat {
    fn to_format(self) -> Format {
        match self {
            ImportFormat::Spreadsheet => Format::Spreadsheet,
            ImportFormat::Entra => Format::Entra,
            ImportFormat::Pskc => Format::Pskc,
            ImportFormat::Token2 => Format::Token2,
            ImportFormat::Aegis => Format::Aegis,
            ImportFormat::TwoFas => Format::TwoFas,
            ImportFormat::Bitwarden => Format::Bitwarden,
            ImportFormat::Keepassxc => Format::KeePassXc,
            ImportFormat::Google => Format::Google,
        }
    }
}

/// `tokendesk import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import, or a folder of Google Authenticator export screenshots.
    file: PathBuf,
    /// Its format (default: detected from the file, and said).
    #[arg(long, value_enum)]
    format: Option<ImportFormat>,
    /// Check every row and report; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import the valid rows and report the others (default: import nothing if any row is bad).
    #[arg(long)]
    skip_invalid: bool,
    /// Account names without an @ (Molto2 titles, app account names) become NAME@DOMAIN.
    #[arg(long, value_name = "DOMAIN")]
    user_domain: Option<String>,
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

/// The vault's UPN rule, after `--user-domain` completes names without an @.
fn normaliser(domain: Option<&str>) -> impl Fn(&str) -> Result<String, String> + '_ {
    move |name: &str| {
        let name = name.trim();
        let full = match domain {
            Some(d) if !name.contains('@') && !name.is_empty() => {
                format!("{name}@{}", d.trim_start_matches('@'))
            }
            _ => name.to_owned(),
        };
        tokendesk_vault::validate_upn(&full).map_err(|e| e.to_string())
    }
}

/// What was read, how, and how it was recognised.
struct Read {
    parsed: Parsed,
    format: Format,
    detected: bool,
    scheme: Option<&'static str>,
}

/// Reads the file or folder named by `args` in its given or detected format.
fn read_input(args: &ImportArgs) -> Result<Read, CliError> {
    let normalise = normaliser(args.user_domain.as_deref());
    let cannot_read = |e: std::io::Error| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot read {}", args.file.display())))
    };
    let meta = std::fs::metadata(&args.file).map_err(cannot_read)?;
    let given = args.format.map(ImportFormat::to_format);
    if meta.is_dir() {
        if given.is_some_and(|f| f != Format::Google) {
            return Err(CliError::input(anyhow!(
                "{} is a folder; only --format google reads a folder (of export screenshots)",
                args.file.display()
            )));
        }
        let payloads = screenshot_payloads(&args.file)?;
        return Ok(Read {
            parsed: google::parse(&payloads, &normalise),
            format: Format::Google,
            detected: given.is_none(),
            scheme: None,
        });
    }
    if meta.len() > pskc::MAX_INPUT_BYTES as u64 {
        return Err(CliError::input(anyhow!(
            "{} is larger than {} MiB; split it",
            args.file.display(),
            pskc::MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    let bytes = Zeroizing::new(std::fs::read(&args.file).map_err(cannot_read)?);
    if tokendesk_qr::is_image(&bytes) && given.is_none_or(|f| f == Format::Google) {
        let payloads = image_payloads(&args.file, &bytes)?;
        return Ok(Read {
            parsed: google::parse(&payloads, &normalise),
            format: Format::Google,
            detected: given.is_none(),
            scheme: None,
        });
    }
    let (format, detected) = match given {
        Some(f) => (f, false),
        None => (
            tokendesk_formats::detect(&bytes).ok_or_else(|| {
                CliError::input(anyhow!(
                    "cannot tell the format of {}; give it with --format (spreadsheet, entra,                      pskc, token2, aegis, 2fas, bitwarden, keepassxc, google)",
                    args.file.display()
                ))
            })?,
            true,
        ),
    };
    let (parsed, scheme) = parse_import(&bytes, format, args, &normalise)?;
    Ok(Read {
        parsed,
        format,
        detected,
        scheme,
    })
}

/// The QR payloads of one screenshot, named by its file name.
fn image_payloads(path: &Path, bytes: &[u8]) -> Result<Vec<google::Payload>, CliError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let codes =
        tokendesk_qr::decode_image(bytes).map_err(|e| CliError::input(anyhow!("{name}: {e}")))?;
    if codes.is_empty() {
        return Err(CliError::input(anyhow!(
            "{name}: no QR code found; take the screenshot again with the whole code visible"
        )));
    }
    Ok(codes
        .iter()
        .map(|c| google::Payload {
            source: name.clone(),
            text: Zeroizing::new(c.expose_payload().to_owned()),
        })
        .collect())
}

/// Every image of a folder (by name order), each decoded for its QR codes. Other files are an
/// error: a folder of screenshots holds only screenshots.
fn screenshot_payloads(dir: &Path) -> Result<Vec<google::Payload>, CliError> {
    let env = |e: std::io::Error| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot read {}", dir.display())))
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(env)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::input(anyhow!(
            "{} holds no screenshots",
            dir.display()
        )));
    }
    if files.len() > google::MAX_SCREENSHOTS {
        return Err(CliError::input(anyhow!(
            "{} holds {} files, more than {}; split it",
            dir.display(),
            files.len(),
            google::MAX_SCREENSHOTS
        )));
    }
    let mut payloads = Vec::new();
    for f in files {
        let bytes = Zeroizing::new(std::fs::read(&f).map_err(env)?);
        if !tokendesk_qr::is_image(&bytes) {
            return Err(CliError::input(anyhow!(
                "{} is not an image (PNG, JPEG, GIF, BMP or WebP); the folder must hold only \
                 the export screenshots",
                f.display()
            )));
        }
        payloads.extend(image_payloads(&f, &bytes)?);
    }
    Ok(payloads)
}

fn parse_import(
    bytes: &[u8],
    format: Format,
    args: &ImportArgs,
    normalise: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(Parsed, Option<&'static str>), CliError> {
    let (password, psk) = if format == Format::Pskc {
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
        other => CliError::input(anyhow!("{other}; nothing imported")),
    };
    let (parsed, scheme) = match tokendesk_formats::read(format, bytes, &creds, normalise) {
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
            tokendesk_formats::read(format, bytes, &creds, normalise).map_err(failed)?
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
    let read = read_input(args)?;
    let Parsed {
        rows,
        errors,
        left_out,
    } = read.parsed;
    if read.detected {
        writeln!(out, "detected: {}", read.format.describe())?;
    }
    if let Some(scheme) = read.scheme {
        writeln!(out, "PSKC protection: {scheme}")?;
    }
    if left_out > 0 {
        writeln!(
            out,
            "left out {left_out} entr{} without a TOTP seed or read twice",
            if left_out == 1 { "y" } else { "ies" }
        )?;
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
    let source = format!("import:{}", read.format);
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
