//! Issue 21: every page follows the viewer's language (the staff member's setting, else
//! `Accept-Language`, else English), shows no raw catalogue key (`⟦key⟧`) and no English
//! sentence left over; what the user reads (the message for the user) follows the record's
//! language.

use tokendesk_vault::{Permission, RecordId, Role};

use crate::TestApp;
use crate::app::{Browser, RFC_SEED, client, root};

both_backends!(
    issue_21_the_language_is_the_persons_else_the_browsers,
    issue_21_wizard_refusals_worded_by_the_vault_and_the_seed_parser_are_translated,
    issue_21_the_api_sets_the_users_language,
);

async fn get(app: &TestApp, b: &Browser, path: &str, accept: &str) -> String {
    let r = client()
        .get(app.at(path))
        .header("cookie", &b.cookie)
        .header("accept-language", accept)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.text().await.unwrap()
}

async fn issue_21_the_language_is_the_persons_else_the_browsers(app: TestApp) {
    let admin = app.admin().await;
    let _ = app.capture("sprache@example.com").await;
    for (accept, lang, title, state) in [
        (
            "de-CH,de;q=0.9,en;q=0.5",
            "de",
            "<h1>Übersicht</h1>",
            ">erfasst</a>",
        ),
        (
            "fr-FR,fr;q=0.9",
            "fr",
            "<h1>Tableau de bord</h1>",
            ">saisi</a>",
        ),
        ("nl,en;q=0.5", "en", "<h1>Dashboard</h1>", ">captured</a>"),
    ] {
        let page = get(&app, &admin, "/", accept).await;
        assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(page.contains(title), "{lang}: {page}");
        assert!(page.contains(state), "{lang}: {page}");
    }
    // The person's own choice wins over the browser.
    let r = app
        .post_form(&admin, "/account", &[("time_zone", ""), ("language", "fr")])
        .await;
    assert_eq!(r.status(), 303);
    let page = get(&app, &admin, "/records", "de").await;
    assert!(page.contains("<html lang=\"fr\">"), "{page}");
    assert!(page.contains("<h1>Dossiers</h1>"), "{page}");
    assert!(page.contains(">Se déconnecter</button>"), "{page}");
    // A language without pages is refused, in the person's language, and changes nothing.
    let r = app
        .post_form(
            &admin,
            "/account",
            &[("time_zone", ""), ("language", "tlh")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("pas de pages en « tlh »"), "{body}");
    let page = get(&app, &admin, "/account", "de").await;
    assert!(page.contains("<option value=\"fr\" selected>"), "{page}");
}

/// English sentences of the pages; on a German or French page none may be left. Each page's
/// English rendering must contain some of them (checked below), so the test can fail.
const SENTINELS: &[&str] = &[
    ">Sign out<",
    ">Dashboard<",
    ">Records<",
    ">Filter<",
    ">History<",
    ">Lifecycle<",
    ">Checklist<",
    "Message for the user",
    "Hello ",
    "Until it arrives",
    "Reveal a code to a verified caller",
    "Verified — show the code",
    "Before any code",
    ">Purpose<",
    "Over the quota",
    "Current and next code",
    "Time left",
    "valid until",
    "Back to the record",
    ">Provision a token<",
    "Screen share started",
    "Capture the seed",
    ">Save<",
    "Reveal approvals",
    "Nothing pending",
    ">Approve<",
    ">Audit trail<",
    "Download CSV",
    "Raw detail",
    "What happened",
    "marked the token",
    "captured the seed",
    "signed in with the password",
    "created the vault",
    "Add a staff member",
    ">API keys<",
    "Desk sessions",
    "Last sign-in",
    "Create API key",
    "Sign a desk in",
    "Code from the desk",
    "Your desk sessions",
    "Burn on a desk reader",
    "Waiting for the desk",
    "Codes, conversions and QR codes",
    "Entra ID hardware token CSV line",
    ">Show codes<",
    " s left",
    "Records by state",
    "Your settings",
    ">Time zone<",
    "Not found",
    "There is no such entry",
    ">Sign in<",
    ">User name<",
    ">Password<",
    "Phone for call-back",
    "Caller passphrase",
    "not shipped",
    "seconds left",
    "Provision a team at once",
    "No batch yet",
    ">Batches<",
    "Tap one token after another",
    "At a desk with an NFC reader",
    "All batches",
];

/// A page: what to request and how.
enum Req {
    Get(String),
    /// A form post whose answer is a page (200), not a redirect.
    Post(String, Vec<(&'static str, String)>),
    /// Signed out.
    Anonymous(&'static str),
    /// An error page, with its status.
    Error(String, u16),
}

async fn fetch(app: &TestApp, b: &Browser, req: &Req, accept: &str) -> String {
    let r = match req {
        Req::Get(path) | Req::Error(path, _) => client()
            .get(app.at(path))
            .header("cookie", &b.cookie)
            .header("accept-language", accept),
        Req::Post(path, form) => client()
            .post(app.at(path))
            .header("cookie", &b.cookie)
            .header("accept-language", accept)
            .form(form),
        Req::Anonymous(path) => client().get(app.at(path)).header("accept-language", accept),
    }
    .send()
    .await
    .unwrap();
    let want = match req {
        Req::Error(_, status) => *status,
        Req::Anonymous(_) => r.status().as_u16(),
        _ => 200,
    };
    assert_eq!(r.status().as_u16(), want, "{accept}");
    r.text().await.unwrap()
}

/// Every page, signed in as an administrator, in German and in French: the page's language is
/// named, no raw key shows and none of the English sentences the English page has is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_21_every_page_in_german_and_french_has_no_raw_key_and_no_english_left() {
    let app = TestApp::sqlite().await;
    let admin = app.admin().await;
    // A captured record (burn on a desk), a burned one with its user's own language (the
    // message for the user), a pending approval asked by a colleague, audit entries of many kinds.
    let captured = app.capture("erfasst@example.com").await;
    let burned = app.capture("gebrannt@example.com").await;
    let r = app
        .post_form(
            &admin,
            &format!("/records/{burned}/transition"),
            &[("to", "burned"), ("serial", "C302-1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let desk = app.staff("kollege", Role::Helpdesk).await;
    let r = app
        .post_form(
            &desk,
            &format!("/records/{burned}/approval"),
            &[("ticket", "INC-7"), ("reason", "Kontingent")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let reveal = vec![
        ("ticket", "INC-8".to_owned()),
        ("method", "call-back".to_owned()),
        ("purpose", "read-out".to_owned()),
    ];
    let batch = app
        .vault
        .bulk_generate(
            &root(Permission::Capture),
            &["stapel@example.com".into(), "lot@example.com".into()],
            tokendesk_vault::TokenParams::default(),
            None,
        )
        .await
        .unwrap()
        .id;
    let pages = [
        Req::Get("/".into()),
        Req::Get("/account".into()),
        Req::Get("/records".into()),
        Req::Get(format!("/records/{burned}")),
        Req::Get(format!("/records/{burned}/reveal")),
        Req::Post(format!("/records/{burned}/reveal"), reveal),
        Req::Get("/wizard".into()),
        Req::Get("/approvals".into()),
        Req::Get("/audit".into()),
        Req::Get("/staff".into()),
        Req::Get("/desk".into()),
        Req::Get("/toolset".into()),
        Req::Post(
            "/toolset".into(),
            vec![("action", "codes".into()), ("seed", RFC_SEED.into())],
        ),
        Req::Post(format!("/records/{captured}/burn-grant"), vec![]),
        Req::Get("/bulk".into()),
        Req::Get(format!("/bulk/{batch}")),
        Req::Error("/records/no-such-record".into(), 404),
        Req::Anonymous("/login"),
    ];
    for (i, req) in pages.iter().enumerate() {
        let english = fetch(&app, &admin, req, "en").await;
        let present: Vec<&str> = SENTINELS
            .iter()
            .copied()
            .filter(|s| english.contains(s))
            .collect();
        assert!(
            !present.is_empty(),
            "page {i}: no English sentinel in {english}"
        );
        for lang in ["de", "fr"] {
            let page = fetch(&app, &admin, req, &format!("{lang},en;q=0.1")).await;
            assert!(
                page.contains(&format!("<html lang=\"{lang}\">")),
                "page {i} {lang}: {page}"
            );
            assert!(!page.contains('⟦'), "page {i} {lang}: a raw key in {page}");
            let left: Vec<&&str> = present.iter().filter(|s| page.contains(**s)).collect();
            assert!(
                left.is_empty(),
                "page {i} {lang}: English left: {left:?} in {page}"
            );
        }
    }
    // The message for the user follows the record's language, not the viewer's.
    app.vault
        .set_language(
            &root(Permission::Capture),
            &RecordId(burned.clone()),
            Some("fr"),
        )
        .await
        .unwrap();
    let page = get(&app, &admin, &format!("/records/{burned}"), "de").await;
    assert!(page.contains("<h2>Checkliste</h2>"), "{page}");
    assert!(
        page.contains("Bonjour gebrannt@example.com,")
            && page.contains("nous préparons votre jeton"),
        "{page}"
    );
    assert!(
        page.contains("<td id=\"record-language\">Français</td>"),
        "{page}"
    );
}

/// The record page sets the user's language (audited); one the pages lack is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_21_the_record_page_sets_the_users_language() {
    let app = TestApp::sqlite().await;
    let admin = app.admin().await;
    let id = app.capture("lang@example.com").await;
    let r = app
        .post_form(
            &admin,
            &format!("/records/{id}/contact"),
            &[
                ("email", "lang@example.org"),
                ("time_zone", ""),
                ("language", "de"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app.vault.record(&id).await.unwrap();
    assert_eq!(r.language.as_deref(), Some("de"));
    assert_eq!(r.email.as_deref(), Some("lang@example.org"));
    let page = app.get_text(&admin, &format!("/records/{id}")).await;
    assert!(page.contains("<option value=\"de\" selected>"), "{page}");
    assert!(page.contains("Hallo lang@example.com,"), "{page}");
    assert!(
        page.contains("set the user&#x27;s language to de")
            || page.contains("set the user&#39;s language to de"),
        "{page}"
    );
    let r = app
        .post_form(
            &admin,
            &format!("/records/{id}/contact"),
            &[("email", ""), ("time_zone", ""), ("language", "tlh")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app.vault.record(&id).await.unwrap();
    assert_eq!(r.language.as_deref(), Some("de"), "nothing changed");
    assert_eq!(
        r.email.as_deref(),
        Some("lang@example.org"),
        "nothing changed"
    );
}

/// The wizard (saved) with `fields`, read in `accept`'s language: the status and the page.
async fn wizard(
    app: &TestApp,
    b: &Browser,
    fields: &[(&str, &str)],
    accept: &str,
) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new().text("action", "save");
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let r = client()
        .post(app.at("/wizard"))
        .header("cookie", &b.cookie)
        .header("accept-language", accept)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The wizard's fields, the English detail its page shows, the German words instead.
type WizardCase = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static [&'static str],
);

/// The wizard's refusals whose detail the vault words (a user name) or the seed parser words
/// (a secret) read in German on a German page, with no English detail left; the English page
/// shows the English detail (the API's wording), so the test can fail.
async fn issue_21_wizard_refusals_worded_by_the_vault_and_the_seed_parser_are_translated(
    app: TestApp,
) {
    let admin = app.admin().await;
    let cases: [WizardCase; 3] = [
        (
            &[("upn", "bob"), ("secret", RFC_SEED)],
            "is not a UPN like alice@contoso.com",
            &[
                "Ungültige Eingabe: der Benutzer",
                "ist kein UPN wie alice@contoso.com",
            ],
        ),
        (
            &[("upn", "bob%x@contoso.com"), ("secret", RFC_SEED)],
            "is not allowed before the @",
            &[
                "kein gültiger Entra ID-Benutzername",
                "ist vor dem @ nicht erlaubt",
            ],
        ),
        (
            &[("upn", "bob@contoso.com"), ("secret", "JBSWY3DPEHPK3PX0")],
            "is not base32: secrets use only the letters A-Z",
            &[
                "Dieses Seed ist nicht verwendbar: Zeichen 16",
                "ist kein base32",
                "(eine Null: meinten Sie den Buchstaben O?)",
            ],
        ),
    ];
    for (fields, english, german) in cases {
        let (status, page) = wizard(&app, &admin, fields, "en").await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains(english), "{english}: {page}");
        let (status, page) = wizard(&app, &admin, fields, "de-DE,de;q=0.9").await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("<html lang=\"de\">"), "{page}");
        assert!(!page.contains('⟦'), "a raw key in {page}");
        for words in german {
            assert!(page.contains(words), "{words}: {page}");
        }
        assert!(!page.contains(english), "English left: {english} in {page}");
    }
    assert!(
        app.vault
            .current_record_id("bob@contoso.com")
            .await
            .is_err(),
        "nothing was captured"
    );
}

/// The JSON API sets the user's language on capture and on `contact`; a language without a
/// catalogue is refused before anything is stored; `contact` without `language` keeps it.
async fn issue_21_the_api_sets_the_users_language(app: TestApp) {
    let _ = app.admin().await; // set up, so the API answers
    let prov = app.api_key("prov", Role::Provisioner).await;
    let post = async |path: &str, body: serde_json::Value| {
        let r = client()
            .post(app.at(path))
            .header("authorization", &prov)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    let (status, body) = post(
        "/api/v1/records",
        serde_json::json!({"upn": "tlh@example.com", "secret": RFC_SEED, "language": "tlh"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["message"],
        "no e-mails in \"tlh\": choose one of en, de, fr"
    );
    assert!(
        app.vault
            .current_record_id("tlh@example.com")
            .await
            .is_err()
    );
    let (status, record) = post(
        "/api/v1/records",
        serde_json::json!({"upn": "api-de@example.com", "secret": RFC_SEED, "language": "de-CH"}),
    )
    .await;
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["language"], "de");
    let id = record["id"].as_str().unwrap().to_owned();
    let contact = format!("/api/v1/records/{id}/contact");
    let (status, record) = post(&contact, serde_json::json!({"email": "x@example.org"})).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["language"], "de", "missing keeps it");
    let (status, record) = post(&contact, serde_json::json!({"language": "FR"})).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["language"], "fr");
    let (status, body) = post(&contact, serde_json::json!({"language": "xx"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, record) = post(&contact, serde_json::json!({"language": ""})).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["language"], serde_json::Value::Null, "blank clears");
}
