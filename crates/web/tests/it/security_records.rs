//! Regression tests for issue 13 over real HTTP (records, approvals, reveal, export), each
//! named after the finding, on SQLite and PostgreSQL.

use serde_json::{Value, json};
use tokendesk_vault::{RecordId, Role};
use tokendesk_web::routes::table;

use crate::TestApp;
use crate::app::{Browser, client, rfc_code};

both_backends!(
    issue_13_reveal_time_is_bounded_in_the_api_and_the_pages,
    issue_13_an_api_key_cannot_approve_its_owners_request,
    issue_13_a_missing_approval_is_refused_under_quota,
    issue_13_a_stale_record_id_gets_409_with_the_state_now,
    issue_13_export_is_a_post_with_csrf,
    issue_13_get_routes_write_no_audit_entries,
    issue_13_helpdesk_may_not_cancel_a_record,
);

/// Who calls: `("authorization", "Bearer …")` or `("cookie", "tokendesk=…")`.
type Cred<'a> = (&'a str, &'a str);

fn bearer(k: &str) -> Cred<'_> {
    ("authorization", k)
}

fn cookie(b: &Browser) -> Cred<'_> {
    ("cookie", b.cookie.as_str())
}

async fn post(app: &TestApp, cred: Cred<'_>, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.at(path))
        .header(cred.0, cred.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn audit_len(app: &TestApp) -> usize {
    app.vault
        .audit_list(&Default::default())
        .await
        .unwrap()
        .len()
}

async fn count_action(app: &TestApp, action: &str) -> usize {
    app.vault
        .audit_list(&tokendesk_vault::AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

fn reveal_body(extra: Value) -> Value {
    let mut body = json!({
        "verification": "call-back", "outcome": "passed", "ticket": "INC-13",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn issue_13_reveal_time_is_bounded_in_the_api_and_the_pages(app: TestApp) {
    // Codes could be banked for any future time (year 2100), outliving the purge of the seed.
    let _admin = app.admin().await;
    let desk_key = app.api_key("desk", Role::Helpdesk).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = app.capture("bound@example.com").await;
    let path = format!("/api/v1/records/{id}/reveal");
    let now = i64::try_from(app.now()).unwrap();

    // API: up to 24 h ahead is fine, beyond is refused naming the limit.
    let (status, body) = post(
        &app,
        bearer(&desk_key),
        &path,
        reveal_body(json!({"future": 24 * 60})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["codes"][0]["code"],
        rfc_code(u64::try_from(now + 24 * 3600).unwrap())
    );
    for extra in [
        json!({"future": 24 * 60 + 1}),
        json!({"at": now + 25 * 3600}),
        json!({"at": "2100-01-01T00:00"}),
    ] {
        let (status, body) = post(&app, bearer(&desk_key), &path, reveal_body(extra.clone())).await;
        assert_eq!(status, 422, "{extra}: {body}");
        assert_eq!(body["code"], "outside_reveal_window", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("at most 24 h ahead"), "{message}");
        assert!(!body.to_string().contains("\"codes\""));
    }
    // The page: a code for e-mail two days ahead is refused on the form, naming the limit.
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-14"),
                ("method", "call-back"),
                ("purpose", "email"),
                ("at", "2026-11-30T09:00"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("at most 24 h ahead"), "{page}");
    assert!(
        !page.contains(&rfc_code(1_796_029_200)),
        "no code for the refused time"
    );
    // Every refusal is audited; only the allowed reveal counts as a reveal.
    assert_eq!(count_action(&app, "reveal").await, 1);
    assert_eq!(count_action(&app, "reveal.refused").await, 4);
}

async fn issue_13_an_api_key_cannot_approve_its_owners_request(app: TestApp) {
    // The second approver must be another person than the requester, whatever the credential.
    let admin = app.admin().await; // "root", who also creates the keys below
    let root_key = app.api_key("root-tool", Role::Admin).await;
    let id = app.capture("four@example.com").await;
    // root asks in the browser session (JSON API with the cookie)...
    let (status, body) = post(
        &app,
        cookie(&admin),
        &format!("/api/v1/records/{id}/approval"),
        json!({"ticket": "INC-6", "reason": "quota used"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let approval = body["approval"].as_str().unwrap().to_owned();
    // ...and cannot approve with the key they created.
    let (status, body) = post(
        &app,
        bearer(&root_key),
        &format!("/api/v1/approvals/{approval}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "approval_invalid");
    assert!(
        body["message"].as_str().unwrap().contains("own request"),
        "{body}"
    );
    // The reverse: the key asks, the session cannot approve.
    let (status, body) = post(
        &app,
        bearer(&root_key),
        &format!("/api/v1/records/{id}/approval"),
        json!({"ticket": "INC-7", "reason": "quota used"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let by_key = body["approval"].as_str().unwrap().to_owned();
    let r = app
        .post_form(&admin, &format!("/approvals/{by_key}/approve"), &[])
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("own request"));
    // Another person approves.
    let other = app.staff("bob", Role::Helpdesk).await;
    let (status, body) = post(
        &app,
        cookie(&other),
        &format!("/api/v1/approvals/{approval}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let approved = app
        .vault
        .approval(&tokendesk_vault::ApprovalId(approval))
        .await
        .unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("bob"));
    assert_eq!(count_action(&app, "approval.refused").await, 2);
}

async fn issue_13_a_missing_approval_is_refused_under_quota(app: TestApp) {
    // A reveal naming an approval that does not exist was accepted and audited as approved.
    let _admin = app.admin().await;
    let desk_key = app.api_key("desk", Role::Helpdesk).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = app.capture("ghost@example.com").await;
    let path = format!("/api/v1/records/{id}/reveal");
    for verification in ["second-approver", "call-back"] {
        let (status, body) = post(
            &app,
            bearer(&desk_key),
            &path,
            reveal_body(json!({"verification": verification, "approval": "made-up-id"})),
        )
        .await;
        assert_eq!(status, 404, "{verification}: {body}");
        assert_eq!(body["code"], "approval_invalid");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("no such approval"),
            "{body}"
        );
    }
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-15"),
                ("method", "second-approver"),
                ("approval", "made-up-id"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.unwrap();
    assert!(page.contains("no such approval"), "{page}");
    assert!(!page.contains(&rfc_code(app.now())), "no code shown");
    assert_eq!(count_action(&app, "reveal").await, 0);
    assert_eq!(count_action(&app, "reveal.refused").await, 3);
}

async fn issue_13_a_stale_record_id_gets_409_with_the_state_now(app: TestApp) {
    // Lifecycle moves took a record id but acted on the user's newest record.
    let _admin = app.admin().await;
    let prov_key = app.api_key("prov", Role::Provisioner).await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let old = app.capture("stale@example.com").await;
    app.vault
        .cancel(
            &crate::app::root(tokendesk_vault::Permission::Cancel),
            &RecordId(old.clone()),
            "typo",
        )
        .await
        .unwrap();
    app.clock.advance(1);
    let new = app.capture("stale@example.com").await;
    let before = audit_len(&app).await;
    let (status, body) = post(
        &app,
        bearer(&prov_key),
        &format!("/api/v1/records/{old}/transition"),
        json!({"to": "burned", "serial": "X-1"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("from cancelled"),
        "{body}"
    );
    let r = app
        .post_form(
            &prov,
            &format!("/records/{old}/transition"),
            &[("to", "burned")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("cancelled"));
    assert_eq!(audit_len(&app).await, before, "nothing moved");
    let newer = app.vault.record(&new).await.unwrap();
    assert_eq!((newer.state.as_str(), newer.serial), ("captured", None));
    // The record named moves.
    let (status, body) = post(
        &app,
        bearer(&prov_key),
        &format!("/api/v1/records/{new}/transition"),
        json!({"to": "burned"}),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(new.as_str())),
        "{body}"
    );
    assert_eq!(body["state"], "burned");
}

async fn issue_13_export_is_a_post_with_csrf(app: TestApp) {
    // `GET /api/v1/export` wrote audit entries, so an image tag could trigger an export.
    let admin = app.admin().await;
    let admin_key = app.api_key("exporter", Role::Admin).await;
    app.capture("exp@example.com").await;
    let before = count_action(&app, "export").await;
    for cred in [cookie(&admin), bearer(&admin_key)] {
        let r = client()
            .get(app.at("/api/v1/export?format=entra"))
            .header(cred.0, cred.1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "GET export with {}", cred.0);
    }
    // A cross-site POST with the session cookie is refused before the handler.
    let r = client()
        .post(app.at("/api/v1/export"))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"format": "entra"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(count_action(&app, "export").await, before);
    // Same-origin with the cookie, and with a key: allowed, audited once per record each.
    for cred in [cookie(&admin), bearer(&admin_key)] {
        let r = client()
            .post(app.at("/api/v1/export"))
            .header(cred.0, cred.1)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"format": "entra"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "POST export with {}", cred.0);
        assert!(r.text().await.unwrap().contains("exp@example.com"));
    }
    assert_eq!(count_action(&app, "export").await, before + 2);
    // The OpenAPI document says POST.
    let doc: Value = app.openapi().await;
    assert!(doc["paths"]["/export"]["post"].is_object());
    assert!(doc["paths"]["/export"]["get"].is_null());
}

async fn issue_13_get_routes_write_no_audit_entries(app: TestApp) {
    // State-changing requests are never GETs: no GET route appends to the audit trail.
    let admin = app.admin().await;
    let admin_key = app.api_key("reader", Role::Admin).await;
    let record = app.capture("get@example.com").await;
    let routes = table(app.state.clone());
    let gets: Vec<_> = routes.iter().filter(|r| r.method == "GET").collect();
    assert!(gets.len() > 15, "{} GET routes", gets.len());
    let before = audit_len(&app).await;
    for spec in gets {
        // The query a GET export took, so a route like the old `GET /api/v1/export` would get
        // as far as writing (other routes ignore it).
        let path = spec
            .path
            .replace("{id}", &record)
            .replace("{username}", "root")
            .replace("{name}", "reader")
            + "?format=entra";
        for cred in [cookie(&admin), bearer(&admin_key)] {
            let r = client()
                .get(app.at(&path))
                .header(cred.0, cred.1)
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() < 500, "GET {path}: {}", r.status());
            assert_eq!(
                audit_len(&app).await,
                before,
                "GET {path} with {} wrote",
                cred.0
            );
        }
    }
    assert!(
        !table(app.state.clone())
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/export")
    );
}

async fn issue_13_helpdesk_may_not_cancel_a_record(app: TestApp) {
    // README: the helpdesk records deliveries and losses; cancelling (seed destroyed) is not
    // theirs.
    let _admin = app.admin().await;
    let desk_key = app.api_key("desk", Role::Helpdesk).await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let prov_key = app.api_key("prov", Role::Provisioner).await;
    let id = app.capture("keep@example.com").await;
    let (status, body) = post(
        &app,
        bearer(&desk_key),
        &format!("/api/v1/records/{id}/transition"),
        json!({"to": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/transition"),
            &[("to", "cancelled")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let page = app.get_text(&desk, &format!("/records/{id}")).await;
    assert!(
        !page.contains("do-cancelled"),
        "no cancel button for the helpdesk"
    );
    assert_eq!(
        app.vault.record(&id).await.unwrap().state.as_str(),
        "captured"
    );
    // The helpdesk still records what happens to a shipped token; a provisioner cancels.
    let (status, body) = post(
        &app,
        bearer(&prov_key),
        &format!("/api/v1/records/{id}/transition"),
        json!({"to": "cancelled", "reason": "not needed"}),
    )
    .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
}
