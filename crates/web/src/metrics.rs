//! Prometheus metrics (text exposition format 0.0.4), kept by one middleware so handlers stay
//! untouched: HTTP requests and latency by route pattern; reveals by channel, verification
//! method and outcome; sign-in steps by outcome (lockouts included); lifecycle transitions by
//! target state and outcome; and, at scrape time, the database pool. Labels come only from
//! fixed vocabularies (route patterns, methods, states, status classes): never a user name, a
//! record id, a code or any other request data. The verification method and target state are
//! read from the body of the four routes that carry them, matched against those vocabularies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Verification methods a reveal may name; anything else is counted as `other`.
const METHODS: [&str; 3] = ["call-back", "passphrase", "second-approver"];

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Registry {
    /// (method, route, status) → count.
    requests: BTreeMap<(&'static str, String, u16), u64>,
    /// (method, route) → latency.
    latency: BTreeMap<(&'static str, String), Histogram>,
    /// (channel, method, outcome) → count.
    reveals: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    /// (step, outcome) → count.
    signins: BTreeMap<(&'static str, &'static str), u64>,
    /// (channel, to, outcome) → count.
    transitions: BTreeMap<(&'static str, &'static str, &'static str), u64>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut guard)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn outcome(status: u16) -> &'static str {
    match status {
        200..=399 => "ok",
        401 | 403 => "refused",
        409 => "conflict",
        422 | 400 => "invalid",
        429 => "limited",
        _ => "error",
    }
}

/// What a metered route is, from its pattern.
#[derive(Clone, Copy)]
enum Kind {
    Reveal(&'static str),
    Transition(&'static str),
    SignIn(&'static str),
    Other,
}

fn kind(method: &Method, route: &str) -> Kind {
    if *method != Method::POST {
        return Kind::Other;
    }
    match route {
        "/records/{id}/reveal" => Kind::Reveal("page"),
        "/api/v1/records/{id}/reveal" => Kind::Reveal("api"),
        "/records/{id}/transition" => Kind::Transition("page"),
        "/api/v1/records/{id}/transition" => Kind::Transition("api"),
        "/login" => Kind::SignIn("password"),
        "/login/totp" => Kind::SignIn("totp"),
        _ => Kind::Other,
    }
}

/// The value of `key` in a JSON object or a form body, if it is one of `allowed`.
fn peek(body: &[u8], key: &str, allowed: &[&'static str]) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    struct Fields {
        verification: Option<String>,
        to: Option<String>,
    }
    let value = if body.first() == Some(&b'{') {
        let fields: Fields = serde_json::from_slice(body).ok()?;
        if key == "to" {
            fields.to
        } else {
            fields.verification
        }
    } else {
        std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }?;
    allowed.iter().copied().find(|a| *a == value)
}

fn states() -> Vec<&'static str> {
    tokendesk_vault::ALL_STATES
        .iter()
        .map(|s| s.as_str())
        .collect()
}

/// Middleware (inside routing, so the route pattern is known): times and counts every request
/// and classifies the metered ones.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = crate::routes::route_pattern(&req);
    let kind = kind(&method, &route);
    let (req, label) = match kind {
        Kind::Reveal(_) | Kind::Transition(_) => {
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await else {
                return StatusCode::PAYLOAD_TOO_LARGE.into_response();
            };
            let label = match kind {
                Kind::Reveal(_) => peek(&bytes, "verification", &METHODS)
                    .or_else(|| peek(&bytes, "method", &METHODS)),
                _ => peek(&bytes, "to", &states()),
            };
            (Request::from_parts(parts, Body::from(bytes)), label)
        }
        _ => (req, None),
    };
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    let method = method_label(&method);
    with_registry(|r| {
        *r.requests
            .entry((method, route.clone(), status))
            .or_default() += 1;
        let h = r.latency.entry((method, route)).or_default();
        h.count += 1;
        h.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b)
            && let Some(slot) = h.buckets.get_mut(i)
        {
            *slot += 1;
        }
        let label = label.unwrap_or("other");
        match kind {
            Kind::Reveal(channel) => {
                *r.reveals
                    .entry((channel, label, outcome(status)))
                    .or_default() += 1;
            }
            Kind::Transition(channel) => {
                *r.transitions
                    .entry((channel, label, outcome(status)))
                    .or_default() += 1;
            }
            Kind::SignIn(step) => {
                let result = match status {
                    303 => "ok",
                    429 => "locked",
                    _ => "failed",
                };
                *r.signins.entry((step, result)).or_default() += 1;
            }
            Kind::Other => {}
        }
    });
    resp
}

/// What is read from the vault at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Database pool use.
    pub pool: Option<PoolUsage>,
    /// Reveals per group commit.
    pub reveal_batches: Option<tokendesk_vault::BatchSizes>,
}

/// Database pool figures for the scrape.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: usize,
}

fn counter<K>(
    out: &mut String,
    name: &str,
    help: &str,
    rows: &BTreeMap<K, u64>,
    labels: impl Fn(&K) -> String,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (key, value) in rows {
        let _ = writeln!(out, "{name}{{{}}} {value}", labels(key));
    }
}

/// The registry in Prometheus text format, with the sample's pool use as gauges and its
/// group-commit sizes as a histogram.
pub fn render(sample: Sample) -> String {
    let Sample {
        pool,
        reveal_batches,
    } = sample;
    let mut out = String::new();
    with_registry(|r| {
        counter(
            &mut out,
            "tokendesk_http_requests_total",
            "HTTP requests by method, route pattern and status.",
            &r.requests,
            |(m, route, s)| format!("method=\"{m}\",route=\"{route}\",status=\"{s}\""),
        );
        let name = "tokendesk_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency by method and route pattern.\n# TYPE {name} histogram"
        );
        for ((m, route), h) in &r.latency {
            let labels = format!("method=\"{m}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
        counter(
            &mut out,
            "tokendesk_reveals_total",
            "Reveal requests by channel, verification method and outcome.",
            &r.reveals,
            |(c, m, o)| format!("channel=\"{c}\",method=\"{m}\",outcome=\"{o}\""),
        );
        counter(
            &mut out,
            "tokendesk_signins_total",
            "Sign-in steps by outcome (locked: refused by a lockout or the address budget).",
            &r.signins,
            |(s, o)| format!("step=\"{s}\",outcome=\"{o}\""),
        );
        counter(
            &mut out,
            "tokendesk_transitions_total",
            "Lifecycle transition requests by channel, target state and outcome.",
            &r.transitions,
            |(c, t, o)| format!("channel=\"{c}\",to=\"{t}\",outcome=\"{o}\""),
        );
    });
    if let Some(pool) = pool {
        let name = "tokendesk_db_pool_connections";
        let _ = writeln!(
            out,
            "# HELP {name} Database pool connections by state.\n# TYPE {name} gauge"
        );
        let idle = u64::try_from(pool.idle).unwrap_or(u64::MAX);
        let _ = writeln!(out, "{name}{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "{name}{{state=\"in_use\"}} {}",
            u64::from(pool.open).saturating_sub(idle)
        );
    }
    if let Some(sizes) = reveal_batches {
        let name = "tokendesk_reveal_batch_size";
        let _ = writeln!(
            out,
            "# HELP {name} Reveals per group commit (one transaction and one fsync).\n# TYPE {name} histogram"
        );
        for (bound, n) in sizes.buckets {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", sizes.count);
        let _ = writeln!(out, "{name}_sum {}", sizes.sum);
        let _ = writeln!(out, "{name}_count {}", sizes.count);
    }
    out
}

/// The metrics endpoint (`GET /metrics`), served on its own address. `sample` reads the
/// vault's figures at scrape time.
pub fn app(sample: impl Fn() -> Sample + Clone + Send + Sync + 'static) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let sample = sample.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    render(sample()),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_takes_only_known_values() {
        let json = br#"{"verification":"call-back","passphrase":"s3cret","ticket":"x"}"#;
        assert_eq!(peek(json, "verification", &METHODS), Some("call-back"));
        let form = b"ticket=INC-1&method=second-approver&passphrase=abc";
        assert_eq!(peek(form, "method", &METHODS), Some("second-approver"));
        assert_eq!(
            peek(b"method=alice%40example.com", "method", &METHODS),
            None
        );
        assert_eq!(
            peek(b"to=shipped", "to", &["burned", "shipped"]),
            Some("shipped")
        );
        assert_eq!(peek(b"\xff\xfe", "to", &["shipped"]), None);
    }
}
