//! `tokendesk serve`: the helpdesk web app and JSON API. Opens (or on first start creates) the
//! vault, prints the one-time setup link while no staff account exists, serves HTTP or HTTPS
//! until SIGINT/SIGTERM, and purges seeds whose retention ended on a timer.
//!
//! Its settings are merged in `serve_config` (flag > environment > file > default).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokendesk_vault::{Actor, Permission, Policy, Principal, Role, Vault};
use tokendesk_web::{AppState, TrustedProxies, WebConfig};

use crate::clock::SystemClock;
use crate::config::{FileConfig, VaultOptions};
use crate::error::{CliError, Outcome};
use crate::serve_config::{LogFormat, Resolved, ServeArgs};
use crate::vault_cmd::{Ctx, InitArgs, init, vault_error};
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
    file: &FileConfig,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let cfg = args.resolve(opts, file)?;
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
    vault.set_staff_settings(tokendesk_vault::StaffSettings {
        require_provider_signin: cfg.require_provider_signin,
        desk_session_secs: cfg.desk_session_secs,
        ..vault.staff_settings()
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
        time_zone: cfg.time_zone.clone(),
        signin_limit: cfg.signin_limit,
        qr: cfg.qr,
        public_host: cfg.public_host.clone(),
        mail: cfg.mail.clone(),
        oidc: cfg.oidc.clone(),
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

    let metrics = match cfg.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, Arc::clone(&vault), out).await?),
        None => None,
    };
    let purger = tokio::spawn(purge_timer(Arc::clone(&vault)));
    let backups = match cfg.backup.clone() {
        Some(plan) => {
            tokendesk_vault::owner_only::create_dir_all(&plan.dir)
                .with_context(|| format!("cannot create the backup folder {}", plan.dir.display()))
                .map_err(CliError::env)?;
            Some(tokio::spawn(crate::backup_timer::run(
                Arc::clone(&vault),
                plan,
            )))
        }
        None => None,
    };
    let result = tokendesk_web::serve_with(
        listener,
        tls,
        tokendesk_web::app(state),
        cfg.limits,
        shutdown_signal(),
    )
    .await;
    purger.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(backups) = backups {
        backups.abort();
    }
    result
        .context("the server stopped")
        .map_err(CliError::env)?;
    tracing::info!("stopped");
    Ok(Outcome::Done)
}

/// Starts the Prometheus endpoint on its own listener; the task ends with the server.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    vault: Arc<Vault>,
    out: &mut dyn Write,
) -> Result<tokio::task::JoinHandle<()>, CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))
        .map_err(CliError::env)?;
    let local = listener
        .local_addr()
        .context("cannot read the metrics address")
        .map_err(CliError::env)?;
    writeln!(out, "metrics on http://{local}/metrics")?;
    let app = tokendesk_web::metrics::app(move || {
        let (open, idle) = vault.store().pool_usage();
        tokendesk_web::metrics::Sample {
            pool: Some(tokendesk_web::metrics::PoolUsage { open, idle }),
            reveal_batches: Some(vault.reveal_batch_sizes()),
        }
    });
    Ok(tokio::spawn(async move {
        if let Err(e) = tokendesk_web::serve(listener, None, app, std::future::pending()).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    }))
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
