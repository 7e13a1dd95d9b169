//! `tokendesk serve`: the helpdesk web app and JSON API. Opens (or on first start creates) the
//! vault, prints the one-time setup link while no staff account exists, serves HTTP or HTTPS
//! until SIGINT/SIGTERM, and purges seeds whose retention ended on a timer.
//!
//! Configuration comes from, highest first: command-line flags, `TOKENDESK_*` environment
//! variables (clap), the TOML file (`--config`, or `tokendesk.toml` in the data folder when
//! present), then built-in defaults.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;
use tokendesk_vault::{Actor, Permission, Policy, Principal, Role, Vault};
use tokendesk_web::{AppState, QrLimits, ServerLimits, SignInLimit, TrustedProxies, WebConfig};

use crate::clock::SystemClock;
use crate::error::{CliError, Outcome};
use crate::vault_cmd::{Ctx, InitArgs, VaultOptions, init, vault_error};

/// Arguments of `tokendesk serve`. Every option can also come from the environment or the
/// configuration file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TOKENDESK_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// TOML configuration file [default: DIR/tokendesk.toml when it exists].
    #[arg(long, env = "TOKENDESK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
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
    /// Sign-in attempts a client address may make at once, before the refill rate applies
    /// [default: 20].
    #[arg(long, env = "TOKENDESK_SIGNIN_BURST", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    signin_burst: Option<u32>,
    /// Sign-in attempts given back to each client address per minute [default: 30].
    #[arg(long, env = "TOKENDESK_SIGNIN_PER_MINUTE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    signin_per_minute: Option<u32>,
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

/// The TOML file. Unknown keys are refused, so a typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    public_url: Option<String>,
    helpdesk_phone: Option<String>,
    signin_burst: Option<u32>,
    signin_per_minute: Option<u32>,
    // The limits (serde cannot flatten into a struct that denies unknown keys).
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    qr_max_megapixels: Option<u64>,
    qr_timeout_secs: Option<u64>,
    /// How far ahead a reveal may ask for a code (hours); `--reveal-max-future-hours` and
    /// `TOKENDESK_REVEAL_MAX_FUTURE_HOURS` (global vault options) override it.
    reveal_max_future_hours: Option<i64>,
}

impl FileConfig {
    fn limits(&self) -> LimitArgs {
        LimitArgs {
            header_timeout_secs: self.header_timeout_secs,
            idle_timeout_secs: self.idle_timeout_secs,
            body_timeout_secs: self.body_timeout_secs,
            max_connections: self.max_connections,
            qr_max_megapixels: self.qr_max_megapixels,
            qr_timeout_secs: self.qr_timeout_secs,
        }
    }
}

/// Settings after merging flags, environment, file and defaults.
struct Resolved {
    /// Seconds; the vault refuses reveals further ahead.
    reveal_max_future_secs: i64,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    trusted_proxies: Vec<IpNet>,
    log_format: LogFormat,
    log: String,
    public_url: Option<String>,
    /// The public URL's host: requests for other hosts are refused.
    public_host: Option<String>,
    helpdesk_phone: Option<String>,
    signin_limit: SignInLimit,
    limits: ServerLimits,
    qr: QrLimits,
}

fn read_file_config(path: &Path, explicit: bool) -> Result<FileConfig, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(e) => {
            return Err(CliError::env(
                anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
            ));
        }
    };
    toml::from_str(&text)
        .map_err(|e| CliError::input(anyhow!("{}: {}", path.display(), e.message())))
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
    fn resolve(&self, opts: &VaultOptions) -> Result<Resolved, CliError> {
        let file = match &self.config {
            Some(path) => read_file_config(path, true)?,
            None => read_file_config(&opts.data.join("tokendesk.toml"), false)?,
        };
        let reveal_max_future_secs = match opts
            .reveal_max_future_hours
            .or(file.reveal_max_future_hours)
        {
            Some(h) if crate::vault_cmd::MAX_FUTURE_HOURS_RANGE.contains(&h) => {
                h.saturating_mul(3600)
            }
            Some(h) => {
                return Err(CliError::input(anyhow!(
                    "reveal_max_future_hours = {h}: give 1 to 744 hours (31 days)"
                )));
            }
            None => tokendesk_vault::DEFAULT_REVEAL_MAX_FUTURE_SECS,
        };
        let (limits, qr) = self.limits.resolve(&file.limits())?;
        let tls = match (
            self.tls_cert.clone().or(file.tls_cert),
            self.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(CliError::input(anyhow!(
                    "TLS needs both a certificate (tls_cert) and a key (tls_key)"
                )));
            }
        };
        let public_url = self.public_url.clone().or(file.public_url);
        let public_host = match &public_url {
            Some(url) => Some(tokendesk_web::host_of_url(url).ok_or_else(|| {
                CliError::input(anyhow!(
                    "public_url {url:?} is not an http:// or https:// URL with a host name"
                ))
            })?),
            None => None,
        };
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
                .or(file.log)
                .unwrap_or_else(|| "info".into()),
            public_url,
            public_host,
            helpdesk_phone: self.helpdesk_phone.clone().or(file.helpdesk_phone),
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
        })
    }
}

fn init_logging(format: LogFormat, filter: &str) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| CliError::input(anyhow!("log filter {filter:?}: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A subscriber already installed (tests calling `run` twice) is fine.
    let _ = result;
    Ok(())
}

/// Runs the server until SIGINT or SIGTERM.
///
/// # Errors
/// Exit 2 for bad configuration, 3 for the database, key, certificate or listening socket.
pub fn run(
    args: &ServeArgs,
    opts: &VaultOptions,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let cfg = args.resolve(opts)?;
    init_logging(cfg.log_format, &cfg.log)?;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(
            tokendesk_web::load_tls(cert, key).map_err(|e| CliError::env(anyhow::Error::new(e)))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::env(anyhow::Error::new(e).context("cannot start the runtime")))?;
    runtime.block_on(serve(args, opts, cfg, tls, out))
}

async fn serve(
    _args: &ServeArgs,
    opts: &VaultOptions,
    cfg: Resolved,
    tls: Option<Arc<tokendesk_web::RustlsConfig>>,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let ctx = Ctx::new(opts, &SystemClock);
    // Another instance sharing the database may win the race to create the vault: fine if a
    // vault exists afterwards.
    if needs_init(&ctx).await?
        && let Err(e) = init(&ctx, &InitArgs::default(), out).await
        && needs_init(&ctx).await?
    {
        return Err(e);
    }
    let clock: Arc<dyn tokendesk_vault::Clock> = Arc::new(SystemClock);
    let mut vault = ctx.open_with(clock).await?;
    vault.set_settings(tokendesk_vault::Settings {
        reveal_max_future_secs: cfg.reveal_max_future_secs,
        ..vault.settings()
    });
    let vault = Arc::new(vault);

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))
        .map_err(CliError::env)?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")
        .map_err(CliError::env)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    let config = WebConfig {
        tls: tls.is_some(),
        trusted_proxies: TrustedProxies::new(cfg.trusted_proxies.clone()),
        helpdesk_phone: cfg.helpdesk_phone.clone(),
        signin_limit: cfg.signin_limit,
        qr: cfg.qr,
        public_host: cfg.public_host.clone(),
        // Frame budget and capture time-out keep their defaults (see `WebConfig`).
        ..WebConfig::default()
    };
    let state = AppState::new(Arc::clone(&vault), config);
    if let Some(link) = state.setup_link(&base).await.map_err(vault_error)? {
        writeln!(
            out,
            "No staff account exists yet. Create the first administrator within 15 minutes at:\n  {}\n(restart tokendesk for a new link)",
            link.as_str()
        )?;
    }
    writeln!(out, "tokendesk listening on {scheme}://{local}")?;
    out.flush()?;
    tracing::info!(%local, tls = tls.is_some(), backend = vault.store().backend().as_str(), "listening");

    let purger = tokio::spawn(purge_timer(Arc::clone(&vault)));
    let result = tokendesk_web::serve_with(
        listener,
        tls,
        tokendesk_web::app(state),
        cfg.limits,
        shutdown_signal(),
    )
    .await;
    purger.abort();
    result
        .context("the server stopped")
        .map_err(CliError::env)?;
    tracing::info!("stopped");
    Ok(Outcome::Done)
}

/// True when the SQLite file does not exist yet or the PostgreSQL database holds no vault.
async fn needs_init(ctx: &Ctx<'_>) -> Result<bool, CliError> {
    if ctx.opts.database.is_none() {
        return Ok(!ctx.opts.data.join("vault.db").exists());
    }
    let store = ctx.store().await?;
    let expected = Vault::expected_key_id(&store).await.map_err(vault_error)?;
    store.close().await;
    Ok(expected.is_none())
}

/// Destroys seeds whose retention ended, every ten minutes (safe with several instances: each
/// purge is one transaction and skips what another instance already purged), and sweeps ended
/// sessions, used setup links and sign-in throttle rows that no longer matter.
async fn purge_timer(vault: Arc<Vault>) {
    let principal = Principal {
        actor: Actor::new("system"),
        role: Role::Admin,
    };
    let system = match Policy::authorize(&principal, Permission::Purge) {
        Ok(proof) => proof,
        Err(e) => {
            tracing::error!(error = %e, "scheduled purge disabled");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match vault.purge_due(&system).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged seeds whose retention ended"),
            Err(e) => tracing::warn!(error = %e, "scheduled purge failed"),
        }
        if let Err(e) = vault.staff().sweep_sessions().await {
            tracing::warn!(error = %e, "session sweep failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `serve`'s own options and the global vault options, as `tokendesk serve` parses them.
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        vault: VaultOptions,
    }

    /// Resolves `args` with `toml` as the configuration file.
    fn resolve_file(toml: &str, args: &[&str]) -> Result<Resolved, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokendesk.toml");
        std::fs::write(&config, toml).unwrap();
        let mut argv = vec!["serve", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cmd = Cmd::try_parse_from(argv).unwrap();
        cmd.serve.resolve(&cmd.vault)
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
