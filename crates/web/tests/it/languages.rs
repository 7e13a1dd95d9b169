//! Issue 21: converted pages (the dashboard, your settings, and their header) follow the
//! viewer's language: the staff member's setting, else `Accept-Language`, else English; pages
//! not converted yet stay wholly English; no page shows a raw catalogue key.

use crate::TestApp;
use crate::app::{Browser, client};

both_backends!(issue_21_pages_follow_the_language);

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

async fn issue_21_pages_follow_the_language(app: TestApp) {
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
        for path in ["/", "/account"] {
            let page = get(&app, &admin, path, accept).await;
            assert!(
                page.contains(&format!("<html lang=\"{lang}\">")),
                "{path} {lang}"
            );
            assert!(!page.contains('⟦'), "{path} {lang}: a raw key: {page}");
        }
        let page = get(&app, &admin, "/", accept).await;
        assert!(page.contains(title), "{lang}: {page}");
        assert!(page.contains(state), "{lang}: {page}");
        // A page not converted yet is English throughout, header included.
        let records = get(&app, &admin, "/records", accept).await;
        assert!(records.contains("<html lang=\"en\">"), "{lang}");
        assert!(records.contains(">Records</a>"), "{lang}");
    }
    // The person's own choice wins over the browser.
    let r = app
        .post_form(&admin, "/account", &[("time_zone", ""), ("language", "fr")])
        .await;
    assert_eq!(r.status(), 303);
    let page = get(&app, &admin, "/", "de").await;
    assert!(page.contains("<h1>Tableau de bord</h1>"), "{page}");
    assert!(page.contains(">Se déconnecter</button>"), "{page}");
    // A language without pages is refused and changes nothing.
    let r = app
        .post_form(
            &admin,
            "/account",
            &[("time_zone", ""), ("language", "tlh")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("choose one of en, de, fr"));
    let page = get(&app, &admin, "/account", "de").await;
    assert!(page.contains("<option value=\"fr\" selected>"), "{page}");
}
