//! Issue 17: logs at the most verbose level (TRACE, every crate) through a whole flow — first
//! admin setup, password and TOTP sign-in, a capture over the API, reveals on the page and over
//! the API — never contain a seed (base32 or hex), a code, a password, a staff TOTP key, a
//! session cookie or an API key; and each request's log line carries its own request id, the one returned to the client
//! as `X-Request-Id` (the span wraps the whole request, so anything logged while handling it
//! carries the id too).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokendesk_vault::Role;

use crate::app::{RFC_SEED, TestApp, client, rfc_code};

/// Every byte the subscriber writes.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was logged so far, one JSON object a line.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Set in the child process that runs a test alone.
const ALONE: &str = "TOKENDESK_TEST_LOGS_ALONE";

/// Runs the test `name` (its path in this binary) in a process of its own and asserts that it
/// passed there; returns true in that process, where the test body is to run. tracing caches
/// whether a log call site is wanted process-wide, so other tests running at the same time
/// without a subscriber would hide events from a subscriber set for one test alone.
pub(crate) fn in_own_process(name: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let o = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("1 passed"), "the test did not run:\n{out}");
    false
}

/// Sends everything logged in this process, at TRACE level and as JSON lines, to the result.
pub(crate) fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    captured
}

#[test]
fn issue_17_trace_logs_of_a_reveal_flow_hold_no_secret_and_carry_request_ids() {
    if !in_own_process(
        "logs::issue_17_trace_logs_of_a_reveal_flow_hold_no_secret_and_carry_request_ids",
    ) {
        return;
    }
    let captured = capture_logs();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(flow(captured));
}

async fn flow(captured: Captured) {
    let app = TestApp::sqlite().await;
    let admin = app.admin().await;
    let key = app.api_key("desk", Role::Helpdesk).await;
    let prov = app.api_key("prov", Role::Provisioner).await;
    let created: Value = client()
        .post(app.at("/api/v1/records"))
        .header("authorization", &prov)
        .json(&json!({"upn": "logs@example.com", "secret": RFC_SEED.to_lowercase()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let page = app
        .post_form(
            &admin,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-1"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(page.status(), 200);
    let r = client()
        .post(app.at(&format!("/api/v1/records/{id}/reveal")))
        .header("authorization", &key)
        .json(&json!({"verification": "call-back", "outcome": "passed", "ticket": "INC-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let revealed: Value = r.json().await.unwrap();
    let code = revealed["codes"][0]["code"].as_str().unwrap().to_owned();
    assert_eq!(code, rfc_code(app.now()));

    let text = captured.text();
    assert!(
        text.lines().count() > 20,
        "too few lines to prove anything:\n{text}"
    );
    let totp_key = app.totp_keys.lock().unwrap()["root"].clone();
    let cookie = admin
        .cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    let secrets = [
        ("seed", RFC_SEED.to_owned()),
        ("seed (lowercase)", RFC_SEED.to_lowercase()),
        (
            "seed (hex)",
            "3132333435363738393031323334353637383930".to_owned(),
        ),
        ("revealed code", code.clone()),
        ("next code", rfc_code(app.now() - app.now() % 30 + 30)),
        ("password", "correct horse battery".to_owned()),
        ("staff TOTP key", totp_key),
        ("session cookie", cookie),
        ("API key", key.trim_start_matches("Bearer ").to_owned()),
        ("API key", prov.trim_start_matches("Bearer ").to_owned()),
    ];
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what} too short to search for");
        assert!(
            !text.contains(secret.as_str()),
            "{what} in the logs:\n{text}"
        );
    }

    // Request lines carry the id, and so does what is logged below them (the database).
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let in_request =
        |l: &&Value| l["span"]["name"] == "request" || l["spans"][0]["name"] == "request";
    let request_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let routes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["route"].as_str())
        .collect();
    assert!(
        request_lines.len() >= 7,
        "{} request lines; routes {routes:?}",
        request_lines.len()
    );
    for line in &request_lines {
        assert!(in_request(line), "a request line without its id: {line}");
    }
    // The id the client got back is the one on its request's line.
    let last = request_lines.last().unwrap();
    assert_eq!(last["fields"]["route"], "/api/v1/records/{id}/reveal");
    assert_eq!(last["span"]["id"], request_id.as_str(), "{last}");
    let mut ids: Vec<&str> = request_lines
        .iter()
        .map(|l| l["span"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), request_lines.len(), "request ids repeat");
}
