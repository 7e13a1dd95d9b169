//! Issue 20: desk sign-in (device authorization) and burn grants over real HTTP. A desk asks,
//! a fully signed-in person approves on `/desk`, the desk polls for its token once; the token
//! acts as that person with their current role until it expires or is revoked; a burn grant
//! hands a captured seed to that person's desk once.

use serde_json::{Value, json};
use tokendesk_vault::{AuditFilter, Permission, Role};

use crate::TestApp;
use crate::app::{Browser, RFC_SEED, client, rfc_code, root};

both_backends!(
    device_flow_approve_use_logout,
    device_flow_deny_expiry_and_slow_down,
    desk_tokens_of_disabled_staff_revoked_or_expired_get_401,
    burn_grants_refuse_wrong_person_expired_reused_uncaptured_and_roles,
);

async fn start(app: &TestApp, desk: &str) -> Value {
    let r = client()
        .post(app.at("/api/v1/desk/start"))
        .json(&json!({ "desk_name": desk, "desk_host": "pc-17" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn poll(app: &TestApp, device_code: &str) -> Value {
    let r = client()
        .post(app.at("/api/v1/desk/poll"))
        .json(&json!({ "device_code": device_code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn answer(app: &TestApp, b: &Browser, code: &str, decision: &str) -> (u16, String) {
    let r = app
        .post_form(b, "/desk", &[("code", code), ("decision", decision)])
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Signs a desk in as the person of `b`; returns the desk token.
pub async fn desk_token(app: &TestApp, b: &Browser, desk: &str) -> String {
    let s = start(app, desk).await;
    let (status, _) = answer(app, b, s["user_code"].as_str().unwrap(), "approve").await;
    assert_eq!(status, 200);
    app.clock.advance(5);
    let p = poll(app, s["device_code"].as_str().unwrap()).await;
    assert_eq!(p["status"], "approved", "{p}");
    p["token"].as_str().unwrap().to_owned()
}

async fn get_bearer(app: &TestApp, token: &str, path: &str) -> u16 {
    client()
        .get(app.at(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn device_flow_approve_use_logout(app: TestApp) {
    let admin = app.admin().await;
    let helpdesk = app.staff("hd", Role::Helpdesk).await;
    let s = start(&app, "FRONT-1").await;
    let user_code = s["user_code"].as_str().unwrap();
    let device_code = s["device_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{s}");
    assert!(device_code.starts_with("tddc_"));
    assert_eq!(
        s["verification_uri"],
        format!("http://{}/desk", app.addr),
        "{s}"
    );
    assert_eq!(s["interval"], 5);
    assert_eq!(poll(&app, device_code).await["status"], "pending");

    // The person sees which desk asks, then approves.
    let page = app
        .get_text(
            &helpdesk,
            &format!("/desk?code={}", user_code.to_lowercase()),
        )
        .await;
    assert!(page.contains("FRONT-1") && page.contains("pc-17"), "{page}");
    let (status, page) = answer(&app, &helpdesk, user_code, "approve").await;
    assert_eq!(status, 200);
    assert!(page.contains("Approved"), "{page}");
    // The same code cannot be answered twice.
    let (status, _) = answer(&app, &admin, user_code, "approve").await;
    assert_eq!(status, 422);

    app.clock.advance(5);
    let p = poll(&app, device_code).await;
    assert_eq!(p["status"], "approved", "{p}");
    assert_eq!(p["username"], "hd");
    let token = p["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tdd_"));
    // The device code is spent: collecting the token again finds nothing.
    app.clock.advance(5);
    assert_eq!(poll(&app, device_code).await["status"], "expired");

    // The token acts as hd, with hd's role (helpdesk: may view, may not capture).
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 200);
    let capture = client()
        .post(app.at("/api/v1/records"))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({ "upn": "x@example.com", "secret": RFC_SEED }))
        .send()
        .await
        .unwrap();
    assert_eq!(capture.status(), 403);
    // Not a browser: the approval page refuses desk tokens.
    assert_eq!(get_bearer(&app, &token, "/desk").await, 403);

    // Listed for the person and for admins, with the desk's name.
    assert!(app.get_text(&helpdesk, "/desk").await.contains("FRONT-1"));
    assert!(app.get_text(&admin, "/staff").await.contains("FRONT-1"));

    // Audited as the person, from that desk; the token itself never.
    let audit = app.vault.audit_list(&AuditFilter::default()).await.unwrap();
    let signin = audit.iter().find(|e| e.action == "desk.signin").unwrap();
    assert_eq!(signin.actor, "hd@desk:FRONT-1");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "desk.approve" && e.actor == "hd")
    );
    let all = format!("{audit:?}");
    assert!(!all.contains(&token) && !all.contains(device_code));

    let out = client()
        .post(app.at("/api/v1/desk/logout"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 401);

    // The desk's routes are documented.
    let doc = app.openapi().await;
    for path in [
        "/desk/start",
        "/desk/poll",
        "/desk/logout",
        "/records/{id}/burn-grant",
        "/burn-grants/fetch",
        "/records/{id}/burned",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

async fn device_flow_deny_expiry_and_slow_down(app: TestApp) {
    let _admin = app.admin().await;
    let helpdesk = app.staff("hd", Role::Helpdesk).await;
    // Denied.
    let s = start(&app, "FRONT-2").await;
    let device_code = s["device_code"].as_str().unwrap();
    let (status, page) = answer(&app, &helpdesk, s["user_code"].as_str().unwrap(), "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("Denied"), "{page}");
    assert_eq!(poll(&app, device_code).await["status"], "denied");
    assert_eq!(poll(&app, device_code).await["status"], "expired");

    // Polling faster than the interval slows the desk down.
    let s = start(&app, "FRONT-3").await;
    let device_code = s["device_code"].as_str().unwrap();
    assert_eq!(poll(&app, device_code).await["status"], "pending");
    let p = poll(&app, device_code).await;
    assert_eq!(p["status"], "slow_down", "{p}");
    assert_eq!(p["interval"], 10);
    app.clock.advance(10);
    assert_eq!(poll(&app, device_code).await["status"], "pending");

    // Ten minutes later the request is gone: neither the page nor the desk finds it.
    app.clock.advance(601);
    let page = app
        .get(
            &helpdesk,
            &format!("/desk?code={}", s["user_code"].as_str().unwrap()),
        )
        .await;
    assert_eq!(page.status(), 422);
    assert!(page.text().await.unwrap().contains("no desk is waiting"));
    assert_eq!(poll(&app, device_code).await["status"], "expired");
    // A made-up device code is not a request.
    assert_eq!(poll(&app, "tddc_made-up").await["status"], "expired");
    // Bad desk names are refused before anything is stored.
    let r = client()
        .post(app.at("/api/v1/desk/start"))
        .json(&json!({ "desk_name": "a desk; drop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

async fn desk_tokens_of_disabled_staff_revoked_or_expired_get_401(app: TestApp) {
    let admin = app.admin().await;
    let hd = app.staff("hd", Role::Helpdesk).await;
    let other = app.staff("other", Role::Helpdesk).await;

    // A disabled person's desk stops at once.
    let token = desk_token(&app, &hd, "FRONT-1").await;
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 200);
    app.vault
        .staff()
        .disable(&root(Permission::ManageStaff), "hd")
        .await
        .unwrap();
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 401);

    // Revoked: someone else cannot, the person and an admin can.
    let token = desk_token(&app, &other, "FRONT-2").await;
    let id = app
        .vault
        .staff()
        .desk_sessions(Some("other"))
        .await
        .unwrap()[0]
        .id
        .clone();
    let by_peer = {
        let peer = app.staff("peer", Role::Helpdesk).await;
        app.post_form(&peer, &format!("/desk/sessions/{id}/revoke"), &[])
            .await
            .status()
    };
    assert_eq!(by_peer, 404);
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 200);
    let by_admin = app
        .post_form(
            &admin,
            &format!("/desk/sessions/{id}/revoke"),
            &[("back", "staff")],
        )
        .await;
    assert_eq!(by_admin.status(), 303);
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 401);
    let audit = app.vault.audit_list(&AuditFilter::default()).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "desk.revoke" && e.actor == "root")
    );

    // Expired: a working day (8 h by default) later.
    let token = desk_token(&app, &other, "FRONT-3").await;
    app.clock.advance(8 * 3600 - 10);
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 200);
    app.clock.advance(20);
    assert_eq!(get_bearer(&app, &token, "/api/v1/records").await, 401);
    // Made-up tokens are not tokens.
    assert_eq!(
        get_bearer(&app, "tdd_made-up", "/api/v1/records").await,
        401
    );
}

async fn post_bearer(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.at(path))
        .header("authorization", format!("Bearer {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post_cookie(app: &TestApp, b: &Browser, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.at(path))
        .header("cookie", &b.cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn burn_grants_refuse_wrong_person_expired_reused_uncaptured_and_roles(app: TestApp) {
    let _admin = app.admin().await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let prov2 = app.staff("prov2", Role::Provisioner).await;
    let hd = app.staff("hd", Role::Helpdesk).await;
    let desk = desk_token(&app, &prov, "BURN-1").await;
    let desk2 = desk_token(&app, &prov2, "BURN-2").await;
    let hd_desk = desk_token(&app, &hd, "HD-1").await;
    let id = app.capture("burn@example.com").await;
    let grant_path = format!("/api/v1/records/{id}/burn-grant");

    // A role without the capture right gets no grant, from a browser or a desk.
    assert_eq!(post_cookie(&app, &hd, &grant_path, json!({})).await.0, 403);
    assert_eq!(
        post_bearer(&app, &hd_desk, &grant_path, json!({})).await.0,
        403
    );

    // The record page's button shows the one-time command.
    let page = app
        .post_form(&prov, &format!("/records/{id}/burn-grant"), &[])
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("tokendesk nfc burn --grant tdg_"), "{page}");
    assert!(page.contains("/assets/burn.js") && !page.contains(RFC_SEED));

    let (status, g) = post_cookie(&app, &prov, &grant_path, json!({})).await;
    assert_eq!(status, 200, "{g}");
    let grant = g["grant"].as_str().unwrap().to_owned();
    let fetch = |token: String, grant: String| {
        let app = &app;
        async move {
            post_bearer(
                app,
                &token,
                "/api/v1/burn-grants/fetch",
                json!({ "grant": grant }),
            )
            .await
        }
    };
    // Only a desk fetches; only the person's own desk.
    let (status, _) = post_cookie(
        &app,
        &prov,
        "/api/v1/burn-grants/fetch",
        json!({ "grant": grant }),
    )
    .await;
    assert_eq!(status, 403);
    let (status, e) = fetch(desk2.clone(), grant.clone()).await;
    assert_eq!(status, 409);
    assert!(
        e["message"].as_str().unwrap().contains("another person"),
        "{e}"
    );
    let (status, seed) = fetch(desk.clone(), grant.clone()).await;
    assert_eq!(status, 200, "{seed}");
    assert_eq!(seed["secret"], RFC_SEED);
    assert_eq!(seed["record_id"], id);
    assert_eq!(
        (seed["digits"].as_u64(), seed["period"].as_u64()),
        (Some(6), Some(30))
    );
    // Spent on first fetch.
    let (status, e) = fetch(desk.clone(), grant.clone()).await;
    assert_eq!(status, 409);
    assert!(
        e["message"].as_str().unwrap().contains("used already"),
        "{e}"
    );
    // Expired after five minutes.
    let (_, g) = post_cookie(&app, &prov, &grant_path, json!({})).await;
    app.clock.advance(301);
    let (status, e) = fetch(desk.clone(), g["grant"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 409);
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");
    // Made up.
    let (status, _) = fetch(desk.clone(), "tdg_made-up".into()).await;
    assert_eq!(status, 409);

    // The desk's report: a code that is not the seed's changes nothing; the right one burns.
    let burned = format!("/api/v1/records/{id}/burned");
    let wrong = json!({ "serial": "60123456", "model": "C302-i", "code": "000000" });
    let right_code = rfc_code(app.now());
    let wrong = if right_code == "000000" {
        json!({ "serial": "60123456", "code": "111111" })
    } else {
        wrong
    };
    let (status, _) = post_bearer(&app, &desk, &burned, wrong).await;
    assert_eq!(status, 422);
    assert_eq!(
        app.vault.record(&id).await.unwrap().state.as_str(),
        "captured"
    );
    let (status, r) = post_bearer(
        &app,
        &desk,
        &burned,
        json!({ "serial": "60123456", "model": "C302-i", "code": right_code }),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["state"], "burned");
    assert_eq!(r["token"]["serial"], "60123456");
    // A record no longer captured gets no grant.
    let (status, e) = post_cookie(&app, &prov, &grant_path, json!({})).await;
    assert_eq!(status, 409);
    assert!(
        e["message"].as_str().unwrap().contains("not captured"),
        "{e}"
    );

    // The fetch is an export by the person at that desk; no grant or seed in the audit trail.
    let audit = app.vault.audit_list(&AuditFilter::default()).await.unwrap();
    let export = audit.iter().find(|e| e.action == "export").unwrap();
    assert_eq!(export.actor, "prov@desk:BURN-1");
    assert!(
        export.detail.contains("nfc-burn-grant"),
        "{}",
        export.detail
    );
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "burn-grant.create")
            .count(),
        3
    );
    let all = format!("{audit:?}");
    assert!(!all.contains(&grant) && !all.contains(RFC_SEED));
}
