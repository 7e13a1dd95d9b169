//! The configuration file and the global options: which TOML file is read, its keys (unknown
//! keys are an error naming the key and its line), and the merge flag > environment > file >
//! default into [`VaultOptions`]. `tokendesk config check` lives in `config_cmd`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use serde::Deserialize;

use crate::error::CliError;
use crate::serve_config::LogFormat;

/// The packaged configuration file, read when it exists and no `--config` is given.
#[cfg(unix)]
pub(crate) const SYSTEM_CONFIG: Option<&str> = Some("/etc/tokendesk/tokendesk.toml");
/// No system-wide file on Windows: `--config`, or `tokendesk.toml` in the data folder.
#[cfg(not(unix))]
pub(crate) const SYSTEM_CONFIG: Option<&str> = None;

/// Data folder when neither flag, environment nor file names one.
pub(crate) const DEFAULT_DATA: &str = "tokendesk-data";

/// Global options as given on the command line or in the environment (clap). Secrets come only
/// from the environment or files, never from the command line.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file [default: /etc/tokendesk/tokendesk.toml when it exists, else
    /// DIR/tokendesk.toml when it exists].
    #[arg(long, global = true, env = "TOKENDESK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder holding the SQLite database and the master key file [default: tokendesk-data].
    #[arg(long, global = true, env = "TOKENDESK_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Use this PostgreSQL database (postgres://user@host/db) instead of SQLite in --data.
    #[arg(
        long,
        global = true,
        env = "TOKENDESK_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// Master key file [default: DIR/master.key]. TOKENDESK_MASTER_KEY (64 hex digits) or
    /// TOKENDESK_PASSPHRASE take precedence when set.
    #[arg(
        long,
        global = true,
        env = "TOKENDESK_MASTER_KEY_FILE",
        value_name = "FILE"
    )]
    pub key_file: Option<PathBuf>,
    /// Show times in UTC instead of the system's time zone.
    #[arg(long, global = true)]
    pub utc: bool,
    /// Reveals allowed per user per UTC day [default: 5].
    #[arg(long, global = true, env = "TOKENDESK_REVEAL_QUOTA", value_name = "N")]
    pub reveal_quota: Option<i64>,
    /// Days a delivered record keeps its seed before `purge --due` destroys it (0: at delivery)
    /// [default: 0].
    #[arg(
        long,
        global = true,
        env = "TOKENDESK_RETENTION_DAYS",
        value_name = "DAYS"
    )]
    pub retention_days: Option<i64>,
    /// How far ahead a reveal may ask for a code, in hours (1 to 744) [default: 24].
    #[arg(
        long,
        global = true,
        env = "TOKENDESK_REVEAL_MAX_FUTURE_HOURS",
        value_name = "HOURS",
        value_parser = clap::value_parser!(i64).range(MAX_FUTURE_HOURS_RANGE)
    )]
    pub reveal_max_future_hours: Option<i64>,
    /// Staff name recorded in the audit trail [default: $USER].
    #[arg(long, global = true, env = "TOKENDESK_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
}

/// Allowed values of `reveal_max_future_hours` (one hour to 31 days).
pub(crate) const MAX_FUTURE_HOURS_RANGE: std::ops::RangeInclusive<i64> = 1..=744;

/// Where the vault lives and how it behaves, after merging flags, environment, file and
/// defaults.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Data folder (SQLite database, key file).
    pub data: PathBuf,
    /// PostgreSQL URL; `None` for SQLite in `data`. May hold a password: never print it whole.
    pub database: Option<String>,
    /// Master key file, when not the default `data/master.key`.
    pub key_file: Option<PathBuf>,
    /// Reveals per user per UTC day.
    pub reveal_quota: i64,
    /// Days a delivered record keeps its seed.
    pub retention_days: i64,
    /// How far ahead a reveal may ask for a code, in hours; `None` for the vault's default.
    pub reveal_max_future_hours: Option<i64>,
    /// Staff name for the audit trail.
    pub actor: Option<String>,
}

/// The TOML file. Unknown keys are refused, so a typo does not silently fall back to a default.
/// Every key is also a flag and a `TOKENDESK_*` variable, which take precedence.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    // Vault (every command).
    pub data: Option<PathBuf>,
    pub database: Option<String>,
    pub key_file: Option<PathBuf>,
    pub reveal_quota: Option<i64>,
    pub retention_days: Option<i64>,
    pub reveal_max_future_hours: Option<i64>,
    // `serve`.
    pub listen: Option<std::net::SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub log_format: Option<LogFormat>,
    pub log: Option<String>,
    pub public_url: Option<String>,
    pub helpdesk_phone: Option<String>,
    pub time_zone: Option<String>,
    pub signin_burst: Option<u32>,
    pub signin_per_minute: Option<u32>,
    // The limits (serde cannot flatten into a struct that denies unknown keys).
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub qr_max_megapixels: Option<u64>,
    pub qr_timeout_secs: Option<u64>,
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub backup_dir: Option<PathBuf>,
    pub backup_every_hours: Option<u32>,
    pub backup_keep: Option<u32>,
    pub desk_session_hours: Option<u32>,
    /// E-mail (`[smtp]`).
    pub smtp: Option<crate::outbound_config::SmtpFile>,
    /// Sign-in through the organisation's identity provider (`[oidc]`).
    pub oidc: Option<crate::outbound_config::OidcFile>,
    // `doctor`.
    /// NTP server the clock is compared with.
    pub ntp_server: Option<String>,
    /// This machine burns tokens: `doctor` checks pcscd.
    pub nfc: Option<bool>,
}

/// The file to read: `--config`/`TOKENDESK_CONFIG` (must exist), else the system file when it
/// exists, else `DIR/tokendesk.toml` when it exists. `DIR` is the data folder from flag or
/// environment (the file cannot move the folder it is found in).
fn locate(args: &GlobalArgs, system: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = &args.config {
        return Some(path.clone());
    }
    if let Some(system) = system.filter(|p| p.exists()) {
        return Some(system.to_path_buf());
    }
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    Some(data.join("tokendesk.toml")).filter(|p| p.exists())
}

/// Reads and parses one configuration file. Errors name the file, the line and the key.
///
/// # Errors
/// Exit 3 when the file cannot be read, 2 when it is not valid.
pub(crate) fn read(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::env(anyhow::Error::new(e).context(format!("cannot read {}", path.display())))
    })?;
    parse(&text).map_err(|e| CliError::input(anyhow!("{}{e}", path.display())))
}

/// Parses the file's text; the error starts with ` line N: ` when toml knows where.
pub(crate) fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| {
            text.get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                + 1
        });
        match line {
            Some(line) => format!(" line {line}: {}", e.message()),
            None => format!(": {}", e.message()),
        }
    })
}

/// Loads the configuration file (if any) and merges the global options: flag or environment
/// first, then the file, then the defaults.
///
/// # Errors
/// As [`read`], and exit 2 for values out of range.
pub(crate) fn load(args: &GlobalArgs) -> Result<(VaultOptions, FileConfig), CliError> {
    load_with_system(args, SYSTEM_CONFIG.map(Path::new))
}

fn load_with_system(
    args: &GlobalArgs,
    system: Option<&Path>,
) -> Result<(VaultOptions, FileConfig), CliError> {
    let config_file = locate(args, system);
    let file = match &config_file {
        Some(path) => read(path)?,
        None => FileConfig::default(),
    };
    let reveal_max_future_hours = args
        .reveal_max_future_hours
        .or(file.reveal_max_future_hours);
    if let Some(h) = reveal_max_future_hours.filter(|h| !MAX_FUTURE_HOURS_RANGE.contains(h)) {
        return Err(CliError::input(anyhow!(
            "reveal_max_future_hours = {h}: give 1 to 744 hours (31 days)"
        )));
    }
    let opts = VaultOptions {
        data: args
            .data
            .clone()
            .or_else(|| file.data.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
        database: args.database.clone().or_else(|| file.database.clone()),
        key_file: args.key_file.clone().or_else(|| file.key_file.clone()),
        reveal_quota: non_negative("reveal_quota", args.reveal_quota.or(file.reveal_quota), 5)?,
        retention_days: non_negative(
            "retention_days",
            args.retention_days.or(file.retention_days),
            0,
        )?,
        reveal_max_future_hours,
        actor: args.actor.clone(),
        config_file,
    };
    Ok((opts, file))
}

fn non_negative(key: &str, value: Option<i64>, default: i64) -> Result<i64, CliError> {
    match value {
        Some(v) if v < 0 => Err(CliError::input(anyhow!("{key} = {v}: give 0 or more"))),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

/// A database URL fit to print: the password (`user:PASSWORD@`) and any `password=` query
/// parameter replaced by `<redacted>`.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:<redacted>@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=<redacted>")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        global: GlobalArgs,
    }

    fn args(argv: &[&str]) -> GlobalArgs {
        let mut full = vec!["tokendesk"];
        full.extend_from_slice(argv);
        Cmd::try_parse_from(full).unwrap().global
    }

    #[test]
    fn issue_17_unknown_key_names_the_key_and_its_line() {
        // Why: a typo must not silently fall back to a default, and the admin must find it.
        let err = parse("listen = \"127.0.0.1:1\"\n\n# comment\nlsiten = \"x\"\n")
            .err()
            .unwrap();
        assert!(err.starts_with(" line 4: unknown field `lsiten`"), "{err}");
        let err = parse("listen = 5\n").err().unwrap();
        assert!(err.starts_with(" line 1: "), "{err}");
    }

    #[test]
    fn issue_17_precedence_is_flag_then_file_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(
            &file,
            "data = \"/srv/td\"\nreveal_quota = 9\nretention_days = 3\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let (opts, _) =
            load_with_system(&args(&["--config", path, "--reveal-quota", "2"]), None).unwrap();
        assert_eq!(opts.data, PathBuf::from("/srv/td"));
        assert_eq!(opts.reveal_quota, 2);
        assert_eq!(opts.retention_days, 3);
        assert_eq!(opts.config_file.as_deref(), Some(file.as_path()));
        let (opts, _) = load_with_system(&args(&["--data", "/x"]), None).unwrap();
        assert_eq!(opts.data, PathBuf::from("/x"));
        assert_eq!((opts.reveal_quota, opts.retention_days), (5, 0));
        assert_eq!(opts.config_file, None);
    }

    #[test]
    fn issue_17_system_file_comes_before_the_data_folder_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("tokendesk.toml"), "reveal_quota = 1\n").unwrap();
        let system = dir.path().join("system.toml");
        let data_arg = ["--data", data.to_str().unwrap()];
        // No system file: the data folder's.
        let (opts, _) = load_with_system(&args(&data_arg), Some(&system)).unwrap();
        assert_eq!(opts.reveal_quota, 1);
        // A system file: it alone.
        std::fs::write(&system, "reveal_quota = 7\n").unwrap();
        let (opts, _) = load_with_system(&args(&data_arg), Some(&system)).unwrap();
        assert_eq!(opts.reveal_quota, 7);
        assert_eq!(opts.config_file.as_deref(), Some(system.as_path()));
        // An explicit file that does not exist is an error, not a fallback.
        let missing = dir.path().join("missing.toml");
        let err = load_with_system(&args(&["--config", missing.to_str().unwrap()]), None)
            .err()
            .unwrap();
        assert_eq!(err.exit_code, 3);
    }

    #[test]
    fn issue_17_out_of_range_file_values_are_refused() {
        for toml in ["reveal_quota = -1\n", "reveal_max_future_hours = 0\n"] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("c.toml");
            std::fs::write(&file, toml).unwrap();
            let err = load_with_system(&args(&["--config", file.to_str().unwrap()]), None)
                .err()
                .unwrap();
            assert_eq!(err.exit_code, 2, "{toml}");
        }
    }

    #[test]
    fn issue_17_database_passwords_are_redacted() {
        for (url, shown) in [
            (
                "postgres://td:s3cret@db:5432/td",
                "postgres://td:<redacted>@db:5432/td",
            ),
            ("postgres://td@db/td", "postgres://td@db/td"),
            (
                "postgres://db/td?user=td&password=s3cret&sslmode=require",
                "postgres://db/td?user=td&password=<redacted>&sslmode=require",
            ),
            ("postgres://td:p%40ss@db", "postgres://td:<redacted>@db"),
        ] {
            assert_eq!(redact_url(url), shown);
            assert!(!redact_url(url).contains("s3cret"));
        }
    }
}
