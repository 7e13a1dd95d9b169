//! Sign-in through an identity provider, against a real OpenID Provider on loopback (npm
//! `oidc-provider`, started by `scripts/test`; see `scripts/peers/oidc/provider.mjs`). Each test
//! registers its own client (dynamic registration) with its own callback URL, and drives the
//! provider's redirects over HTTP as a browser would (cookies per host, no JavaScript); the
//! provider's one-field sign-in is completed with `login_hint`.
//!
//! The token checks that a well-behaved provider never fails (wrong issuer, audience, nonce,
//! an expired token, a key it never published) use the provider's test hook, which re-signs
//! its own ID token with altered claims or another key: that hook is the only part that is
//! not the provider's own behaviour, and it is clearly outside it (`/__test/mode`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokendesk_outbound::mail::Password;
use tokendesk_outbound::oidc::{OidcSettings, Provider};
use tokendesk_vault::{AuditFilter, Permission, Role, StaffSettings};
use tokendesk_web::{OidcConfig, WebConfig};

use crate::app::{TestApp, between, client, root, test_staff_settings};

/// The provider's issuer, as `scripts/test` started it.
pub fn issuer() -> String {
    std::env::var("TOKENDESK_TEST_OIDC_ISSUER").unwrap_or_else(|_| {
        panic!("TOKENDESK_TEST_OIDC_ISSUER is not set: run the tests through scripts/test, which starts the OpenID Provider")
    })
}

/// Tokens carry the provider's real time; the app's clock must agree.
#[allow(clippy::disallowed_methods)] // the provider signs with the real clock
pub fn real_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A client registered at the provider for the app at `addr`: (id, secret).
pub fn register(addr: SocketAddr) -> (String, String) {
    let issuer = issuer();
    let body = serde_json::json!({
        "redirect_uris": [format!("http://{addr}/login/oidc/callback")],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    });
    // Registration happens while the app is being configured (not async there).
    let answer: serde_json::Value = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                reqwest::Client::new()
                    .post(format!("{issuer}/reg"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap()
            })
    })
    .join()
    .unwrap();
    (
        answer["client_id"].as_str().unwrap().to_owned(),
        answer["client_secret"].as_str().unwrap().to_owned(),
    )
}

pub struct Setup {
    pub app: TestApp,
    pub client_id: String,
}

pub fn oidc_config(
    issuer: &str,
    addr: SocketAddr,
    id: &str,
    secret: &str,
    trust_mfa: bool,
) -> OidcConfig {
    let provider = Provider::new(OidcSettings {
        issuer: issuer.to_owned(),
        client_id: id.to_owned(),
        client_secret: Password::new(secret.to_owned()),
        redirect_url: format!("http://{addr}/login/oidc/callback"),
        timeout: Duration::from_secs(5),
        ca_file: None,
        clock_skew_secs: 60,
    })
    .unwrap();
    OidcConfig {
        provider: Arc::new(provider),
        label: "Contoso".into(),
        role_claim: "roles".into(),
        role_map: vec![
            ("Tokendesk.Helpdesk".into(), Role::Helpdesk),
            ("Tokendesk.Provisioner".into(), Role::Provisioner),
        ],
        trust_provider_mfa: trust_mfa,
        allowed_domains: vec!["contoso.test".into()],
    }
}

async fn setup_with(staff: StaffSettings, trust_mfa: bool, postgres: bool) -> Setup {
    let mut client_id = String::new();
    let configure = |addr: SocketAddr, config: &mut WebConfig| {
        let (id, secret) = register(addr);
        config.oidc = Some(oidc_config(&issuer(), addr, &id, &secret, trust_mfa));
        client_id = id;
    };
    let app = if postgres {
        TestApp::postgres_configured(real_now(), staff, configure).await
    } else {
        TestApp::sqlite_configured(real_now(), staff, configure).await
    };
    // Until the first administrator exists, nothing else answers.
    let _admin = app.admin().await;
    Setup { app, client_id }
}

pub async fn setup() -> Setup {
    setup_with(test_staff_settings(), false, false).await
}

/// Sets how the provider's test hook treats this client's next ID tokens.
async fn mode(client_id: &str, mode: &str) {
    let r = client()
        .post(format!("{}/__test/mode", issuer()))
        .json(&serde_json::json!({ "client_id": client_id, "mode": mode }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// The cookies a browser would keep, per host.
#[derive(Default)]
struct Jar(BTreeMap<String, BTreeMap<String, String>>);

impl Jar {
    fn take(&mut self, host: &str, r: &reqwest::Response) {
        let cookies = self.0.entry(host.to_owned()).or_default();
        for v in r.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") || text.contains("max-age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self, host: &str) -> String {
        self.0
            .get(host)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }
}

fn host_of(url: &str) -> String {
    url.split('/').nth(2).unwrap().to_owned()
}

/// What the browser ends on after a sign-in attempt.
pub struct Outcome {
    pub status: u16,
    pub page: String,
    /// The session cookie set by the callback, if any.
    pub session: Option<String>,
    /// The callback URL the provider sent the browser to (for replays).
    pub callback: String,
    jar: Jar,
}

/// A whole sign-in as `login` at the provider: the app's start, the provider's redirects,
/// the app's callback.
pub async fn sign_in(app: &TestApp, login: &str) -> Outcome {
    let app_host = host_of(&app.at("/"));
    let mut jar = Jar::default();
    let r = client().get(app.at("/login/oidc")).send().await.unwrap();
    assert_eq!(r.status(), 303, "start");
    jar.take(&app_host, &r);
    let mut url = format!("{}&login_hint={login}", crate::app::location(&r));
    for _ in 0..10 {
        let host = host_of(&url);
        if host == app_host {
            break;
        }
        let r = client()
            .get(&url)
            .header("cookie", jar.header(&host))
            .send()
            .await
            .unwrap();
        jar.take(&host, &r);
        assert!(
            r.status().is_redirection(),
            "provider step {url}: {}",
            r.status()
        );
        let next = crate::app::location(&r);
        url = if next.starts_with('/') {
            format!("http://{host}{next}")
        } else {
            next
        };
    }
    assert_eq!(
        host_of(&url),
        app_host,
        "the provider sent the browser back"
    );
    let r = client()
        .get(&url)
        .header("cookie", jar.header(&app_host))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("tokendesk=") && !v.starts_with("tokendesk=;"))
        .map(|v| v.split(';').next().unwrap().to_owned());
    jar.take(&app_host, &r);
    Outcome {
        status,
        page: r.text().await.unwrap(),
        session,
        callback: url,
        jar,
    }
}

async fn audit_actions(app: &TestApp) -> Vec<(String, serde_json::Value)> {
    app.vault
        .audit_list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.action,
                serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

fn refused_for(actions: &[(String, serde_json::Value)], reason: &str) -> bool {
    actions
        .iter()
        .any(|(a, d)| a == "oidc-refused" && d["reason"] == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_with_a_role_claim_gets_an_account_and_enrols_tokendesks_second_factor() {
    let Setup { app, .. } = setup().await;
    let login_page = client()
        .get(app.at("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login_page.contains("Sign in with Contoso"),
        "the button is on the sign-in page"
    );
    let out = sign_in(&app, "alice").await;
    assert_eq!(out.status, 200, "{}", out.page);
    assert!(
        out.page.contains("/account/totp"),
        "on to the enrolment: {}",
        out.page
    );
    let session = out.session.expect("a session cookie");
    // The session is at the enrolment stage: the enrolment page answers, the dashboard not yet.
    let r = client()
        .get(app.at("/account/totp"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let staff = app.vault.staff().get("alice@contoso.test").await.unwrap();
    assert_eq!(staff.role, Role::Helpdesk);
    assert_eq!(staff.display_name, "Alice Example");
    let actions = audit_actions(&app).await;
    assert!(
        actions
            .iter()
            .any(|(a, d)| a == "oidc-created" && d["role"] == "helpdesk")
    );
    assert!(
        actions
            .iter()
            .any(|(a, d)| a == "login" && d["method"] == "oidc" && d["stage"] == "totp-enrol")
    );
    // Nothing of the tokens reaches the audit trail.
    let trail = serde_json::to_string(&actions.iter().map(|(_, d)| d).collect::<Vec<_>>()).unwrap();
    assert!(!trail.contains("eyJ"), "no JWT in the audit trail");
    assert!(!out.callback.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_a_role_is_refused_and_told_whom_to_ask() {
    let Setup { app, .. } = setup().await;
    let out = sign_in(&app, "bob").await;
    assert_eq!(out.status, 403, "{}", out.page);
    assert!(
        out.page.contains("ask a tokendesk administrator"),
        "{}",
        out.page
    );
    assert!(out.session.is_none());
    assert!(
        app.vault.staff().get("bob@contoso.test").await.is_err(),
        "no account made"
    );
    assert!(refused_for(&audit_actions(&app).await, "no-role"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_an_admin_made_links_on_first_sign_in_and_keeps_its_role() {
    let Setup { app, .. } = setup().await;
    app.vault
        .staff()
        .add(
            &root(Permission::ManageStaff),
            "dave@contoso.test",
            "Dave",
            Role::Auditor,
        )
        .await
        .unwrap();
    for round in 0..2 {
        let out = sign_in(&app, "dave").await;
        assert_eq!(out.status, 200, "round {round}: {}", out.page);
        assert!(out.session.is_some());
    }
    let staff = app.vault.staff().get("dave@contoso.test").await.unwrap();
    assert_eq!(
        staff.role,
        Role::Auditor,
        "the admin's role, not the provider's (none)"
    );
    let actions = audit_actions(&app).await;
    assert_eq!(
        actions.iter().filter(|(a, _)| a == "oidc-linked").count(),
        1,
        "linked once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_mfa_counts_only_when_trusted() {
    // Trusted: a sign-in with `amr` = mfa is complete.
    let Setup { app, client_id } = setup_with(test_staff_settings(), true, false).await;
    mode(&client_id, "amr-mfa").await;
    let out = sign_in(&app, "erin").await;
    assert_eq!(out.status, 200, "{}", out.page);
    assert!(
        out.page.contains("url=/\""),
        "straight to the dashboard: {}",
        out.page
    );
    let session = out.session.unwrap();
    let r = client()
        .get(app.at("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Trusted, but this token says nothing of MFA: tokendesk's own second factor.
    mode(&client_id, "normal").await;
    let out = sign_in(&app, "alice").await;
    assert!(out.page.contains("/account/totp"), "{}", out.page);
    // Not trusted (the default): even with mfa in the token, tokendesk asks its own.
    let Setup { app, client_id } = setup().await;
    mode(&client_id, "amr-mfa").await;
    let out = sign_in(&app, "erin").await;
    assert!(out.page.contains("/account/totp"), "{}", out.page);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_failing_a_check_are_refused_with_a_page_and_an_audit_entry() {
    let Setup { app, client_id } = setup().await;
    for (m, reason, words) in [
        (
            "wrong-issuer",
            "wrong-issuer",
            "not issued by the configured identity provider",
        ),
        (
            "wrong-audience",
            "wrong-audience",
            "issued for another application",
        ),
        ("expired", "expired", "has expired"),
        (
            "wrong-nonce",
            "wrong-nonce",
            "does not belong to this sign-in",
        ),
    ] {
        mode(&client_id, m).await;
        let out = sign_in(&app, "alice").await;
        assert_eq!(out.status, 401, "{m}: {}", out.page);
        assert!(out.page.contains(words), "{m}: {}", out.page);
        assert!(out.session.is_none(), "{m}: no session");
        assert!(
            refused_for(&audit_actions(&app).await, reason),
            "{m} audited"
        );
        assert!(!out.page.contains("eyJ"), "{m}: no token on the page");
    }
    assert!(
        app.vault.staff().get("alice@contoso.test").await.is_err(),
        "no account from a refused token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_missing_or_foreign_state_is_refused() {
    let Setup { app, .. } = setup().await;
    let out = sign_in(&app, "alice").await;
    assert_eq!(out.status, 200);
    // The same callback again, with the same browser: the flow was used.
    let app_host = host_of(&app.at("/"));
    let r = client()
        .get(&out.callback)
        .header("cookie", out.jar.header(&app_host))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already completed"));
    // No state at all.
    let r = client()
        .get(app.at("/login/oidc/callback?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A fresh flow completed in another browser (no flow cookie): refused, and then the flow
    // is gone for the first browser too.
    let r = client().get(app.at("/login/oidc")).send().await.unwrap();
    let url = crate::app::location(&r);
    let state = between(&format!("{url}&"), "state=", "&");
    let r = client()
        .get(app.at(&format!("/login/oidc/callback?code=abc&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let actions = audit_actions(&app).await;
    assert!(refused_for(&actions, "bad-state"));
    assert!(refused_for(&actions, "missing-state"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_triggers_one_refetch_so_rotated_keys_work() {
    let Setup { app, client_id } = setup().await;
    // First sign-in: discovery and the key set (key-1 only) are cached.
    let out = sign_in(&app, "alice").await;
    assert_eq!(out.status, 200, "{}", out.page);
    // The provider rotates: it publishes key-2 and signs with it. The cache does not know
    // key-2; one refetch (allowed once the few seconds between refetches have passed) finds it.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let r = client()
        .post(format!("{}/__test/rotate", issuer()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    mode(&client_id, "key-2").await;
    let out = sign_in(&app, "alice").await;
    assert_eq!(out.status, 200, "after rotation: {}", out.page);
    // A key the provider never published: the refetch right after finds nothing new and the
    // token is refused.
    mode(&client_id, "key-unknown").await;
    let out = sign_in(&app, "alice").await;
    assert_eq!(out.status, 401, "{}", out.page);
    assert!(
        out.page.contains("signature does not verify"),
        "{}",
        out.page
    );
    assert!(refused_for(&audit_actions(&app).await, "bad-signature"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_gives_a_clear_error_and_local_sign_in_still_works() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::sqlite_configured(real_now(), test_staff_settings(), |addr, config| {
        config.oidc = Some(oidc_config(&dead, addr, "tokendesk", "secret", false));
    })
    .await;
    let admin = app.admin().await;
    let r = client().get(app.at("/login/oidc")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("cannot be reached") && page.contains("sign in with a local account"),
        "{page}"
    );
    assert!(refused_for(
        &audit_actions(&app).await,
        "provider-unreachable"
    ));
    // Local sign-in is unaffected.
    let r = app.get(&admin, "/").await;
    assert_eq!(r.status(), 200);
    let admin = app.sign_in("root", "correct horse battery").await;
    let r = app.get(&admin, "/").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_staff_member_ends_their_provider_session() {
    let Setup { app, client_id } = setup_with(test_staff_settings(), true, true).await;
    mode(&client_id, "amr-mfa").await;
    let out = sign_in(&app, "erin").await;
    let session = out.session.unwrap();
    let r = client()
        .get(app.at("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.vault
        .staff()
        .disable(&root(Permission::ManageStaff), "erin@contoso.test")
        .await
        .unwrap();
    let r = client()
        .get(app.at("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the session ended");
    // And the provider cannot sign the disabled account in again.
    let out = sign_in(&app, "erin").await;
    assert_eq!(out.status, 403);
    assert!(out.page.contains("disabled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_passwords_can_be_kept_for_admins_only() {
    let staff = StaffSettings {
        require_provider_signin: true,
        ..test_staff_settings()
    };
    let Setup { app, .. } = setup_with(staff, false, false).await;
    // The admin signed in locally in `setup_with`: break-glass stays.
    let (_, otp) = app
        .vault
        .staff()
        .add(
            &root(Permission::ManageStaff),
            "carl",
            "Carl",
            Role::Helpdesk,
        )
        .await
        .unwrap();
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", "carl"), ("password", otp.expose())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("sign in with your organisation")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_domains_are_refused() {
    let Setup { app, .. } = setup().await;
    let out = sign_in(&app, "mallory@elsewhere.test").await;
    // The provider vouches for mallory@elsewhere.test; only contoso.test may sign in.
    assert_eq!(out.status, 403, "{}", out.page);
    assert!(
        out.page.contains("elsewhere.test cannot sign in"),
        "{}",
        out.page
    );
    assert!(refused_for(
        &audit_actions(&app).await,
        "domain-not-allowed"
    ));
}
