//! The API keeps its contract (issue 18): schemathesis (PyPI, every package pinned in
//! `scripts/peers/schemathesis/requirements.txt`) reads `/api/v1/openapi.json`, generates
//! requests that follow it and requests that break it, and checks every answer against the
//! document with all of its checks. The real app on a fresh SQLite vault over loopback HTTP, an
//! admin API key, a fixed seed and a bounded number of cases; the test wants zero failures.
//! Without TOKENDESK_TEST_SCHEMATHESIS (set by scripts/test) it fails rather than skip.

use std::process::Stdio;

use tokendesk_vault::Role;

use crate::app::TestApp;

/// The run, fixed: the same seed draws the same cases on every machine
/// (`TOKENDESK_CONTRACT_SEED` picks another for a longer hunt).
const SEED: &str = "18";
/// Cases per operation in the fuzzing phase; the coverage and stateful phases add their own
/// (`TOKENDESK_CONTRACT_CASES` for more).
const MAX_EXAMPLES: &str = "12";

fn schemathesis() -> String {
    std::env::var("TOKENDESK_TEST_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "TOKENDESK_TEST_SCHEMATHESIS is not set: run this test through scripts/test (it \
             installs schemathesis from scripts/peers/schemathesis/requirements.txt into a \
             virtual environment under target/), or point it at a schemathesis executable"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_in_the_api() {
    let exe = schemathesis();
    let app = TestApp::sqlite().await;
    let _admin = app.admin().await;
    let key = app.api_key("schemathesis", Role::Admin).await;
    // Some records to meet: the stateful phase captures more through the API itself.
    for upn in ["ada@example.com", "bob@example.com"] {
        app.capture(upn).await;
    }
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/peers/schemathesis/schemathesis.toml"
    );
    let work = tempfile::tempdir().unwrap();
    let seed = std::env::var("TOKENDESK_CONTRACT_SEED").unwrap_or_else(|_| SEED.into());
    let cases = std::env::var("TOKENDESK_CONTRACT_CASES").unwrap_or_else(|_| MAX_EXAMPLES.into());
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(app.at("/api/v1/openapi.json"))
        .args(["--checks", "all", "--seed", &seed, "--max-examples", &cases])
        .args(["--workers", "1", "--request-timeout", "30"])
        .arg("--header")
        .arg(format!("Authorization: {key}"))
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .env("HOME", work.path())
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // It really ran: every operation tested, cases generated, none failed.
    assert!(stdout.contains("Tested: 20"), "{stdout}");
    assert!(stdout.contains(" generated"), "{stdout}");
    assert!(!stdout.contains("FAILURES"), "{stdout}");
    assert!(!stdout.contains(key.trim_start_matches("Bearer ")));
}

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, String) {
    let mut req = crate::client()
        .request(method, app.at(path))
        .header("authorization", key);
    if let Some((content_type, body)) = body {
        req = req.header("content-type", content_type).body(body);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A value sent in the wrong field may be a secret: a refused body names the field and the type
/// it expects, never the value (serde's own message quotes it: `invalid type: string "…"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_names_the_field_never_the_value() {
    let app = TestApp::sqlite().await;
    let _admin = app.admin().await;
    let key = app.api_key("leak", Role::Admin).await;
    let id = app.capture("leak@example.com").await;
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let cases = [
        (
            format!("/api/v1/records/{id}/reveal"),
            format!(
                r#"{{"verification": "call-back", "outcome": "passed", "ticket": "T-1", "future": "{secret}"}}"#
            ),
            "`future`",
        ),
        (
            format!("/api/v1/records/{id}/reveal"),
            format!(
                r#"{{"verification": "call-back", "outcome": "passed", "ticket": ["{secret}"]}}"#
            ),
            "`ticket`",
        ),
        (
            "/api/v1/records".to_owned(),
            format!(r#"{{"upn": "x@example.com", "secret": {{"seed": "{secret}"}}}}"#),
            "`secret`",
        ),
        (
            "/api/v1/export".to_owned(),
            format!(r#"{{"format": "entra", "{secret}": 1}}"#),
            "does not know",
        ),
        (
            format!("/api/v1/records/{id}/reveal"),
            format!(r#"{{"verification": "call-back", "outcome": "{secret}", "ticket": "T-1"}}"#),
            "outcome",
        ),
    ];
    for (path, body, names) in cases {
        let (status, answer) = send(
            &app,
            &key,
            reqwest::Method::POST,
            &path,
            Some(("application/json", body)),
        )
        .await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            !answer.contains("JBSWY3DP"),
            "{path} echoes the value: {answer}"
        );
        assert!(answer.contains(names), "{path} names {names}: {answer}");
        let problem: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(problem["code"], "bad_request", "{answer}");
    }
}

/// What the document promises besides the shapes: the statuses of refusals, integers written
/// as `1650.0`, unknown query parameters refused, a page cursor naming no record 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_the_statuses_the_document_names() {
    use reqwest::Method;
    let app = TestApp::sqlite().await;
    let _admin = app.admin().await;
    let key = app.api_key("statuses", Role::Admin).await;
    let id = app.capture("status@example.com").await;
    let get = async |path: &str| send(&app, &key, Method::GET, path, None).await;
    let post = async |path: String, body: &str| {
        let body = Some(("application/json", body.to_owned()));
        send(&app, &key, Method::POST, &path, body).await
    };
    // A body that is not JSON: 415.
    let (status, answer) = send(
        &app,
        &key,
        Method::POST,
        "/api/v1/records",
        Some(("text/plain", "upn=x".into())),
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    // An integer may be written as a float without a fraction (JSON Schema's integer).
    let (status, answer) = post(
        format!("/api/v1/records/{id}/reveal"),
        r#"{"verification": "call-back", "outcome": "passed", "ticket": "T-2", "future": 5.0}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post(
        format!("/api/v1/records/{id}/reveal"),
        r#"{"verification": "call-back", "outcome": "passed", "ticket": "T-2", "future": 5.5}"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // Query strings: unknown parameters, both cursors, an unknown cursor, the ranges.
    for (path, want) in [
        ("/api/v1/records?sate=captured", 400),
        ("/api/v1/records?limit=20.0", 200),
        ("/api/v1/records?limit=201", 400),
        ("/api/v1/records?overdue_days=36501", 400),
        ("/api/v1/records?state=", 400),
        (
            "/api/v1/records?after=00000000-0000-4000-8000-000000000000",
            404,
        ),
        ("/api/v1/records?after=not-an-id", 400),
        (
            "/api/v1/records?after=00000000-0000-4000-8000-000000000000&before=00000000-0000-4000-8000-000000000001",
            400,
        ),
        ("/api/v1/audit?until=", 400),
        ("/api/v1/audit?until=%202026-12-24", 400),
        ("/api/v1/audit?until=2026-12-24", 200),
        ("/api/v1/audit?verb=x", 400),
    ] {
        let (status, answer) = get(path).await;
        assert_eq!(status, want, "{path}: {answer}");
    }
    let (status, page) = get("/api/v1/records?limit=1").await;
    assert_eq!(status, 200, "{page}");
    // Approvals: unknown 404, one's own 403 (the key acts for the admin who made it).
    let (status, answer) = post("/api/v1/approvals/nope/approve".into(), "{}").await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = post(
        format!("/api/v1/records/{id}/approval"),
        r#"{"ticket": "T-3", "reason": "quota"}"#,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let approval: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let approval = approval["approval"].as_str().unwrap();
    let (status, answer) = post(format!("/api/v1/approvals/{approval}/approve"), "{}").await;
    assert_eq!(status, 403, "{answer}");
    // A desk-only route with an API key: 403, not a malformed request.
    let (status, answer) = post("/api/v1/desk/logout".into(), "{}").await;
    assert_eq!(status, 403, "{answer}");
    // Transition fields are checked whichever move they are for.
    let (status, answer) = post(
        format!("/api/v1/records/{id}/transition"),
        r#"{"to": "burned", "expected": "soon"}"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post(
        format!("/api/v1/records/{id}/transition"),
        r#"{"to": "burned", "code": "12ab56"}"#,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    // A passphrase the vault would refuse is refused before the capture: no record is left.
    let (status, answer) = post(
        "/api/v1/records".into(),
        r#"{"upn": "short@example.com", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "passphrase": "a b c"}"#,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    let (_, page) = get("/api/v1/records?q=short%40").await;
    assert!(page.contains(r#""total":0"#), "{page}");
    // A blank e-mail or time zone on capture means none, as on the contact route.
    let (status, answer) = post(
        "/api/v1/records".into(),
        r#"{"upn": "blank@example.com", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "email": " ", "time_zone": ""}"#,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}
