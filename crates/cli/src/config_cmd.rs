//! `tokendesk config check`: validates the configuration file, flags and environment the way
//! `serve` would, and prints the settings in effect as TOML (a valid configuration file), with
//! secrets redacted.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;
use clap::Subcommand;

use crate::config::{self, FileConfig, GlobalArgs, VaultOptions, redact_url};
use crate::error::{CliError, Outcome};
use crate::serve_config::{LogFormat, Resolved, ServeArgs};

/// `tokendesk config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, environment and these flags, as `serve` would see
    /// them) and print the settings in effect, secrets redacted. Exit 2 when invalid.
    Check(ServeArgs),
}

/// Runs `config check`.
///
/// # Errors
/// Exit 2 for an invalid setting, 3 for an unreadable file or TLS certificate.
pub(crate) fn run(
    cmd: &ConfigCommand,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let ConfigCommand::Check(args) = cmd;
    let (opts, file) = config::load(global)?;
    let cfg = args.resolve(&opts, &file)?;
    tracing_subscriber::EnvFilter::try_new(&cfg.log)
        .map_err(|e| CliError::input(anyhow!("log filter {:?}: {e}", cfg.log)))?;
    if let Some((cert, key)) = &cfg.tls {
        tokendesk_web::load_tls(cert, key).map_err(|e| CliError::env(anyhow::Error::new(e)))?;
    }
    write_effective(&opts, &file, &cfg, out)?;
    Ok(Outcome::Done)
}

/// A TOML string (JSON's escaping is valid TOML for basic strings).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn path(p: &Path) -> String {
    quoted(&p.display().to_string())
}

/// Writes `key = value`, or a comment when the setting is unset.
fn line(out: &mut dyn Write, key: &str, value: Option<String>) -> std::io::Result<()> {
    match value {
        Some(value) => writeln!(out, "{key} = {value}"),
        None => writeln!(out, "# {key} is not set"),
    }
}

fn write_effective(
    opts: &VaultOptions,
    file: &FileConfig,
    cfg: &Resolved,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match &opts.config_file {
        Some(file) => writeln!(out, "# configuration file: {} (valid)", file.display())?,
        None => writeln!(
            out,
            "# no configuration file: defaults, flags and environment"
        )?,
    }
    writeln!(
        out,
        "# precedence: flag > TOKENDESK_* environment > file > default"
    )?;
    line(out, "data", Some(path(&opts.data)))?;
    line(
        out,
        "database",
        opts.database.as_deref().map(redact_url).map(|u| quoted(&u)),
    )?;
    let key_file = opts
        .key_file
        .clone()
        .unwrap_or_else(|| opts.data.join("master.key"));
    line(out, "key_file", Some(path(&key_file)))?;
    for var in ["TOKENDESK_MASTER_KEY", "TOKENDESK_PASSPHRASE"] {
        if std::env::var_os(var).is_some() {
            writeln!(
                out,
                "# {var} is set (value redacted) and takes precedence over key_file"
            )?;
        }
    }
    line(out, "reveal_quota", Some(opts.reveal_quota.to_string()))?;
    line(out, "retention_days", Some(opts.retention_days.to_string()))?;
    line(
        out,
        "reveal_max_future_hours",
        Some((cfg.reveal_max_future_secs / 3600).to_string()),
    )?;
    line(out, "listen", Some(quoted(&cfg.listen.to_string())))?;
    line(out, "tls_cert", cfg.tls.as_ref().map(|(c, _)| path(c)))?;
    line(out, "tls_key", cfg.tls.as_ref().map(|(_, k)| path(k)))?;
    let proxies: Vec<String> = cfg
        .trusted_proxies
        .iter()
        .map(|p| quoted(&p.to_string()))
        .collect();
    line(
        out,
        "trusted_proxies",
        Some(format!("[{}]", proxies.join(", "))),
    )?;
    let format = match cfg.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    line(out, "log_format", Some(quoted(format)))?;
    line(out, "log", Some(quoted(&cfg.log)))?;
    line(out, "public_url", cfg.public_url.as_deref().map(quoted))?;
    line(
        out,
        "helpdesk_phone",
        cfg.helpdesk_phone.as_deref().map(quoted),
    )?;
    line(out, "time_zone", cfg.time_zone.as_deref().map(quoted))?;
    line(
        out,
        "desk_session_hours",
        Some((cfg.desk_session_secs / 3600).to_string()),
    )?;
    line(
        out,
        "signin_burst",
        Some(cfg.signin_limit.burst.to_string()),
    )?;
    line(
        out,
        "signin_per_minute",
        Some(cfg.signin_limit.per_minute.to_string()),
    )?;
    let limits = &cfg.limits;
    for (key, secs) in [
        ("header_timeout_secs", limits.header_timeout),
        ("idle_timeout_secs", limits.idle_timeout),
        ("body_timeout_secs", limits.body_timeout),
        ("qr_timeout_secs", cfg.qr.time_budget),
    ] {
        line(out, key, Some(secs.as_secs().to_string()))?;
    }
    line(
        out,
        "max_connections",
        Some(limits.max_connections.to_string()),
    )?;
    line(
        out,
        "qr_max_megapixels",
        Some((cfg.qr.max_pixels / 1_000_000).to_string()),
    )?;
    line(
        out,
        "metrics_listen",
        cfg.metrics_listen.map(|a| quoted(&a.to_string())),
    )?;
    line(out, "backup_dir", cfg.backup.as_ref().map(|b| path(&b.dir)))?;
    if let Some(plan) = &cfg.backup {
        line(
            out,
            "backup_every_hours",
            Some((plan.every.as_secs() / 3600).to_string()),
        )?;
        line(out, "backup_keep", Some(plan.keep.to_string()))?;
    }
    line(out, "ntp_server", file.ntp_server.as_deref().map(quoted))?;
    line(out, "nfc", file.nfc.map(|b| b.to_string()))?;
    Ok(())
}
