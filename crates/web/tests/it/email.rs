//! Codes and notices by e-mail, against real SMTP servers on loopback (aiosmtpd, started by
//! `scripts/test`: plain, STARTTLS with authentication, a certificate for another name). What
//! the server received is read back from its mail folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokendesk_outbound::mail::{Mailer, Password, Security, SmtpSettings};
use tokendesk_vault::{AuditFilter, Role};
use tokendesk_web::MailConfig;

use crate::app::{NOW, TestApp, client, rfc_code, test_staff_settings};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test, which starts the SMTP servers"
        )
    })
}

pub fn smtp(
    which: &str,
    security: Security,
    password: Option<&str>,
    port: Option<u16>,
) -> MailConfig {
    let addr = env(&format!("TOKENDESK_TEST_SMTP_{which}"));
    let (host, p) = addr.rsplit_once(':').unwrap();
    let mailer = Mailer::new(SmtpSettings {
        host: host.to_owned(),
        port: port.unwrap_or_else(|| p.parse().unwrap()),
        security,
        username: password.map(|_| "tokendesk".to_owned()),
        password: password.map(|p| Password::new(p.to_owned())),
        from: "Contoso helpdesk <helpdesk@contoso.test>".into(),
        timeout: Duration::from_secs(5),
        ca_file: Some(PathBuf::from(env("TOKENDESK_TEST_SMTP_CA"))),
    })
    .unwrap();
    MailConfig {
        mailer: Arc::new(mailer),
        notify_shipped: true,
        notify_delivered: true,
    }
}

async fn app_with(mail: MailConfig) -> TestApp {
    TestApp::sqlite_configured(NOW, test_staff_settings(), move |_, config| {
        config.mail = Some(mail);
    })
    .await
}

/// The raw message the sink received for `rcpt`, waiting up to 10 s.
async fn received(rcpt: &str) -> String {
    for _ in 0..100 {
        if let Some(raw) = find(rcpt) {
            return raw;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message for {rcpt} arrived");
}

fn find(rcpt: &str) -> Option<String> {
    let dir = PathBuf::from(env("TOKENDESK_TEST_SMTP_MAILDIR"));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names.into_iter().find_map(|json| {
        let envelope: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).ok()?).ok()?;
        let hit = envelope["rcpt_tos"]
            .as_array()?
            .iter()
            .any(|t| t.as_str() == Some(rcpt));
        hit.then(|| std::fs::read_to_string(json.with_extension("eml")).ok())?
    })
}

/// A record for `upn` whose codes go to `email`, in `zone`.
/// [`record`] with the user's language set.
async fn record_in(app: &TestApp, upn: &str, email: &str, zone: &str, language: &str) -> String {
    let id = record(app, upn, email, zone).await;
    app.vault
        .set_language(
            &crate::app::root(tokendesk_vault::Permission::Capture),
            &tokendesk_vault::RecordId(id.clone()),
            Some(language),
        )
        .await
        .unwrap();
    id
}

async fn record(app: &TestApp, upn: &str, email: &str, zone: &str) -> String {
    let id = app.capture(upn).await;
    app.vault
        .set_contact(
            &crate::app::root(tokendesk_vault::Permission::Capture),
            &tokendesk_vault::RecordId(id.clone()),
            Some(email),
            Some(zone),
        )
        .await
        .unwrap();
    id
}

async fn actions(app: &TestApp, upn: &str) -> Vec<(String, serde_json::Value)> {
    app.vault
        .audit_list(&AuditFilter {
            subject: Some(upn.into()),
            ..AuditFilter::default()
        })
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

/// The digits of the code in a received message (the plain-text part, `591 757`).
fn code_in(raw: &str) -> String {
    let line = raw
        .lines()
        .map(str::trim)
        .find(|l| {
            l.len() == 7
                && l.chars().filter(char::is_ascii_digit).count() == 6
                && l.chars().nth(3) == Some(' ')
        })
        .unwrap_or_else(|| panic!("no grouped code in {raw}"));
    line.replace(' ', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_sent_from_the_reveal_page_is_right_for_its_stated_window_and_audited() {
    let app = app_with(smtp("PLAIN", Security::None, None, None)).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = record(
        &app,
        "anna@contoso.com",
        "anna.private@example.org",
        "Europe/Berlin",
    )
    .await;
    let page = app.get_text(&desk, &format!("/records/{id}/reveal")).await;
    assert!(
        page.contains("anna.private@example.org"),
        "the address is on the form"
    );
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-2001"),
                ("method", "call-back"),
                ("purpose", "send-email"),
                ("ahead", "30"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sent to anna.private@example.org"), "{page}");
    let raw = received("anna.private@example.org").await;
    let code = code_in(&raw);
    // The code is the one for 30 minutes from now, and the page never showed it.
    let at = app.now() + 30 * 60;
    assert_eq!(code, rfc_code(at));
    assert!(
        !page.contains(&code),
        "the operator never sees an e-mailed code"
    );
    // The window stated is its step ±120 s, in the user's zone (Berlin is UTC+1 in winter).
    let step_start = at - at % 30;
    let from = step_start - 120;
    let until = step_start + 30 + 120;
    let clock = |t: u64| {
        let t = (t + 3600) % 86_400;
        format!("{:02}:{:02}:{:02}", t / 3600, t % 3600 / 60, t % 60)
    };
    let unfolded = raw.replace("\r\n ", " ");
    assert!(
        unfolded.contains(&format!(
            "between {} and {} (Europe/Berlin)",
            clock(from),
            clock(until)
        )),
        "{unfolded}"
    );
    let trail = actions(&app, "anna@contoso.com").await;
    assert!(
        trail
            .iter()
            .any(|(a, d)| a == "reveal" && d["purpose"] == "email"),
        "{trail:?}"
    );
    assert!(
        trail.iter().any(|(a, d)| a == "email.sent"
            && d["channel"] == "smtp"
            && d["to"] == "anna.private@example.org"
            && d["server_reply"].as_str().unwrap().starts_with("250")),
        "{trail:?}"
    );
    let text = serde_json::to_string(&trail.iter().map(|(_, d)| d).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains(&code), "no code in the audit trail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_sends_a_code_over_starttls_with_authentication_without_answering_it() {
    let app = app_with(smtp(
        "STARTTLS",
        Security::StartTls,
        Some("smtp-test-password"),
        None,
    ))
    .await;
    let _admin = app.admin().await;
    let key = app.api_key("desk", Role::Helpdesk).await;
    let id = record(
        &app,
        "ben@contoso.com",
        "ben.private@example.org",
        "America/New_York",
    )
    .await;
    let r = client()
        .post(app.at(&format!("/api/v1/records/{id}/reveal")))
        .header("authorization", &key)
        .json(&serde_json::json!({
            "verification": "call-back", "outcome": "passed", "ticket": "INC-2002",
            "purpose": "email", "future": 60, "send_email": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.get("codes").is_none(), "no code in the answer: {body}");
    assert_eq!(body["sent"]["to"], "ben.private@example.org");
    assert_eq!(body["sent"]["time_zone"], "America/New_York");
    let raw = received("ben.private@example.org").await;
    assert_eq!(code_in(&raw), rfc_code(app.now() + 3600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_tell_the_operator_and_the_audit_trail_that_the_code_was_not_sent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    for (name, mail, reason) in [
        (
            "down",
            smtp("PLAIN", Security::None, None, Some(dead)),
            "unreachable",
        ),
        (
            "auth",
            smtp("STARTTLS", Security::StartTls, Some("wrong-password"), None),
            "auth-refused",
        ),
        (
            "mismatch",
            smtp("MISMATCH", Security::StartTls, None, None),
            "tls",
        ),
    ] {
        let app = app_with(mail).await;
        let desk = app.staff("desk", Role::Helpdesk).await;
        let to = format!("{name}.private@example.org");
        let id = record(&app, &format!("{name}@contoso.com"), &to, "Europe/Paris").await;
        let r = app
            .post_form(
                &desk,
                &format!("/records/{id}/reveal"),
                &[
                    ("ticket", "INC-3"),
                    ("method", "call-back"),
                    ("purpose", "send-email"),
                    ("ahead", "15"),
                ],
            )
            .await;
        assert_eq!(r.status(), 502, "{name}");
        let page = r.text().await.unwrap();
        assert!(page.contains("The code was NOT sent"), "{name}: {page}");
        let trail = actions(&app, &format!("{name}@contoso.com")).await;
        assert!(
            trail
                .iter()
                .any(|(a, d)| a == "email.not-sent" && d["reason"] == reason),
            "{name}: {trail:?}"
        );
        assert!(find(&to).is_none(), "{name}: nothing arrived");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_address_nothing_is_revealed() {
    let app = app_with(smtp("PLAIN", Security::None, None, None)).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = app.capture("noaddr@contoso.com").await;
    let page = app.get_text(&desk, &format!("/records/{id}/reveal")).await;
    assert!(page.contains("This record has no e-mail address"));
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-4"),
                ("method", "call-back"),
                ("purpose", "send-email"),
                ("ahead", "15"),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
    let trail = actions(&app, "noaddr@contoso.com").await;
    assert!(
        !trail.iter().any(|(a, _)| a == "reveal"),
        "no reveal happened: {trail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_is_told_when_the_token_ships_and_arrives() {
    let app = app_with(smtp("PLAIN", Security::None, None, None)).await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let id = record(
        &app,
        "cora@contoso.com",
        "cora.private@example.org",
        "Europe/Berlin",
    )
    .await;
    for (to, extra) in [
        ("burned", vec![("serial", "C302-77")]),
        ("shipped", vec![("carrier", "DHL"), ("tracking", "JJD0001")]),
    ] {
        let mut form = vec![("to", to)];
        form.extend(extra);
        let r = app
            .post_form(&prov, &format!("/records/{id}/transition"), &form)
            .await;
        assert_eq!(r.status(), 303, "{to}");
        if to == "shipped" {
            assert!(crate::app::location(&r).contains("mail=sent"));
            let page = app.get_text(&prov, &crate::app::location(&r)).await;
            assert!(page.contains("The user was told by e-mail"));
        }
    }
    let raw = received("cora.private@example.org").await;
    assert!(
        raw.contains("on its way") && raw.contains("JJD0001") && raw.contains("DHL"),
        "{raw}"
    );
    let trail = actions(&app, "cora@contoso.com").await;
    assert!(
        trail
            .iter()
            .any(|(a, d)| a == "email.sent" && d["message"] == "shipped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_can_be_switched_off() {
    let mut mail = smtp("PLAIN", Security::None, None, None);
    mail.notify_shipped = false;
    let app = app_with(mail).await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let id = record(
        &app,
        "dan@contoso.com",
        "dan.private@example.org",
        "Europe/Berlin",
    )
    .await;
    for to in ["burned", "shipped"] {
        let r = app
            .post_form(&prov, &format!("/records/{id}/transition"), &[("to", to)])
            .await;
        assert_eq!(r.status(), 303);
        assert!(!crate::app::location(&r).contains("mail="));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(find("dan.private@example.org").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpdesk_operator_cannot_change_where_codes_go() {
    let app = app_with(smtp("PLAIN", Security::None, None, None)).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = record(
        &app,
        "eve@contoso.com",
        "eve.private@example.org",
        "Europe/Berlin",
    )
    .await;
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/contact"),
            &[("email", "attacker@example.net")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let prov = app.staff("prov", Role::Provisioner).await;
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/contact"),
            &[("email", "eve.new@example.org"), ("time_zone", "Mars/Base")],
        )
        .await;
    assert_eq!(r.status(), 422, "an unknown zone is refused");
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/contact"),
            &[
                ("email", "eve.new@example.org"),
                ("time_zone", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let rec = app.vault.record(&id).await.unwrap();
    assert_eq!(rec.email.as_deref(), Some("eve.new@example.org"));
    assert_eq!(rec.time_zone.as_deref(), Some("Asia/Tokyo"));
    assert!(
        actions(&app, "eve@contoso.com")
            .await
            .iter()
            .any(|(a, d)| a == "contact" && d["email"] == "eve.new@example.org")
    );
}

/// A message as its text: quoted-printable soft line breaks joined and `=XX` bytes decoded
/// (lettre sends non-ASCII text quoted-printable), folded headers unfolded.
fn decoded(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("\r\n ", " ");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 21: what the user reads follows the record's language, not the sender's: a German
/// record gets a German code e-mail from an operator whose pages are English, a French record a
/// French notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_record_gets_a_german_email_whoever_sends_it() {
    let app = app_with(smtp("PLAIN", Security::None, None, None)).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = record_in(
        &app,
        "dora@contoso.com",
        "dora.private@example.org",
        "Europe/Berlin",
        "de",
    )
    .await;
    let r = client()
        .post(app.at(&format!("/records/{id}/reveal")))
        .header("cookie", &desk.cookie)
        .header("accept-language", "en-GB,en;q=0.9")
        .form(&[
            ("ticket", "INC-2101"),
            ("method", "call-back"),
            ("purpose", "send-email"),
            ("ahead", "30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sent to dora.private@example.org"), "{page}");
    let raw = received("dora.private@example.org").await;
    let at = app.now() + 30 * 60;
    assert_eq!(code_in(&raw), rfc_code(at), "the right code, in German too");
    let text = decoded(&raw);
    for german in [
        "Hallo dora@contoso.com,",
        "hier ist der Anmeldecode, um den Sie den Helpdesk gebeten haben (Ticket INC-2101):",
        "Verwenden Sie ihn am",
        "(Europe/Berlin), wenn Microsoft bei der Anmeldung als dora@contoso.com",
        "Wenn Sie diesen Code nicht angefordert haben",
        "<html lang=\"de\">",
    ] {
        assert!(text.contains(german), "{german:?} not in {text}");
    }
    for english in ["Hello", "sign-in code", "Use it on", "If you did not ask"] {
        assert!(!text.contains(english), "{english:?} in {text}");
    }

    // A French record's shipped notice is French.
    let prov = app.staff("prov", Role::Provisioner).await;
    let id = record_in(
        &app,
        "eloise@contoso.com",
        "eloise.private@example.org",
        "Europe/Paris",
        "fr",
    )
    .await;
    for (to, extra) in [
        ("burned", vec![("serial", "C302-78")]),
        (
            "shipped",
            vec![("carrier", "La Poste"), ("tracking", "8R001")],
        ),
    ] {
        let mut form = vec![("to", to)];
        form.extend(extra);
        let r = app
            .post_form(&prov, &format!("/records/{id}/transition"), &form)
            .await;
        assert_eq!(r.status(), 303, "{to}");
    }
    let text = decoded(&received("eloise.private@example.org").await);
    for french in [
        "Bonjour eloise@contoso.com,",
        "votre jeton de connexion pour eloise@contoso.com a été expédié le",
        "Transporteur : La Poste",
        "Numéro de suivi : 8R001",
        "D'ici son arrivée, appelez le support",
    ] {
        assert!(text.contains(french), "{french:?} not in {text}");
    }
    assert!(
        !text.contains("Hello") && !text.contains("on its way"),
        "{text}"
    );
}
