//! Issue 17: `serve --metrics-listen` scraped by a real Prometheus server (Debian's
//! `prometheus`, installed by scripts/test) on loopback; values read back through
//! Prometheus's HTTP API. No user name appears in any series.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{stderr, tokendesk_at, tokendesk_process};

/// One HTTP/1.1 request over a fresh connection; the status and the raw body. `headers` are
/// extra header lines, each ending in `\r\n`.
fn http_with(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A form POST or a GET.
fn http(addr: &str, method: &str, path: &str, form: &str) -> (u16, String) {
    let form_type = "Content-Type: application/x-www-form-urlencoded\r\n";
    http_with(addr, method, path, form_type, form)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> String {
    let path =
        std::env::var("TOKENDESK_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run scripts/test (it installs Debian's prometheus), or set TOKENDESK_PROMETHEUS"
    );
    path
}

/// Polls Prometheus's query API until `query` has a sample equal to `value`.
fn wait_for_value(prometheus: &str, query: &str, value: &str) -> Result<(), String> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(stream) = TcpStream::connect(prometheus) {
            drop(stream);
            let (status, body) = http(
                prometheus,
                "GET",
                &format!("/api/v1/query?query={encoded}"),
                "",
            );
            if status == 200 && body.contains(&format!(",\"{value}\"]")) {
                return Ok(());
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "{query} never reached {value}; last answer: {last}"
    ))
}

#[test]
fn issue_17_prometheus_scrapes_request_signin_reveal_and_transition_metrics() {
    let prometheus = prometheus_binary();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        &["init"][..],
        &["staff", "add", "admin", "--role", "admin"][..],
    ] {
        let o = tokendesk_at(&data).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = tokendesk_at(&data)
        .args(["add", "--user", "dave.secretname@contoso.com", "-"])
        .write_stdin("JBSWY3DPEHPK3PXP")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let added = String::from_utf8(o.stdout).unwrap();
    let record = added
        .split("(record ")
        .nth(1)
        .unwrap()
        .trim_end()
        .trim_end_matches(')')
        .to_owned();
    let o = tokendesk_at(&data)
        .args([
            "--actor", "admin", "apikey", "create", "--name", "ops", "--role", "admin",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let api = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let mut child = tokendesk_process(&data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Killed(child);
    let (mut app, mut metrics) = (String::new(), String::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("metrics on http://") {
            metrics = rest.trim_end_matches("/metrics").to_owned();
        }
        if let Some(rest) = line.strip_prefix("tokendesk listening on http://") {
            app = rest.to_owned();
        }
        if !app.is_empty() && !metrics.is_empty() {
            break;
        }
    }
    assert!(
        !app.is_empty() && !metrics.is_empty(),
        "serve did not print both addresses"
    );

    // Traffic: three failed sign-ins for a name that must not become a label, two health checks.
    for _ in 0..3 {
        let (status, _) = http(
            &app,
            "POST",
            "/login",
            "username=carol.secretname&password=wrong-password-1",
        );
        assert!(status == 200 || status == 401 || status == 403, "{status}");
    }
    for _ in 0..2 {
        assert_eq!(http(&app, "GET", "/healthz", "").0, 200);
    }
    // A reveal and a lifecycle move over the API: counted by method and target state, never by
    // user or record.
    let reveal = r#"{"verification":"call-back","outcome":"passed","ticket":"INC-5"}"#;
    let path = format!("/api/v1/records/{record}/reveal");
    let (status, body) = http_with(&app, "POST", &path, &api, reveal);
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/v1/records/{record}/transition");
    let (status, body) = http_with(&app, "POST", &path, &api, r#"{"to":"burned"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, text) = http(&metrics, "GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(
        text.contains("tokendesk_signins_total{step=\"password\",outcome=\"failed\"} 3"),
        "{text}"
    );
    assert!(text.contains("tokendesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 2"), "{text}");
    assert!(
        text.contains("tokendesk_db_pool_connections{state=\"idle\"}"),
        "{text}"
    );
    assert!(
        !text.contains("carol") && !text.contains("wrong-password"),
        "{text}"
    );
    for expected in [
        "tokendesk_reveals_total{channel=\"api\",method=\"call-back\",outcome=\"ok\"} 1",
        "tokendesk_transitions_total{channel=\"api\",to=\"burned\",outcome=\"ok\"} 1",
        "route=\"/api/v1/records/{id}/reveal\"",
        // The one reveal was a group commit of one.
        "tokendesk_reveal_batch_size_bucket{le=\"1\"} 1",
        "tokendesk_reveal_batch_size_bucket{le=\"+Inf\"} 1",
        "tokendesk_reveal_batch_size_sum 1",
        "tokendesk_reveal_batch_size_count 1",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    for private in ["dave", record.as_str(), token.as_str()] {
        assert!(!text.contains(private), "{private} in the metrics");
    }

    // A real Prometheus scrapes it every second.
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tokendesk\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut prom = Killed(prom);
    let result = wait_for_value(
        &prom_addr,
        "tokendesk_signins_total{step=\"password\",outcome=\"failed\"}",
        "3",
    )
    .and_then(|()| {
        wait_for_value(
            &prom_addr,
            "sum(tokendesk_http_requests_total{route=\"/healthz\"})",
            "2",
        )
    })
    .and_then(|()| {
        wait_for_value(
            &prom_addr,
            "tokendesk_reveals_total{channel=\"api\",method=\"call-back\",outcome=\"ok\"}",
            "1",
        )
    });
    if let Err(e) = result {
        let _ = prom.0.kill();
        let mut log = String::new();
        let _ = prom.0.stderr.take().unwrap().read_to_string(&mut log);
        panic!("{e}\nprometheus said:\n{log}");
    }
    // No series carries the user name.
    let (_, series) = http(
        &prom_addr,
        "GET",
        "/api/v1/series?match%5B%5D=%7B__name__%3D~%22tokendesk_.%2A%22%7D",
        "",
    );
    assert!(series.contains("tokendesk_signins_total"), "{series}");
    assert!(!series.contains("carol"), "{series}");
}
