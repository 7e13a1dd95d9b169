//! tokendesk's web layer (axum): HTML pages and, later, the JSON API. It stays thin: handlers
//! extract typed input, make one call into the OTP core (or, later, the vault), and render.
//!
//! Invariants: no SQL and no cryptography here; every response carries the security headers
//! (strict CSP without inline scripts, frame denial, no referrer) and HTML is `no-store`; state
//! changes are POSTs behind cross-origin protection; seeds never travel in URLs.
//!
//! Status: the stateless Toolset page. Staff login, the vault pages and `tokendesk serve` are
//! not built yet, so no binary serves this router yet.

mod assets;
mod headers;
mod toolset;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

/// Returns the current Unix time in seconds. Injected so tests pin time; the CLI passes the
/// system clock.
pub type NowFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Shared, cheaply cloned state of every handler.
#[derive(Clone)]
pub struct AppState {
    now: NowFn,
}

impl AppState {
    /// State with the given clock.
    pub fn new(now: NowFn) -> Self {
        Self { now }
    }

    pub(crate) fn now(&self) -> u64 {
        (self.now)()
    }
}

/// Largest request body accepted (forms are small; screenshots will get their own limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole application: the only place routes are assembled.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(assets::router())
        .merge(toolset::router())
        .with_state(state)
        .layer(headers::layers())
}
