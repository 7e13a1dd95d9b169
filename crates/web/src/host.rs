//! The host allow-list. With a public URL configured, a request whose `Host` names any other
//! host is refused with 421 Misdirected Request before any handler runs: a page on an
//! attacker's domain that re-resolves to this server (DNS rebinding) sends its own host name,
//! so it never reaches the app. Loopback names (`localhost`, `127.0.0.1`, `[::1]`) are always
//! accepted (no attacker controls them), and so are `/healthz` and `/readyz`, which load
//! balancers probe by address. The port is not compared: the attacker's name is what differs.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The host of an `http://` or `https://` URL, lowercased, without port, user or path
/// (`https://TokenDesk.example:8443/x` → `tokendesk.example`; IPv6 keeps its brackets).
/// `None` for anything else.
pub fn host_of_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    host_of_authority(host_port)
}

/// `host[:port]` → host, lowercased, trailing dot removed.
fn host_of_authority(authority: &str) -> Option<String> {
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        authority.get(..=end)?
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    valid.then_some(host)
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Middleware: refuses requests for another host when a public host is configured.
pub(crate) async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(public) = state.config().public_host.as_deref() else {
        return next.run(req).await;
    };
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let named = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    match named.as_deref().and_then(host_of_authority) {
        Some(host) if host == public || is_loopback_name(&host) => next.run(req).await,
        _ => (
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer for this host name; use its public address\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::host_of_url;

    #[test]
    fn public_url_hosts() {
        for (url, host) in [
            ("https://tokendesk.example", Some("tokendesk.example")),
            (
                "https://TokenDesk.Example:8443/x?y",
                Some("tokendesk.example"),
            ),
            ("http://user@tokendesk.example./", Some("tokendesk.example")),
            ("https://[::1]:8443", Some("[::1]")),
            ("https://10.0.0.5", Some("10.0.0.5")),
            ("tokendesk.example", None),
            ("ftp://tokendesk.example", None),
            ("https://", None),
            ("https://bad host", None),
        ] {
            assert_eq!(host_of_url(url).as_deref(), host, "{url}");
        }
    }
}
