//! A request id on every log line of a request: the outermost middleware opens a `request`
//! span with a fresh id and runs the request inside it, so the request line and whatever is
//! logged while handling it (database, errors) carry `id`. The id goes back to the client as
//! `X-Request-Id`, for a user to quote when reporting a problem. Ids are this process's random
//! prefix and a counter: unique without a random draw per request.

use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// Distinguishes this process's ids from another instance's.
static PREFIX: LazyLock<u32> = LazyLock::new(|| {
    let hash = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    u32::try_from(hash >> 32).unwrap_or_default()
});
static NEXT: AtomicU64 = AtomicU64::new(1);

fn next_id() -> String {
    format!("{:08x}-{}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Middleware: runs the request inside a `request{id=…}` span and returns the id.
pub(crate) async fn span(req: Request, next: Next) -> Response {
    let id = next_id();
    let span = tracing::info_span!("request", id = %id);
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    resp
}
