//! Static assets compiled into the binary: no CDN, nothing to deploy beside the executable.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const CAPTURE_JS: &str = include_str!("../assets/capture.js");
const BURN_JS: &str = include_str!("../assets/burn.js");
const BULK_JS: &str = include_str!("../assets/bulk.js");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

pub(crate) async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub(crate) async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS)
}

pub(crate) async fn capture_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", CAPTURE_JS)
}

pub(crate) async fn burn_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", BURN_JS)
}

pub(crate) async fn bulk_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", BULK_JS)
}
