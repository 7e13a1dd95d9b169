//! Issue 15: `POST /wizard/frame`, the endpoint the browser capture (screen share, paste, drop)
//! sends images to, over real HTTP against a real vault. The browser side is in `browser.rs`.

use tokendesk_vault::Role;

use crate::app::{Browser, TestApp, client};

/// A sample screen share showing Microsoft's QR code for `UY52UJO6HGSLWLZB`.
pub const SEED_SHOT: &[u8] = include_bytes!("../../../qr/tests/fixtures/screens/000.jpg");
pub const SEED_SHOT_SECRET: &str = "UY52UJO6HGSLWLZB";
/// The Microsoft Authenticator (phonefactor) QR code: not a seed.
pub const PHONEFACTOR_SHOT: &[u8] = include_bytes!("../../../qr/tests/fixtures/screens/015.png");
/// A screen share without any QR code.
pub const NO_CODE_SHOT: &[u8] = include_bytes!("../../../qr/tests/fixtures/screens/025.png");

both_backends!(
    frames_are_decoded_and_classified,
    frames_need_the_capture_permission,
    bad_frames_are_refused_with_a_reason,
    a_flood_of_frames_gets_429,
);

async fn post_frame(app: &TestApp, b: &Browser, body: &[u8]) -> reqwest::Response {
    client()
        .post(app.at("/wizard/frame"))
        .header("cookie", &b.cookie)
        .header("content-type", "image/png")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.unwrap()
}

async fn frames_are_decoded_and_classified(app: TestApp) {
    let prov = app.staff("prov", Role::Provisioner).await;
    let r = post_frame(&app, &prov, SEED_SHOT).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let found = json(r).await;
    assert_eq!(found["status"], "found", "{found}");
    assert!(
        found["secret"]
            .as_str()
            .unwrap()
            .to_uppercase()
            .contains(&format!("SECRET={SEED_SHOT_SECRET}")),
        "{found}"
    );

    let decoy = json(post_frame(&app, &prov, PHONEFACTOR_SHOT).await).await;
    assert_eq!(decoy["status"], "not_seed", "{decoy}");
    let message = decoy["message"].as_str().unwrap();
    assert!(message.contains("different authenticator app"), "{message}");

    let nothing = json(post_frame(&app, &prov, NO_CODE_SHOT).await).await;
    assert_eq!(nothing["status"], "none", "{nothing}");
    // Nothing of a frame reaches the audit trail.
    let audit = app.vault.audit_list(&Default::default()).await.unwrap();
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.to_uppercase().contains(SEED_SHOT_SECRET)),
        "{audit:?}"
    );
}

async fn frames_need_the_capture_permission(app: TestApp) {
    let admin = app.admin().await;
    let r = client()
        .post(app.at("/wizard/frame"))
        .body(SEED_SHOT.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (name, role) in [("helga", Role::Helpdesk), ("audrey", Role::Auditor)] {
        let b = app.staff(name, role).await;
        let r = post_frame(&app, &b, SEED_SHOT).await;
        assert_eq!(r.status(), 403, "{role}");
        let body = r.text().await.unwrap();
        assert!(!body.to_uppercase().contains(SEED_SHOT_SECRET), "{body}");
    }
    assert_eq!(post_frame(&app, &admin, SEED_SHOT).await.status(), 200);
}

async fn bad_frames_are_refused_with_a_reason(app: TestApp) {
    let prov = app.staff("prov", Role::Provisioner).await;
    let empty = post_frame(&app, &prov, b"").await;
    assert_eq!(empty.status(), 422);
    assert!(
        json(empty).await["message"]
            .as_str()
            .unwrap()
            .contains("empty")
    );
    let junk = post_frame(&app, &prov, b"this is not an image at all").await;
    assert!(junk.status().is_client_error(), "{}", junk.status());
    let message = json(junk).await["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    // Larger than the 16 MiB body cap: refused with 413, or (when the server stops reading
    // before the client has finished writing) the connection is closed; never decoded.
    let huge = client()
        .post(app.at("/wizard/frame"))
        .header("cookie", &prov.cookie)
        .body(vec![0u8; 17 * 1024 * 1024])
        .send()
        .await;
    match huge {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    // A cross-origin post changes nothing and decodes nothing.
    let r = client()
        .post(app.at("/wizard/frame"))
        .header("cookie", &prov.cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(SEED_SHOT.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn a_flood_of_frames_gets_429(app: TestApp) {
    let prov = app.staff("prov", Role::Provisioner).await;
    // The clock stands still in tests, so the burst is all there is. The budget is taken before
    // anything is decoded, so cheap junk frames count like real ones.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = post_frame(&app, &prov, b"junk").await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(statuses.len(), 11, "a burst of 10, then 429: {statuses:?}");
    // Another staff member has a budget of their own.
    let other = app.staff("other", Role::Provisioner).await;
    assert_eq!(post_frame(&app, &other, NO_CODE_SHOT).await.status(), 200);
}
