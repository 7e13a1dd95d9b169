//! `import` and `export`: the guide's spreadsheet (`username,secret`) and Entra ID's hardware
//! OATH token CSV in, Entra CSV and otpauth URIs out. Imports are validated completely first and
//! written in one transaction; row errors name the line, never the secret.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use tokendesk_otp::{Algorithm, Digits, OtpAuth, Period, Secret, decode_base32};
use tokendesk_vault::{NewRecord, State, TokenParams};
use zeroize::Zeroizing;

use super::{Ctx, vault_error};
use crate::error::{CliError, Outcome};

/// Import formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// `username,secret` rows (header optional; `;` or `,`; BOM and CRLF accepted).
    Spreadsheet,
    /// Entra ID CSV: `upn,serial number,secret key,time interval,manufacturer,model`.
    Entra,
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
}

/// One CSV line split into fields: double quotes group, `""` is a quote.
fn split_csv(line: &str, sep: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

struct Row {
    line: usize,
    new: NewRecord,
    secret: Secret,
}

fn parse_secret(text: &str) -> Result<Secret, String> {
    decode_base32(text, false).map_err(|e| e.to_string())
}

fn spreadsheet_row(fields: &[String]) -> Result<Option<(NewRecord, Secret)>, String> {
    let user = fields.first().map(String::as_str).unwrap_or_default();
    let secret = fields.get(1).map(String::as_str).unwrap_or_default();
    if user.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    if secret.is_empty() {
        return Err("no secret in the second column".into());
    }
    let upn = tokendesk_vault::normalise_upn(user).map_err(|e| e.to_string())?;
    let secret = parse_secret(secret)?;
    let new = NewRecord {
        upn,
        ..Default::default()
    };
    Ok(Some((new, secret)))
}

const ENTRA_HEADER: [&str; 6] = [
    "upn",
    "serial number",
    "secret key",
    "time interval",
    "manufacturer",
    "model",
];

fn entra_row(fields: &[String]) -> Result<Option<(NewRecord, Secret)>, String> {
    if fields.iter().all(String::is_empty) {
        return Ok(None);
    }
    let [upn, serial, secret, interval, manufacturer, model] = fields else {
        return Err(format!("expected 6 columns, found {}", fields.len()));
    };
    let upn = tokendesk_vault::normalise_upn(upn).map_err(|e| e.to_string())?;
    if secret.len() > 128 {
        return Err(format!(
            "the secret key has {} characters, more than Entra's 128",
            secret.len()
        ));
    }
    let secret = parse_secret(secret)?;
    let period_secs = match interval.as_str() {
        "30" => 30,
        "60" => 60,
        other => return Err(format!("time interval {other:?} is not 30 or 60")),
    };
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    let new = NewRecord {
        upn,
        serial: some(serial),
        manufacturer: some(manufacturer),
        model: some(model),
        params: TokenParams {
            period_secs,
            ..TokenParams::default()
        },
        ..Default::default()
    };
    Ok(Some((new, secret)))
}

fn parse_file(text: &str, format: ImportFormat) -> (Vec<Row>, Vec<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    let first = lines.peek().map(|(_, l)| *l).unwrap_or_default();
    let sep = if first.contains(';') && !first.contains(',') {
        ';'
    } else {
        ','
    };
    let mut errors = Vec::new();
    if let ImportFormat::Entra = format {
        let header: Vec<String> = split_csv(first, ',')
            .into_iter()
            .map(|h| h.to_lowercase().replace("timeinterval", "time interval"))
            .collect();
        if header != ENTRA_HEADER {
            errors.push(format!(
                "line 1: the header must be exactly `{}`",
                ENTRA_HEADER.join(",")
            ));
            return (Vec::new(), errors);
        }
        lines.next();
    } else if split_csv(first, sep)
        .first()
        .is_some_and(|h| ["username", "user", "upn", "email"].contains(&h.to_lowercase().as_str()))
    {
        lines.next();
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (line, text) in lines {
        let fields = split_csv(
            text,
            if let ImportFormat::Entra = format {
                ','
            } else {
                sep
            },
        );
        let parsed = match format {
            ImportFormat::Spreadsheet => spreadsheet_row(&fields),
            ImportFormat::Entra => entra_row(&fields),
        };
        match parsed {
            Ok(None) => {}
            Ok(Some((new, secret))) => {
                if let Some(prev) = seen.insert(new.upn.clone(), line) {
                    errors.push(format!(
                        "line {line}: {} already appears on line {prev}",
                        new.upn
                    ));
                } else {
                    rows.push(Row { line, new, secret });
                }
            }
            Err(e) => errors.push(format!("line {line}: {e}")),
        }
    }
    (rows, errors)
}

pub(crate) async fn import(
    ctx: &Ctx<'_>,
    args: &ImportArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let text = Zeroizing::new(std::fs::read_to_string(&args.file).map_err(|e| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot read {}", args.file.display())))
    })?);
    let (rows, errors) = parse_file(&text, args.format);
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
    let items: Vec<(NewRecord, Secret)> = rows.into_iter().map(|r| (r.new, r.secret)).collect();
    let source = format!("import:{:?}", args.format).to_lowercase();
    let n = vault
        .capture_batch(&ctx.actor, &items, &source)
        .await
        .map_err(|e| {
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

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// Entra ID hardware OATH token CSV (SHA-1 tokens only).
    Entra,
    /// One otpauth:// URI per line.
    Otpauth,
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
}

pub(crate) async fn export(
    ctx: &Ctx<'_>,
    args: &ExportArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .map_err(|e| {
            CliError::env(
                anyhow::Error::new(e).context(format!("cannot create {}", args.out.display())),
            )
        })?;
    let result = write_export(ctx, args, &mut file).await;
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
    file: &mut std::fs::File,
) -> Result<(usize, usize), CliError> {
    let vault = ctx.open().await?;
    let format = match args.format {
        ExportFormat::Entra => "entra",
        ExportFormat::Otpauth => "otpauth",
    };
    let seeds = vault
        .export_seeds(&ctx.actor, args.state, args.user.as_deref(), format)
        .await
        .map_err(vault_error)?;
    let io =
        |e: std::io::Error| CliError::env(anyhow::Error::new(e).context("cannot write the export"));
    let mut buf = Zeroizing::new(String::new());
    let (mut written, mut skipped) = (0, 0);
    if let ExportFormat::Entra = args.format {
        buf.push_str("upn,serial number,secret key,time interval,manufacturer,model\n");
    }
    for item in &seeds {
        let r = &item.record;
        let secret = Secret::from_bytes(item.seed.to_vec());
        match args.format {
            ExportFormat::Entra => {
                if r.params.algorithm != Algorithm::Sha1 {
                    skipped += 1;
                    continue;
                }
                let opt = |v: &Option<String>| v.clone().unwrap_or_default().replace(',', " ");
                buf.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    r.upn,
                    opt(&r.serial),
                    secret.to_base32().as_str(),
                    r.params.period_secs,
                    opt(&r.manufacturer),
                    opt(&r.model)
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_quotes() {
        assert_eq!(split_csv(r#"a, "b,c" ,"d""e""#, ','), ["a", "b,c", "d\"e"]);
        assert_eq!(split_csv("a;b", ';'), ["a", "b"]);
    }

    #[test]
    fn spreadsheet_variants_parse() {
        let text = "\u{feff}Username;Secret;Extra\r\nAlice@Contoso.com;2sk2 tsmk jp7k dbck;x\r\n\r\nbob@contoso.com;JBSWY3DPEHPK3PXP\r\n";
        let (rows, errors) = parse_file(text, ImportFormat::Spreadsheet);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows.iter().map(|r| r.new.upn.as_str()).collect::<Vec<_>>(),
            ["alice@contoso.com", "bob@contoso.com"]
        );
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn row_errors_name_the_line_and_not_the_secret() {
        let text = "alice@contoso.com,JBSWY3DPEHPK3PX1\nnot-a-upn,JBSWY3DPEHPK3PXP\nalice@contoso.com,JBSWY3DPEHPK3PXP\n";
        let (_, errors) = parse_file(text, ImportFormat::Spreadsheet);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("line 1:"), "{errors:?}");
        assert!(errors[1].starts_with("line 2:"), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("JBSWY3DPEHPK3PX")));
    }

    #[test]
    fn entra_header_is_required_and_token2_spelling_accepted() {
        let good = "upn,serial number,secret key,timeinterval,manufacturer,model\nhelga@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey\n";
        let (rows, errors) = parse_file(good, ImportFormat::Entra);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].new.params.period_secs, 60);
        assert_eq!(rows[0].new.serial.as_deref(), Some("1234567"));
        let (_, errors) = parse_file(
            "helga@contoso.com,1,2234567abcdef2234567abcdef,60,C,M\n",
            ImportFormat::Entra,
        );
        assert!(errors[0].contains("header"), "{errors:?}");
        let bad_interval = "upn,serial number,secret key,time interval,manufacturer,model\nh@contoso.com,1,2234567abcdef2234567abcdef,45,C,M\n";
        let (_, errors) = parse_file(bad_interval, ImportFormat::Entra);
        assert!(errors[0].contains("45"), "{errors:?}");
    }
}
