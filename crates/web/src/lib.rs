//! tokendesk's web layer (axum): server-rendered HTML pages and the JSON API under `/api/v1`.
//! It stays thin: handlers extract typed input, check the caller's permission, make one call
//! into the vault (or the OTP core) and render.
//!
//! Invariants: no SQL and no cryptography here; every route is declared once in
//! [`routes::table`] with the permission it needs, and the router is built from that table, so a
//! route without a guard cannot exist (`it::matrix` walks the table); every response carries the
//! security headers and HTML is `no-store`; state changes are POSTs behind cross-origin
//! protection; seeds, codes and tokens never travel in URLs or logs.

mod api;
mod assets;
mod auth;
mod bulk;
mod burn_grant;
mod capture;
mod client;
mod decode;
mod detail;
mod error;
mod headers;
mod host;
mod html;
mod i18n;
mod mail;
pub mod metrics;
mod pages;
mod request_id;
mod reveal;
pub mod routes;
mod server;
mod signin_limit;
mod signin_oidc;
mod timefmt;
mod toolset;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use tokendesk_vault::Vault;
use zeroize::Zeroizing;

pub use auth::Access;
pub use client::{Client, TrustedProxies};
pub use decode::QrLimits;
pub use host::host_of_url;
pub use i18n::{PAGE_LANGUAGES, page_language};
pub use server::{Peer, ServerLimits, TlsError, load_tls, serve, serve_with};
pub use signin_limit::{FrameLimit, SignInLimit};
pub use tokio_rustls::rustls::ServerConfig as RustlsConfig;

/// Deployment settings the web layer needs.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// Served over HTTPS by us (cookies get `Secure` and the `__Host-` prefix).
    pub tls: bool,
    /// Reverse proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// The helpdesk's phone number, for the message sent to users.
    pub helpdesk_phone: Option<String>,
    /// Sign-in attempts allowed per client address (see [`SignInLimit`]).
    pub signin_limit: SignInLimit,
    /// Limits on decoding uploaded screenshots.
    pub qr: QrLimits,
    /// Images each staff member may send to the capture endpoint (screen-share frames, pasted
    /// or dropped screenshots); default 10 at once, then 120 a minute (the page sends two a
    /// second at most).
    pub frame_limit: FrameLimit,
    /// How long the browser looks at a screen share for a QR code before it stops and says why
    /// (seconds; 0 means the default of 60).
    pub capture_timeout_secs: u64,
    /// The host name of the public URL ([`host_of_url`]). When set, requests naming another
    /// host are refused (421), which defeats DNS rebinding; when unset, any host is served.
    pub public_host: Option<String>,
    /// E-mail: codes sent from the reveal page and the API, and lifecycle notices. `None`:
    /// nothing is e-mailed.
    pub mail: Option<MailConfig>,
    /// Sign-in through the organisation's identity provider. `None`: local accounts only.
    pub oidc: Option<OidcConfig>,
    /// The time zone (IANA name) pages use when neither the staff member's setting nor the
    /// browser names one (without JavaScript, for API keys). `None` or unknown: UTC.
    pub time_zone: Option<String>,
}

/// What the web layer e-mails, and through which server.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The mailer (SMTP server, sender).
    pub mailer: Arc<tokendesk_outbound::mail::Mailer>,
    /// Send "token shipped" to the user's address when a record is shipped.
    pub notify_shipped: bool,
    /// Send "token delivered, seed destroyed" when a record is delivered.
    pub notify_delivered: bool,
}

/// Sign-in through the organisation's identity provider.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The provider client (discovery, keys, token exchange, ID token checks).
    pub provider: Arc<tokendesk_outbound::oidc::Provider>,
    /// The button's words: "Sign in with {label}".
    pub label: String,
    /// The claim holding roles or groups (`roles` for Entra app roles, `groups`).
    pub role_claim: String,
    /// Claim value → tokendesk role, first match in this order wins (never admin).
    pub role_map: Vec<(String, tokendesk_vault::Role)>,
    /// Accept the provider's multi-factor sign-in (`amr` contains `mfa`) instead of asking
    /// tokendesk's own second factor.
    pub trust_provider_mfa: bool,
    /// E-mail domains allowed to sign in (empty: any the provider vouches for).
    pub allowed_domains: Vec<String>,
}

struct Inner {
    vault: Arc<Vault>,
    config: WebConfig,
    decoder: decode::Decoder,
    /// Set once a staff account exists (it never goes back: the last admin cannot be removed).
    set_up: AtomicBool,
    /// Sign-in attempts per client address.
    signin_limiter: signin_limit::Limiter,
    /// Screen-share frames per staff member.
    frame_limiter: signin_limit::Limiter<String>,
    /// [`WebConfig::time_zone`], looked up once.
    zone: timefmt::Zone,
}

/// Shared, cheaply cloned state of every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// State over an open vault and the given settings. Time comes from the vault's clock, so
    /// pages, cookies and the audit trail never disagree.
    pub fn new(vault: Arc<Vault>, config: WebConfig) -> Self {
        Self(Arc::new(Inner {
            vault,
            decoder: decode::Decoder::new(config.qr),
            zone: timefmt::Zone::first_of([config.time_zone.as_deref()], &timefmt::Zone::utc()),
            config,
            set_up: AtomicBool::new(false),
            signin_limiter: signin_limit::Limiter::default(),
            frame_limiter: signin_limit::Limiter::default(),
        }))
    }

    /// Now in Unix seconds (0 before 1970, which no clock here reports).
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.now_i64()).unwrap_or(0)
    }

    pub(crate) fn now_i64(&self) -> i64 {
        self.0.vault.now().0
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.0.vault
    }

    /// The vault for a task that outlives the request's handler (a streamed answer).
    pub(crate) fn vault_arc(&self) -> Arc<Vault> {
        Arc::clone(&self.0.vault)
    }

    pub(crate) fn config(&self) -> &WebConfig {
        &self.0.config
    }

    /// The server's time zone for pages ([`WebConfig::time_zone`]).
    pub(crate) fn zone(&self) -> &timefmt::Zone {
        &self.0.zone
    }

    /// The identity provider's button label, when sign-in through one is configured.
    pub(crate) fn provider_label(&self) -> Option<&str> {
        self.0.config.oidc.as_ref().map(|o| o.label.as_str())
    }

    /// Takes one sign-in attempt from `ip`'s budget; `Err(seconds)` to wait.
    pub(crate) fn take_signin_attempt(&self, ip: std::net::IpAddr) -> Result<(), u64> {
        self.0
            .signin_limiter
            .take(self.0.config.signin_limit, ip, self.now())
    }

    /// Seconds the browser looks at a screen share before giving up.
    pub(crate) fn capture_timeout_secs(&self) -> u64 {
        match self.0.config.capture_timeout_secs {
            0 => 60,
            secs => secs,
        }
    }

    /// Takes one frame from `staff`'s capture budget; `Err(seconds)` to wait.
    pub(crate) fn take_frame(&self, staff: &str) -> Result<(), u64> {
        self.0
            .frame_limiter
            .take_key(self.0.config.frame_limit.0, staff.to_owned(), self.now())
    }

    pub(crate) fn decoder(&self) -> &decode::Decoder {
        &self.0.decoder
    }

    /// Whether the first administrator exists (cached once true).
    pub(crate) async fn is_set_up(&self) -> Result<bool, tokendesk_vault::VaultError> {
        if self.0.set_up.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = self.vault().staff().count().await? > 0;
        if done {
            self.0.set_up.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// While no staff account exists: a new one-time setup link (valid 15 minutes) under
    /// `base` (e.g. `https://tokendesk.example.com`). `None` once set up.
    ///
    /// # Errors
    /// Database errors.
    pub async fn setup_link(
        &self,
        base: &str,
    ) -> Result<Option<Zeroizing<String>>, tokendesk_vault::VaultError> {
        if self.is_set_up().await? {
            return Ok(None);
        }
        let token = self
            .vault()
            .staff()
            .create_setup_token(SETUP_LINK_TTL_SECS)
            .await?;
        Ok(Some(Zeroizing::new(format!(
            "{}/setup?token={}",
            base.trim_end_matches('/'),
            token.expose()
        ))))
    }
}

/// How long the printed setup link works.
pub const SETUP_LINK_TTL_SECS: i64 = 15 * 60;

/// Largest request body accepted for forms and JSON.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest upload (screenshots in the wizard, import files).
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// The whole application.
pub fn app(state: AppState) -> Router {
    routes::router(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host::check,
        ))
        .layer(axum::middleware::from_fn(routes::log_request))
        .layer(axum::middleware::from_fn(metrics::observe))
        .layer(axum::middleware::from_fn(headers::hsts))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client::resolve,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .layer(headers::layers())
        .layer(axum::middleware::from_fn(request_id::span))
}
