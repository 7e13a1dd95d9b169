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
use tokendesk_vault::{Actor, Vault};
use tokendesk_web::{AppState, TrustedProxies, WebConfig};

use crate::clock::{Clock, SystemClock};
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
    /// How far ahead a reveal may ask for a code (hours); `--reveal-max-future-hours` and
    /// `TOKENDESK_REVEAL_MAX_FUTURE_HOURS` (global vault options) override it.
    reveal_max_future_hours: Option<i64>,
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
    helpdesk_phone: Option<String>,
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
            public_url: self.public_url.clone().or(file.public_url),
            helpdesk_phone: self.helpdesk_phone.clone().or(file.helpdesk_phone),
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
    };
    let state = AppState::new(
        Arc::clone(&vault),
        Arc::new(|| SystemClock.now_unix_secs()),
        config,
    );
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
    let result =
        tokendesk_web::serve(listener, tls, tokendesk_web::app(state), shutdown_signal()).await;
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
    let actor = Actor::new("system");
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match vault.purge_due(&actor).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged seeds whose retention ended"),
            Err(e) => tracing::warn!(error = %e, "scheduled purge failed"),
        }
        if let Err(e) = vault.sweep_sessions().await {
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

    fn resolve(file: &str, args: &[&str]) -> Result<Resolved, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokendesk.toml");
        std::fs::write(&config, file).unwrap();
        let mut argv = vec!["serve", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cmd = Cmd::try_parse_from(argv).unwrap();
        cmd.serve.resolve(&cmd.vault)
    }

    /// Issue 13: the reveal window's future bound is a setting (flag > env > file > 24 h).
    #[test]
    fn issue_13_reveal_max_future_hours_comes_from_flag_file_or_default() {
        assert_eq!(resolve("", &[]).unwrap().reveal_max_future_secs, 24 * 3600);
        let file = "reveal_max_future_hours = 48\n";
        assert_eq!(
            resolve(file, &[]).unwrap().reveal_max_future_secs,
            48 * 3600
        );
        let flag = ["--reveal-max-future-hours", "2"];
        assert_eq!(
            resolve(file, &flag).unwrap().reveal_max_future_secs,
            2 * 3600
        );
        let err = resolve("reveal_max_future_hours = 0\n", &[]).err().unwrap();
        assert_eq!(err.exit_code, 2);
        assert!(
            err.error
                .to_string()
                .contains("reveal_max_future_hours = 0"),
            "{err:?}"
        );
    }
}
