//! Who is on the other end: the client's IP address and whether it reached us over HTTPS.
//! `X-Forwarded-For` and `X-Forwarded-Proto` are honoured only when the TCP peer is one of the
//! configured reverse proxies; from anyone else they are ignored, so a client cannot forge its
//! address into the audit trail or the lockout counters.

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::AppState;
use crate::server::Peer;

/// The client as far as we can trust it; in every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's address (the proxy's client when the peer is a trusted proxy).
    pub ip: IpAddr,
    /// Whether the client's connection is HTTPS (ours, or the trusted proxy's).
    pub https: bool,
}

/// Reverse proxies whose `X-Forwarded-*` headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust these networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client from the TCP peer and the request headers.
    pub fn client(&self, peer: IpAddr, tls: bool, headers: &HeaderMap) -> Client {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return Client {
                ip: peer,
                https: tls,
            };
        }
        // Walk X-Forwarded-For from the right (nearest hop) and stop at the first address that
        // is not one of our proxies: everything left of it was written by the client.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        let ip = forwarded
            .iter()
            .rev()
            .copied()
            .find(|ip| !self.contains(*ip))
            .or_else(|| forwarded.first().copied())
            .unwrap_or(peer);
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map_or(tls, |proto| proto.trim().eq_ignore_ascii_case("https"));
        Client { ip, https }
    }
}

/// `::ffff:a.b.c.d` as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Middleware: resolves the [`Client`] once and stores it in the request's extensions.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<ConnectInfo<Peer>>().map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |ConnectInfo(Peer(addr))| addr.ip(),
    );
    let client = state
        .config()
        .trusted_proxies
        .client(peer, state.config().tls, req.headers());
    req.extensions_mut().insert(client);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap_or_else(|_| unreachable!()));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!()),
        ])
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = proxies().client(ip("192.0.2.7"), false, &h);
        assert_eq!(
            c,
            Client {
                ip: ip("192.0.2.7"),
                https: false
            }
        );
    }

    #[test]
    fn trusted_proxy_names_the_first_untrusted_hop_from_the_right() {
        // The client forged "6.6.6.6"; the proxy appended the real address.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.9, 10.1.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = proxies().client(ip("10.0.0.2"), false, &h);
        assert_eq!(
            c,
            Client {
                ip: ip("198.51.100.9"),
                https: true
            }
        );
    }

    #[test]
    fn trusted_proxy_without_header_is_the_client() {
        let c = proxies().client(ip("::ffff:10.0.0.2"), true, &HeaderMap::new());
        assert_eq!(
            c,
            Client {
                ip: ip("10.0.0.2"),
                https: true
            }
        );
    }
}
