//! Issue 16: logs at TRACE through a sign-in at the identity provider and a code sent by
//! e-mail over STARTTLS with authentication never contain the authorization code, the
//! `state`, an ID token, the client secret, the SMTP password, the e-mailed code or the session
//! cookie. Runs in a process of its own, like `logs::issue_17_…` (tracing caches per process
//! which call sites are wanted).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokendesk_vault::Role;

use crate::app::{TestApp, rfc_code, test_staff_settings};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const ALONE: &str = "TOKENDESK_TEST_LOGS16_ALONE";

#[test]
fn issue_16_trace_logs_of_a_provider_sign_in_and_an_emailed_code_hold_no_secret() {
    const NAME: &str = "logs_outbound::issue_16_trace_logs_of_a_provider_sign_in_and_an_emailed_code_hold_no_secret";
    if std::env::var_os(ALONE).is_none() {
        let o = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{out}\n{err}");
        assert!(out.contains("1 passed"), "the flow did not run:\n{out}");
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(flow(captured));
}

async fn flow(captured: Captured) {
    let mut client_secret = String::new();
    let now = crate::oidc::real_now();
    let app = TestApp::sqlite_configured(now, test_staff_settings(), |addr, config| {
        let (id, secret) = crate::oidc::register(addr);
        config.oidc = Some(crate::oidc::oidc_config(
            &crate::oidc::issuer(),
            addr,
            &id,
            &secret,
            false,
        ));
        config.mail = Some(crate::email::smtp(
            "STARTTLS",
            tokendesk_outbound::mail::Security::StartTls,
            Some("smtp-test-password"),
            None,
        ));
        client_secret = secret;
    })
    .await;
    let admin = app.admin().await;
    let out = crate::oidc::sign_in(&app, "alice").await;
    assert_eq!(out.status, 200, "{}", out.page);
    let session = out.session.clone().unwrap();
    let query = out.callback.split_once('?').unwrap().1.to_owned();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let (code, state) = (param("code"), param("state"));
    let id = app.capture("logs16@contoso.com").await;
    app.vault
        .set_contact(
            &crate::app::root(tokendesk_vault::Permission::Capture),
            &tokendesk_vault::RecordId(id.clone()),
            Some("logs16.private@example.org"),
            Some("Europe/Berlin"),
        )
        .await
        .unwrap();
    let desk = app.staff("desk", Role::Helpdesk).await;
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-16"),
                ("method", "call-back"),
                ("purpose", "send-email"),
                ("ahead", "15"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let mailed = rfc_code(app.now() + 15 * 60);
    let _ = admin;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines().count() > 20,
        "too few lines to prove anything:\n{text}"
    );
    let secrets = [
        ("authorization code", code),
        ("state", state),
        ("client secret", client_secret),
        ("SMTP password", "smtp-test-password".to_owned()),
        ("e-mailed code", mailed),
        (
            "session cookie",
            session.split_once('=').unwrap().1.to_owned(),
        ),
    ];
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what} too short to search for");
        assert!(
            !text.contains(secret.as_str()),
            "{what} in the logs:\n{text}"
        );
    }
    assert!(!text.contains("eyJ"), "a JWT in the logs:\n{text}");
}
