//! `tokendesk doctor`: checks an installation the way an administrator would before trusting
//! it: the master key file, the database and its schema, the audit chain, free disk, the TLS
//! certificate, pcscd (when NFC is used) and the clock against an NTP server (when one is
//! configured). Each check is OK, WARN or FAIL with what to do; the exit code is the worst
//! (0, 1, 2). Nothing is changed: the schema is read without migrating.

mod cert;
mod sntp;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::config::{self, GlobalArgs, VaultOptions};
use crate::error::{CliError, Outcome};
use crate::serve_config::{Resolved, ServeArgs};
use crate::vault_cmd::{Ctx, env_key_spec};

/// Arguments of `tokendesk doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// NTP server (HOST or HOST:PORT) to compare the clock with [default: none, not checked].
    #[arg(long, env = "TOKENDESK_NTP_SERVER", value_name = "HOST")]
    ntp_server: Option<String>,
    /// This machine burns tokens over NFC: check that pcscd answers.
    #[arg(long, env = "TOKENDESK_NFC")]
    nfc: bool,
    /// `serve`'s settings (TLS certificate and the rest), as `serve` would see them.
    #[command(flatten)]
    serve: ServeArgs,
}

/// How a check ended, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result: what was found and, unless OK, what to do.
#[derive(Debug)]
struct Finding {
    check: &'static str,
    status: Status,
    message: String,
    action: Option<String>,
}

fn ok(check: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        check,
        status: Status::Ok,
        message: message.into(),
        action: None,
    }
}

fn bad(
    check: &'static str,
    status: Status,
    message: impl Into<String>,
    action: impl Into<String>,
) -> Finding {
    Finding {
        check,
        status,
        message: message.into(),
        action: Some(action.into()),
    }
}

/// Days left below which a certificate is a warning.
const CERT_WARN_DAYS: i64 = 30;
/// Clock offsets (seconds) that are a warning and a failure: a TOTP step is 30 s, and a code
/// read out near the end of its step is already late with a few seconds of skew.
const CLOCK_WARN_SECS: f64 = 2.0;
const CLOCK_FAIL_SECS: f64 = 10.0;
/// Free space that is a failure and a warning (checked on Linux only).
#[cfg(target_os = "linux")]
const DISK_FAIL_BYTES: u64 = 100 << 20;
#[cfg(target_os = "linux")]
const DISK_WARN_BYTES: u64 = 1 << 30;

/// Runs every check and prints the findings.
///
/// # Errors
/// Only for invalid configuration or unwritable output; failed checks are findings.
pub(crate) fn run(
    args: &DoctorArgs,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let (opts, file) = config::load(global)?;
    let cfg = args.serve.resolve(&opts, &file)?;
    let ntp = args.ntp_server.clone().or_else(|| file.ntp_server.clone());
    let nfc = args.nfc || file.nfc.unwrap_or(false);
    let mut findings = vec![check_key_file(&opts)];
    let runtime = crate::vault_cmd::runtime()?;
    findings.extend(runtime.block_on(check_database(&opts)));
    findings.push(check_disk(&opts.data));
    findings.push(check_tls(&cfg));
    if nfc {
        findings.push(check_pcscd());
    }
    if let Some(server) = ntp {
        findings.push(check_clock(&server));
    }
    let worst = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    if args.json {
        let checks: Vec<_> = findings
            .iter()
            .map(|f| {
                json!({"check": f.check, "status": f.status.as_str(),
                       "message": f.message, "action": f.action})
            })
            .collect();
        writeln!(
            out,
            "{}",
            json!({"status": worst.as_str(), "checks": checks})
        )?;
    } else {
        for f in &findings {
            let status = f.status.as_str().to_uppercase();
            writeln!(out, "{status:<5} {:<10} {}", f.check, f.message)?;
            if let Some(action) = &f.action {
                writeln!(out, "{:16}-> {action}", "")?;
            }
        }
    }
    Ok(match worst {
        Status::Ok => Outcome::Done,
        Status::Warn => Outcome::Negative,
        Status::Fail => Outcome::Failed,
    })
}

fn check_key_file(opts: &VaultOptions) -> Finding {
    const NAME: &str = "key";
    match env_key_spec() {
        Ok(Some(_)) => {
            return ok(
                NAME,
                "master key from TOKENDESK_MASTER_KEY or TOKENDESK_PASSPHRASE (no key file)",
            );
        }
        Ok(None) => {}
        Err(e) => {
            return bad(
                NAME,
                Status::Fail,
                format!("{:#}", e.error),
                "fix the variable",
            );
        }
    }
    let ctx = Ctx::new(opts, &crate::clock::SystemClock);
    let path = ctx.key_path();
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) => {
            return bad(
                NAME,
                Status::Fail,
                format!("{}: {e}", path.display()),
                "restore the key file from your offline copy (without it no seed can be read), \
                 or run `tokendesk init` for a new vault",
            );
        }
    };
    key_file_mode_and_owner(&path, &meta)
}

#[cfg(target_os = "linux")]
fn key_file_mode_and_owner(path: &Path, meta: &std::fs::Metadata) -> Finding {
    use std::os::unix::fs::MetadataExt;
    const NAME: &str = "key";
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return bad(
            NAME,
            Status::Fail,
            format!(
                "{}: mode {mode:04o}, group or others may read it",
                path.display()
            ),
            format!("chmod 600 {}", path.display()),
        );
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        let status = if me == 0 { Status::Warn } else { Status::Fail };
        return bad(
            NAME,
            status,
            format!(
                "{}: owned by uid {}, not by uid {me} running this check",
                path.display(),
                meta.uid()
            ),
            "run doctor as the service's user (sudo -u tokendesk tokendesk doctor), and \
             chown the key file to that user",
        );
    }
    if let Err(e) = tokendesk_vault::read_key_file(path) {
        return bad(
            NAME,
            Status::Fail,
            e.to_string(),
            "restore the key file from your offline copy",
        );
    }
    ok(
        NAME,
        format!("{}: mode {mode:04o}, owner uid {me}", path.display()),
    )
}

#[cfg(not(target_os = "linux"))]
fn key_file_mode_and_owner(path: &Path, _meta: &std::fs::Metadata) -> Finding {
    match tokendesk_vault::read_key_file(path) {
        Ok(_) => ok(
            "key",
            format!("{} (access list not checked here)", path.display()),
        ),
        Err(e) => bad("key", Status::Fail, e.to_string(), "restore the key file"),
    }
}

/// The database and its schema, then (when the schema is current) the audit chain.
async fn check_database(opts: &VaultOptions) -> Vec<Finding> {
    let ctx = Ctx::new(opts, &crate::clock::SystemClock);
    let shown = match &opts.database {
        Some(url) => config::redact_url(url),
        None => ctx.database_url(),
    };
    let status = match tokendesk_vault::schema_status(&ctx.database_url()).await {
        Ok(status) => status,
        Err(e) => {
            return vec![bad(
                "database",
                Status::Fail,
                format!("{shown}: {e}"),
                "start the database (or the service once, which creates the SQLite vault), \
                 and check `data`/`database` in the configuration",
            )];
        }
    };
    let schema = match status.database {
        Some(v) if status.is_newer_than_binary() => bad(
            "database",
            Status::Fail,
            format!(
                "{shown}: schema {v} is newer than this tokendesk ({})",
                status.binary
            ),
            "install the tokendesk version that upgraded it (or newer)",
        ),
        None => bad(
            "database",
            Status::Fail,
            format!("{shown}: no tokendesk schema"),
            "start the service once, or run `tokendesk init`",
        ),
        Some(v) if status.pending > 0 => bad(
            "database",
            Status::Warn,
            format!(
                "{shown}: schema {v}, {} migration(s) pending",
                status.pending
            ),
            "take a backup; the next start of tokendesk applies them",
        ),
        Some(v) => ok(
            "database",
            format!("{shown}: reachable, schema {v} is current"),
        ),
    };
    let current = schema.status == Status::Ok;
    let mut findings = vec![schema];
    if current {
        findings.push(check_audit(&ctx).await);
    } else {
        findings.push(bad(
            "audit",
            Status::Warn,
            "not verified (the schema is not current)",
            "fix the database first",
        ));
    }
    findings
}

async fn check_audit(ctx: &Ctx<'_>) -> Finding {
    let vault = match ctx.open().await {
        Ok(vault) => vault,
        Err(e) => {
            return bad(
                "audit",
                Status::Fail,
                format!("cannot open the vault: {:#}", e.error),
                "check the master key (TOKENDESK_MASTER_KEY_FILE, key_file)",
            );
        }
    };
    match vault.audit_verify().await {
        Ok(report) => match report.problem {
            None => ok(
                "audit",
                format!("chain of {} entries verifies", report.entries),
            ),
            Some(problem) => bad(
                "audit",
                Status::Fail,
                format!("the chain is broken: {problem}"),
                "someone changed the database: keep it for investigation and restore the last \
                 good backup (`tokendesk restore`)",
            ),
        },
        Err(e) => bad("audit", Status::Fail, e.to_string(), "check the database"),
    }
}

#[cfg(target_os = "linux")]
fn check_disk(data: &Path) -> Finding {
    // The data folder, or its parent before the first start.
    let path = if data.exists() {
        data
    } else {
        data.parent().unwrap_or(data)
    };
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match rustix::fs::statvfs(path) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let mib = free >> 20;
            let message = format!("{}: {mib} MiB free", path.display());
            if free < DISK_FAIL_BYTES {
                bad(
                    "disk",
                    Status::Fail,
                    message,
                    "free space: SQLite and backups stop working when the disk fills",
                )
            } else if free < DISK_WARN_BYTES {
                bad(
                    "disk",
                    Status::Warn,
                    message,
                    "free space before the disk fills",
                )
            } else {
                ok("disk", message)
            }
        }
        Err(e) => bad(
            "disk",
            Status::Warn,
            format!("{}: {e}", path.display()),
            "check the data folder",
        ),
    }
}

#[cfg(not(target_os = "linux"))]
fn check_disk(data: &Path) -> Finding {
    bad(
        "disk",
        Status::Warn,
        format!(
            "{}: free space not checked on this platform",
            data.display()
        ),
        "check free space by hand",
    )
}

fn check_tls(cfg: &Resolved) -> Finding {
    let Some((cert, key)) = &cfg.tls else {
        return ok(
            "tls",
            "not configured (plain HTTP, e.g. behind a reverse proxy)",
        );
    };
    if let Err(e) = tokendesk_web::load_tls(cert, key) {
        return bad("tls", Status::Fail, e.to_string(), "fix tls_cert / tls_key");
    }
    let validity = std::fs::read_to_string(cert)
        .ok()
        .as_deref()
        .and_then(cert::validity);
    let Some(validity) = validity else {
        return bad(
            "tls",
            Status::Warn,
            format!("{}: validity could not be read", cert.display()),
            "check the certificate with `openssl x509 -noout -dates -in FILE`",
        );
    };
    let now = i64::try_from(crate::clock::Clock::now_unix_secs(
        &crate::clock::SystemClock,
    ))
    .unwrap_or(i64::MAX);
    let days_left = (validity.not_after - now).div_euclid(86_400);
    let shown = cert.display();
    if now < validity.not_before {
        bad(
            "tls",
            Status::Fail,
            format!("{shown}: not valid yet"),
            "check the clock and the certificate",
        )
    } else if now >= validity.not_after {
        bad(
            "tls",
            Status::Fail,
            format!("{shown}: expired"),
            "renew the certificate and restart tokendesk",
        )
    } else if days_left < CERT_WARN_DAYS {
        bad(
            "tls",
            Status::Warn,
            format!("{shown}: expires in {days_left} days"),
            "renew the certificate and restart tokendesk",
        )
    } else {
        ok("tls", format!("{shown}: valid for {days_left} more days"))
    }
}

#[cfg(feature = "nfc-pcsc")]
fn check_pcscd() -> Finding {
    match tokendesk_nfc::Pcsc::establish().and_then(|p| p.readers()) {
        Ok(readers) => ok("pcscd", format!("answers; {} reader(s)", readers.len())),
        Err(e) => bad(
            "pcscd",
            Status::Fail,
            e.to_string(),
            "install and start pcscd (apt-get install pcscd; systemctl enable --now pcscd.socket)",
        ),
    }
}

#[cfg(not(feature = "nfc-pcsc"))]
fn check_pcscd() -> Finding {
    bad(
        "pcscd",
        Status::Fail,
        "this tokendesk was built without PC/SC",
        "install a build with the default features",
    )
}

fn check_clock(server: &str) -> Finding {
    match sntp::offset(server, Duration::from_secs(5), &crate::clock::unix_secs_f64) {
        Ok(offset) => {
            let message = format!("offset {offset:+.3} s against {server}");
            let action = "synchronise the clock (systemd-timesyncd, chrony): TOTP codes are computed from it";
            if offset.abs() >= CLOCK_FAIL_SECS {
                bad("clock", Status::Fail, message, action)
            } else if offset.abs() >= CLOCK_WARN_SECS {
                bad("clock", Status::Warn, message, action)
            } else {
                ok("clock", message)
            }
        }
        Err(e) => bad(
            "clock",
            Status::Fail,
            e,
            "check ntp_server and that UDP port 123 is reachable",
        ),
    }
}
