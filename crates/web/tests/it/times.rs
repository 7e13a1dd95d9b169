//! Issue 21: every time on a page is in the viewer's zone (the staff member's setting, else the
//! browser's `tz` cookie, else the server's configured zone), named, with UTC on hover; the
//! reveal page states the window in local time.

use tokendesk_vault::Role;

use crate::TestApp;
use crate::app::{Browser, NOW, test_staff_settings};

both_backends!(issue_21_times_follow_the_viewer);

/// NOW (2026-11-28 09:00:00 UTC) as a `<time>` in Berlin: 10:00 CET.
const BERLIN: &str = "<time datetime=\"2026-11-28T09:00:00Z\" title=\"2026-11-28 09:00:00 UTC\">\
                      2026-11-28 10:00:00 CET</time>";

fn with_zone(b: &Browser, zone: &str) -> Browser {
    Browser {
        cookie: format!("{}; tz={zone}", b.cookie),
    }
}

async fn issue_21_times_follow_the_viewer(app: TestApp) {
    let admin = app.admin().await;
    let id = app.capture("zoned@example.com").await;
    let record = format!("/records/{id}");

    // No zone from the browser (no JavaScript): the server's zone, UTC by default.
    let page = app.get_text(&admin, &record).await;
    assert!(
        page.contains("title=\"2026-11-28 09:00:00 UTC\">2026-11-28 09:00:00 UTC</time>"),
        "{page}"
    );

    // The browser names its zone: local times, the zone in the header, UTC on hover.
    let berlin = with_zone(&admin, "Europe/Berlin");
    for path in [record.as_str(), "/records", "/audit"] {
        let page = app.get_text(&berlin, path).await;
        assert!(page.contains(BERLIN), "{path}: {page}");
        assert!(page.contains(">Europe/Berlin</a>"), "{path}: zone named");
    }
    // A cookie naming no real zone is ignored.
    let page = app
        .get_text(&with_zone(&admin, "Mars/Olympus"), &record)
        .await;
    assert!(page.contains(">UTC</a>"), "{page}");

    // The reveal page: the window in local time ("valid until"), UTC on hover.
    let r = app
        .post_form(
            &berlin,
            &format!("{record}/reveal"),
            &[
                ("ticket", "INC-1"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Valid (Europe/Berlin)"), "{page}");
    assert!(page.contains("10:00:00 – 10:00:30 CET"), "{page}");
    assert!(page.contains("title=\"09:00:00 – 09:00:30 UTC\""), "{page}");
    assert!(page.contains("valid until 10:00:30"), "{page}");

    // A staff member's own setting wins over the browser.
    let r = app
        .post_form(&berlin, "/account", &[("time_zone", "America/New_York")])
        .await;
    assert_eq!(r.status(), 303);
    let page = app.get_text(&berlin, &record).await;
    assert!(page.contains("2026-11-28 04:00:00 EST</time>"), "{page}");
    assert!(page.contains(">America/New_York</a>"), "{page}");
    // An unknown zone is refused with a clear error and changes nothing.
    let r = app
        .post_form(&berlin, "/account", &[("time_zone", "Mars/Olympus")])
        .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("unknown time zone"), "{body}");
    let page = app.get_text(&berlin, "/account").await;
    assert!(page.contains("value=\"America/New_York\""), "{page}");
    // Cleared: the browser's zone again.
    let r = app
        .post_form(&berlin, "/account", &[("time_zone", "")])
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.get_text(&berlin, &record).await.contains(BERLIN));

    // Another person's setting is theirs alone.
    let desk = app.staff("desk", Role::Helpdesk).await;
    let page = app.get_text(&desk, &record).await;
    assert!(page.contains(">UTC</a>"), "{page}");
}

/// Without a zone from the browser or the person, the server's configured zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_21_the_server_zone_applies_without_javascript() {
    let app = TestApp::sqlite_configured(NOW, test_staff_settings(), |_, c| {
        c.time_zone = Some("Asia/Tokyo".into());
    })
    .await;
    let admin = app.admin().await;
    let id = app.capture("tokyo@example.com").await;
    let page = app.get_text(&admin, &format!("/records/{id}")).await;
    assert!(page.contains("2026-11-28 18:00:00 JST</time>"), "{page}");
    assert!(page.contains(">Asia/Tokyo</a>"), "{page}");
}
