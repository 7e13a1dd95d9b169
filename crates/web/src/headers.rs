//! Security headers on every response (plus HSTS on HTTPS), the hard body-size cap (uploads;
//! forms and JSON have a smaller per-extractor limit, see `lib.rs`) and cross-origin (CSRF)
//! protection.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::csrf::CsrfLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::MAX_UPLOAD_BYTES;
use crate::client::Client;

/// No inline script or style, nothing from other origins, forms and script requests (the capture
/// frames) only to ourselves.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

type Header = SetResponseHeaderLayer<HeaderValue>;

fn overriding(name: HeaderName, value: &'static str) -> Header {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// The layer stack, outermost first.
#[allow(clippy::type_complexity)] // The stack's type is its documentation.
pub(crate) fn layers() -> ServiceBuilder<
    Stack<
        CsrfLayer,
        Stack<
            RequestBodyLimitLayer,
            Stack<
                Header,
                Stack<Header, Stack<Header, Stack<Header, Stack<Header, Stack<Header, Identity>>>>>,
            >,
        >,
    >,
> {
    ServiceBuilder::new()
        .layer(overriding(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(overriding(header::X_FRAME_OPTIONS, "DENY"))
        .layer(overriding(header::REFERRER_POLICY, "no-referrer"))
        .layer(overriding(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), clipboard-read=(self)",
        ))
        // Pages may show seeds or codes: never stored by browsers or proxies. Assets set their
        // own caching and are left alone.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BYTES))
        .layer(CsrfLayer::new())
}

/// One year, this host only: `includeSubDomains` would bind every name under the public host to
/// HTTPS too, which is not ours to decide.
const HSTS: &str = "max-age=31536000";

/// Middleware: `Strict-Transport-Security` on responses to clients that reached us over HTTPS
/// (our TLS, or a trusted proxy's). Browsers ignore it over plain HTTP, so it is not sent there.
pub(crate) async fn hsts(req: Request, next: Next) -> Response {
    let https = req.extensions().get::<Client>().is_some_and(|c| c.https);
    let mut resp = next.run(req).await;
    if https {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    resp
}
