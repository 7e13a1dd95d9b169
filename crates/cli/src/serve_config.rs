//! `tokendesk serve`'s own settings: its flags (each also a `TOKENDESK_*` variable and a key
//! of the configuration file) and their merge, flag > environment > file > default, into
//! [`Resolved`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;
use tokendesk_web::{QrLimits, ServerLimits, SignInLimit};

use crate::config::{FileConfig, VaultOptions};
use crate::error::CliError;

/// Arguments of `tokendesk serve`. Every option can also come from the environment or the
/// configuration file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TOKENDESK_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(
        long,
        env = "TOKENDESK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "TOKENDESK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For and
    /// X-Forwarded-Proto headers are believed.
    #[arg(
        long = "trusted-proxy",
        env = "TOKENDESK_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Log format on standard error [default: text].
    #[arg(long, env = "TOKENDESK_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `tokendesk_web=debug` [default: info].
    #[arg(long, env = "TOKENDESK_LOG", value_name = "FILTER")]
    log: Option<String>,
    /// The address users' browsers use (for the setup link), e.g. https://tokendesk.example.com.
    #[arg(long, env = "TOKENDESK_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Helpdesk phone number printed in the message sent to users with their token.
    #[arg(long, env = "TOKENDESK_HELPDESK_PHONE", value_name = "NUMBER")]
    helpdesk_phone: Option<String>,
    /// Time zone (IANA name, e.g. Europe/Berlin) pages show times in when neither the staff
    /// member's setting nor the browser names one [default: UTC].
    #[arg(long, env = "TOKENDESK_TIME_ZONE", value_name = "ZONE")]
    time_zone: Option<String>,
    /// Sign-in attempts a client address may make at once, before the refill rate applies
    /// [default: 20].
    #[arg(long, env = "TOKENDESK_SIGNIN_BURST", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    signin_burst: Option<u32>,
    /// Sign-in attempts given back to each client address per minute [default: 30].
    #[arg(long, env = "TOKENDESK_SIGNIN_PER_MINUTE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    signin_per_minute: Option<u32>,
    /// Serve Prometheus metrics on this address at /metrics [default: off]. Keep it private
    /// (loopback or a monitoring network): it needs no sign-in.
    #[arg(long, env = "TOKENDESK_METRICS_LISTEN", value_name = "ADDR:PORT")]
    metrics_listen: Option<SocketAddr>,
    /// Write a backup (as `tokendesk backup`) into this folder at start and then on a timer
    /// [default: none, no scheduled backups].
    #[arg(long, env = "TOKENDESK_BACKUP_DIR", value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Hours between scheduled backups [default: 24].
    #[arg(long, env = "TOKENDESK_BACKUP_EVERY_HOURS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    backup_every_hours: Option<u32>,
    /// Scheduled backups kept in --backup-dir; older ones are deleted [default: 7].
    #[arg(long, env = "TOKENDESK_BACKUP_KEEP", value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    backup_keep: Option<u32>,
    /// Hours a desk stays signed in after `tokendesk login` (1 to 24) [default: 8].
    #[arg(long, env = "TOKENDESK_DESK_SESSION_HOURS", value_name = "HOURS", value_parser = clap::value_parser!(u32).range(1..=24))]
    desk_session_hours: Option<u32>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Limits against slow clients and costly uploads (issue 13). Every one is also a
/// `TOKENDESK_*` variable and a TOML key of the same name.
#[derive(Debug, Args, Default)]
struct LimitArgs {
    /// Seconds a client has for the TLS handshake and then for each request head, counted
    /// from connecting or from the previous response [default: 15].
    #[arg(long, env = "TOKENDESK_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    header_timeout_secs: Option<u64>,
    /// Seconds a connection may sit with no byte moving and no request being handled before
    /// it is closed [default: 60].
    #[arg(long, env = "TOKENDESK_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    idle_timeout_secs: Option<u64>,
    /// Seconds a client has to send a whole request body [default: 60].
    #[arg(long, env = "TOKENDESK_BODY_TIMEOUT_SECS", value_name = "SECS")]
    body_timeout_secs: Option<u64>,
    /// Most connections open at once; more wait in the kernel's queue [default: 512].
    #[arg(long, env = "TOKENDESK_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Largest screenshot the wizard decodes, in megapixels [default: 40; at most 67].
    #[arg(long, env = "TOKENDESK_QR_MAX_MEGAPIXELS", value_name = "MPX")]
    qr_max_megapixels: Option<u64>,
    /// Seconds one screenshot decode may run before it is stopped [default: 5].
    #[arg(long, env = "TOKENDESK_QR_TIMEOUT_SECS", value_name = "SECS")]
    qr_timeout_secs: Option<u64>,
}

impl LimitArgs {
    /// Flags and environment over the file, over the defaults; zero is refused everywhere.
    fn resolve(&self, file: &LimitArgs) -> Result<(ServerLimits, QrLimits), CliError> {
        fn pick<T: Copy + PartialEq + From<u8>>(
            name: &str,
            flag: Option<T>,
            file: Option<T>,
            default: T,
        ) -> Result<T, CliError> {
            let value = flag.or(file).unwrap_or(default);
            if value == T::from(0u8) {
                return Err(CliError::input(anyhow!("{name} must be at least 1")));
            }
            Ok(value)
        }
        let (server, qr) = (ServerLimits::default(), QrLimits::default());
        let secs = |name, flag, file, default: std::time::Duration| {
            pick(name, flag, file, default.as_secs()).map(Duration::from_secs)
        };
        let megapixels = pick(
            "qr_max_megapixels",
            self.qr_max_megapixels,
            file.qr_max_megapixels,
            qr.max_pixels / 1_000_000,
        )?;
        let max_pixels = megapixels
            .checked_mul(1_000_000)
            .filter(|&pixels| pixels <= tokendesk_qr::MAX_PIXELS)
            .ok_or_else(|| {
                CliError::input(anyhow!(
                    "qr_max_megapixels is at most {} (8192x8192)",
                    tokendesk_qr::MAX_PIXELS / 1_000_000
                ))
            })?;
        Ok((
            ServerLimits {
                header_timeout: secs(
                    "header_timeout_secs",
                    self.header_timeout_secs,
                    file.header_timeout_secs,
                    server.header_timeout,
                )?,
                idle_timeout: secs(
                    "idle_timeout_secs",
                    self.idle_timeout_secs,
                    file.idle_timeout_secs,
                    server.idle_timeout,
                )?,
                body_timeout: secs(
                    "body_timeout_secs",
                    self.body_timeout_secs,
                    file.body_timeout_secs,
                    server.body_timeout,
                )?,
                max_connections: pick(
                    "max_connections",
                    self.max_connections,
                    file.max_connections,
                    server.max_connections,
                )?,
            },
            QrLimits {
                max_pixels,
                time_budget: secs(
                    "qr_timeout_secs",
                    self.qr_timeout_secs,
                    file.qr_timeout_secs,
                    qr.time_budget,
                )?,
                ..qr
            },
        ))
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings after merging flags, environment, file and defaults.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Seconds; the vault refuses reveals further ahead.
    pub(crate) reveal_max_future_secs: i64,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) log_format: LogFormat,
    pub(crate) log: String,
    pub(crate) public_url: Option<String>,
    /// The public URL's host: requests for other hosts are refused.
    pub(crate) public_host: Option<String>,
    pub(crate) helpdesk_phone: Option<String>,
    /// The pages' default time zone (checked IANA name).
    pub(crate) time_zone: Option<String>,
    pub(crate) signin_limit: SignInLimit,
    pub(crate) limits: ServerLimits,
    pub(crate) qr: QrLimits,
    /// The metrics listener, when set.
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Scheduled backups, when a folder is set.
    pub(crate) backup: Option<crate::backup_timer::BackupPlan>,
    /// E-mail, when `[smtp]` is set.
    pub(crate) mail: Option<tokendesk_web::MailConfig>,
    /// The identity provider, when `[oidc]` is set.
    pub(crate) oidc: Option<tokendesk_web::OidcConfig>,
    /// Local sign-in for admins only.
    pub(crate) require_provider_signin: bool,
    /// Seconds a desk session lasts (one hour to a day).
    pub(crate) desk_session_secs: i64,
}

/// `desk_session_hours` from the flag, else the file, else 8; 1 to 24 (a working day at most
/// by default, never more than a day).
fn desk_session_secs(flag: Option<u32>, file: &FileConfig) -> Result<i64, CliError> {
    let hours = flag.or(file.desk_session_hours).unwrap_or(8);
    if !(1..=24).contains(&hours) {
        return Err(CliError::input(anyhow!(
            "desk_session_hours = {hours}: give 1 to 24 hours"
        )));
    }
    Ok(i64::from(hours) * 3600)
}

/// The file's limit keys, in the shape of the flags.
fn limits_of(file: &FileConfig) -> LimitArgs {
    LimitArgs {
        header_timeout_secs: file.header_timeout_secs,
        idle_timeout_secs: file.idle_timeout_secs,
        body_timeout_secs: file.body_timeout_secs,
        max_connections: file.max_connections,
        qr_max_megapixels: file.qr_max_megapixels,
        qr_timeout_secs: file.qr_timeout_secs,
    }
}

/// A count that must be at least 1 (flags check this themselves; the file is checked here).
fn positive(key: &str, value: Option<u32>, default: u32) -> Result<u32, CliError> {
    match value {
        Some(0) => Err(CliError::input(anyhow!("{key} must be at least 1"))),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn parse_proxy(text: &str) -> Result<IpNet, CliError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            CliError::input(anyhow!(
                "trusted proxy {text:?} is neither an IP address nor a CIDR network (like 10.0.0.0/8)"
            ))
        })
}

impl ServeArgs {
    fn backup_plan(
        &self,
        file: &FileConfig,
    ) -> Result<Option<crate::backup_timer::BackupPlan>, CliError> {
        let every = positive(
            "backup_every_hours",
            self.backup_every_hours.or(file.backup_every_hours),
            24,
        )?;
        let keep = positive("backup_keep", self.backup_keep.or(file.backup_keep), 7)?;
        let dir = self.backup_dir.clone().or_else(|| file.backup_dir.clone());
        Ok(dir.map(|dir| crate::backup_timer::BackupPlan {
            dir,
            every: Duration::from_secs(u64::from(every) * 3600),
            keep: usize::try_from(keep).unwrap_or(usize::MAX),
        }))
    }

    /// Merges the flags (and environment) over the file's keys and the defaults.
    ///
    /// # Errors
    /// Exit 2 for a value out of range or unparsable.
    pub(crate) fn resolve(
        &self,
        opts: &VaultOptions,
        file: &FileConfig,
    ) -> Result<Resolved, CliError> {
        // In range: checked when the options were merged (`config::load`).
        let reveal_max_future_secs = opts
            .reveal_max_future_hours
            .map_or(tokendesk_vault::DEFAULT_REVEAL_MAX_FUTURE_SECS, |h| {
                h.saturating_mul(3600)
            });
        let (limits, qr) = self.limits.resolve(&limits_of(file))?;
        let tls = match (
            self.tls_cert.clone().or_else(|| file.tls_cert.clone()),
            self.tls_key.clone().or_else(|| file.tls_key.clone()),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(CliError::input(anyhow!(
                    "TLS needs both a certificate (tls_cert) and a key (tls_key)"
                )));
            }
        };
        let public_url = self.public_url.clone().or_else(|| file.public_url.clone());
        let public_host = match &public_url {
            Some(url) => Some(tokendesk_web::host_of_url(url).ok_or_else(|| {
                CliError::input(anyhow!(
                    "public_url {url:?} is not an http:// or https:// URL with a host name"
                ))
            })?),
            None => None,
        };
        let mail = crate::outbound_config::mail(file.smtp.as_ref())?;
        let (oidc, require_provider_signin) =
            crate::outbound_config::oidc(file.oidc.as_ref(), public_url.as_deref())?;
        let proxies = if self.trusted_proxies.is_empty() {
            &file.trusted_proxies
        } else {
            &self.trusted_proxies
        };
        Ok(Resolved {
            reveal_max_future_secs,
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            tls,
            trusted_proxies: proxies
                .iter()
                .map(|p| parse_proxy(p))
                .collect::<Result<_, _>>()?,
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log: self
                .log
                .clone()
                .or_else(|| file.log.clone())
                .unwrap_or_else(|| "info".into()),
            public_url,
            public_host,
            helpdesk_phone: self
                .helpdesk_phone
                .clone()
                .or_else(|| file.helpdesk_phone.clone()),
            time_zone: self
                .time_zone
                .clone()
                .or_else(|| file.time_zone.clone())
                .map(|z| tokendesk_outbound::zone::check(&z).map_err(CliError::input))
                .transpose()?,
            signin_limit: SignInLimit {
                burst: positive(
                    "signin_burst",
                    self.signin_burst.or(file.signin_burst),
                    SignInLimit::default().burst,
                )?,
                per_minute: positive(
                    "signin_per_minute",
                    self.signin_per_minute.or(file.signin_per_minute),
                    SignInLimit::default().per_minute,
                )?,
            },
            limits,
            qr,
            backup: self.backup_plan(file)?,
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            mail,
            oidc,
            require_provider_signin,
            desk_session_secs: desk_session_secs(self.desk_session_hours, file)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `serve`'s own options and the global options, as `tokendesk serve` parses them.
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        global: crate::config::GlobalArgs,
    }

    /// Resolves `args` with `toml` as the configuration file.
    fn resolve_file(toml: &str, args: &[&str]) -> Result<Resolved, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokendesk.toml");
        std::fs::write(&config, toml).unwrap();
        let mut argv = vec!["serve", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cmd = Cmd::try_parse_from(argv).unwrap();
        let (opts, file) = crate::config::load(&cmd.global)?;
        cmd.serve.resolve(&opts, &file)
    }

    fn resolve(args: &[&str], toml: &str) -> Result<Resolved, CliError> {
        resolve_file(toml, args)
    }

    #[test]
    fn issue_13_limits_come_from_flags_then_file_then_defaults() {
        // Why: the new limits must follow the same precedence as every other setting.
        let cfg = resolve(
            &["--max-connections", "100", "--qr-timeout-secs", "2"],
            "max_connections = 7\nheader_timeout_secs = 9\nqr_max_megapixels = 12\n",
        )
        .unwrap();
        assert_eq!(
            cfg.limits,
            ServerLimits {
                header_timeout: Duration::from_secs(9),
                max_connections: 100,
                ..ServerLimits::default()
            }
        );
        assert_eq!(
            cfg.qr,
            QrLimits {
                max_pixels: 12_000_000,
                time_budget: Duration::from_secs(2),
                ..QrLimits::default()
            }
        );
        let defaults = resolve(&[], "").unwrap();
        assert_eq!(defaults.limits, ServerLimits::default());
        assert_eq!(defaults.qr, QrLimits::default());
        assert_eq!(defaults.limits.header_timeout, Duration::from_secs(15));
        assert_eq!(defaults.public_host, None);
    }

    #[test]
    fn issue_13_zero_or_oversize_limits_are_refused() {
        // Why: a zero timeout or cap would make the server unusable; a pixel budget above the
        // decoder's own cap would promise what it cannot do.
        for (args, toml) in [
            (&["--body-timeout-secs", "0"][..], ""),
            (&[][..], "max_connections = 0\n"),
            (&["--qr-max-megapixels", "68"][..], ""),
            (&["--qr-max-megapixels", "18446744073709551615"][..], ""),
            (&[][..], "idle_timeout_secs = 0\n"),
        ] {
            let Err(err) = resolve(args, toml) else {
                unreachable!("{args:?} {toml:?} was accepted")
            };
            assert_eq!(err.exit_code, 2, "{args:?} {toml:?}");
        }
    }

    #[test]
    fn issue_20_desk_session_length_is_a_setting_of_one_to_24_hours() {
        // Why: a desk token is a bearer credential; its life is the organisation's choice, but
        // never more than a day.
        assert_eq!(resolve(&[], "").unwrap().desk_session_secs, 8 * 3600);
        assert_eq!(
            resolve(&[], "desk_session_hours = 4\n")
                .unwrap()
                .desk_session_secs,
            4 * 3600
        );
        assert_eq!(
            resolve(&["--desk-session-hours", "2"], "desk_session_hours = 4\n")
                .unwrap()
                .desk_session_secs,
            2 * 3600
        );
        for (args, toml) in [
            (&[][..], "desk_session_hours = 0\n"),
            (&[][..], "desk_session_hours = 25\n"),
        ] {
            let Err(err) = resolve(args, toml) else {
                unreachable!("{args:?} {toml:?} was accepted")
            };
            assert_eq!(err.exit_code, 2, "{args:?} {toml:?}");
        }
        assert!(Cmd::try_parse_from(["t", "--desk-session-hours", "25"]).is_err());
    }

    #[test]
    fn issue_13_public_url_sets_the_host_allow_list() {
        // Why: the public URL is what turns the host check on; a URL without a host is an
        // input error, not a silently open server.
        let cfg = resolve(&["--public-url", "https://TokenDesk.example:8443/"], "").unwrap();
        assert_eq!(cfg.public_host.as_deref(), Some("tokendesk.example"));
        let Err(err) = resolve(&["--public-url", "tokendesk.example"], "") else {
            unreachable!("a URL without scheme was accepted")
        };
        assert_eq!(err.exit_code, 2);
    }

    /// Issue 13: the reveal window's future bound is a setting (flag > env > file > 24 h).
    #[test]
    fn issue_13_reveal_max_future_hours_comes_from_flag_file_or_default() {
        assert_eq!(
            resolve_file("", &[]).unwrap().reveal_max_future_secs,
            24 * 3600
        );
        let file = "reveal_max_future_hours = 48\n";
        assert_eq!(
            resolve_file(file, &[]).unwrap().reveal_max_future_secs,
            48 * 3600
        );
        let flag = ["--reveal-max-future-hours", "2"];
        assert_eq!(
            resolve_file(file, &flag).unwrap().reveal_max_future_secs,
            2 * 3600
        );
        let err = resolve_file("reveal_max_future_hours = 0\n", &[])
            .err()
            .unwrap();
        assert_eq!(err.exit_code, 2);
        assert!(
            err.error
                .to_string()
                .contains("reveal_max_future_hours = 0"),
            "{err:?}"
        );
    }
}
