//! Issue 19, the web side of bulk provisioning, over real HTTP on both backends: the wizard's
//! check (the dry run) names every problem with its line and changes nothing; generating is all
//! or nothing and makes a batch whose page and JSON show its progress; a desk's fetch binds the
//! seed to the token's serial before handing it over and refuses any other token afterwards;
//! roles without the capture right are refused.

use serde_json::{Value, json};
use tokendesk_otp::{SeedInput, Totp, TotpParams};
use tokendesk_vault::{AuditFilter, ListFilter, Role};

use crate::TestApp;
use crate::api::{get as get_json, post as post_json};
use crate::app::{Browser, client, location};
use crate::desk::desk_token;

both_backends!(
    bulk_check_is_row_precise_and_changes_nothing,
    bulk_generate_is_all_or_nothing_and_the_batch_shows_its_progress,
    bulk_fetch_binds_the_token_first_and_refuses_any_other,
);

/// The wizard's form, as a browser posts it (multipart, with the list typed or as a file).
async fn post_wizard(
    app: &TestApp,
    b: &Browser,
    action: &str,
    users: &str,
    file: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .text("users", users.to_owned())
        .text("algorithm", "sha256")
        .text("period", "60")
        .text("language", "")
        .text("action", action.to_owned());
    if let Some(f) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(f.as_bytes().to_vec()).file_name("team.csv"),
        );
    }
    client()
        .post(app.at("/bulk"))
        .header("cookie", &b.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn detail(e: &tokendesk_vault::AuditEntry) -> Value {
    serde_json::from_str(&e.detail).unwrap()
}

/// Records and audit entries: what "nothing changed" compares.
async fn footprint(app: &TestApp) -> (usize, usize) {
    let records = app.vault.list(&ListFilter::default()).await.unwrap().len();
    let audit = app
        .vault
        .audit_list(&AuditFilter::default())
        .await
        .unwrap()
        .len();
    (records, audit)
}

const BAD_LIST: &str =
    "upn\nada@example.com\nnot an upn\nADA@example.com\ntaken@example.com\nbob@example.com\n";

async fn bulk_check_is_row_precise_and_changes_nothing(app: TestApp) {
    let admin = app.admin().await;
    let key = app.api_key("bulk", Role::Provisioner).await;
    app.capture("taken@example.com").await;
    let before = footprint(&app).await;

    // The API's dry run and its generate both name every problem with its line.
    for dry_run in [true, false] {
        let (status, body) = post_json(
            &app,
            &key,
            "/api/v1/bulk",
            json!({ "users": BAD_LIST, "dry_run": dry_run }),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "invalid_rows");
        let errors: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 3: "), "{errors:?}");
        assert!(
            errors[1].starts_with("line 4: ada@example.com already appears on line 2"),
            "{errors:?}"
        );
        assert!(
            errors[2]
                .starts_with("line 5: taken@example.com already has an active record (captured)"),
            "{errors:?}"
        );
    }
    // The page's Check, with the list uploaded as a file: the same lines, in the page.
    let r = post_wizard(&app, &admin, "check", "", Some(BAD_LIST)).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("3 problem(s) in the list"), "{page}");
    assert!(page.contains("<li>line 3: "), "{page}");
    assert!(
        page.contains("<li>line 5: taken@example.com already has an active record (captured)"),
        "{page}"
    );
    // The uploaded list comes back in the text box, to be fixed there.
    assert!(page.contains("bob@example.com\n</textarea>"), "{page}");
    // Generate from the page with the same list: refused the same way.
    let r = post_wizard(&app, &admin, "generate", BAD_LIST, None).await;
    assert_eq!(r.status(), 422);
    assert_eq!(footprint(&app).await, before, "nothing changed");

    // A good list: the dry run says how many, and still nothing changes.
    let good = "ada@example.com;Ada\nbob@example.com;Bob\n";
    let (status, body) = post_json(
        &app,
        &key,
        "/api/v1/bulk",
        json!({ "users": good, "dry_run": true, "algorithm": "sha256", "period": 60 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "dry_run": true, "users": 2, "errors": [] }));
    let r = post_wizard(&app, &admin, "check", good, None).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("2 user(s) would get a new seed"), "{page}");
    assert_eq!(footprint(&app).await, before, "nothing changed");

    // Bad parameters are refused before anything is read.
    for body in [
        json!({ "users": good, "algorithm": "md5" }),
        json!({ "users": good, "period": 45 }),
        json!({ "users": good, "language": "tlh" }),
    ] {
        let (status, answer) = post_json(&app, &key, "/api/v1/bulk", body).await;
        assert_eq!(status, 422, "{answer}");
    }
    // No capture right, no bulk: API and pages.
    let helpdesk = app.api_key("hd", Role::Helpdesk).await;
    let (status, _) = post_json(
        &app,
        &helpdesk,
        "/api/v1/bulk",
        json!({ "users": good, "dry_run": true }),
    )
    .await;
    assert_eq!(status, 403);
    let auditor = app.staff("aud", Role::Auditor).await;
    assert_eq!(app.get(&auditor, "/bulk").await.status(), 403);
    let r = post_wizard(&app, &auditor, "generate", good, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(footprint(&app).await.0, before.0, "no record made");
}

async fn bulk_generate_is_all_or_nothing_and_the_batch_shows_its_progress(app: TestApp) {
    let admin = app.admin().await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let key = app.api_key("bulk", Role::Provisioner).await;
    let before = footprint(&app).await;

    // From the page: generate redirects to the batch's page.
    let r = post_wizard(
        &app,
        &prov,
        "generate",
        "upn\nada@example.com\nbob@example.com\ncy@example.com\n",
        None,
    )
    .await;
    assert_eq!(r.status(), 303);
    let page_path = location(&r);
    let id = page_path.strip_prefix("/bulk/").unwrap().to_owned();
    assert_eq!(id.len(), 12, "{id}");
    let records = app.vault.list(&ListFilter::default()).await.unwrap();
    assert_eq!(records.len(), before.0 + 3);
    for r in &records {
        assert_eq!(r.state.as_str(), "captured");
        assert_eq!(r.params.algorithm.as_str(), "SHA256");
        assert_eq!(r.params.period_secs, 60);
        assert_eq!(r.created_by, "prov");
    }
    let audit = app.vault.audit_list(&AuditFilter::default()).await.unwrap();
    let captures: Vec<_> = audit.iter().filter(|e| e.action == "capture").collect();
    assert_eq!(captures.len(), 3);
    assert!(
        captures
            .iter()
            .all(|e| detail(e)["source"] == "bulk" && detail(e)["batch"] == id.as_str())
    );
    let summary = audit.iter().find(|e| e.action == "bulk.generate").unwrap();
    assert_eq!(detail(summary)["records"], 3);

    // The batch as JSON and as a page; it is listed on the wizard.
    let (status, batch) = get_json(&app, &key, &format!("/api/v1/bulk/{id}")).await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        (batch["total"].clone(), batch["burned"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(
        batch["command"],
        format!("tokendesk bulk burn --remote --batch {id}")
    );
    assert_eq!(batch["records"][0]["upn"], "ada@example.com");
    assert_eq!(batch["records"][2]["position"], 3);
    let page = app.get_text(&prov, &page_path).await;
    assert!(page.contains("0 of 3 burned"), "{page}");
    assert!(page.contains(&format!("tokendesk bulk burn --remote --batch {id}")));
    assert!(page.contains("/assets/bulk.js") && page.contains("id=\"bulk-refresh\""));
    assert!(
        page.contains("<time"),
        "times are local with UTC on hover: {page}"
    );
    let list = app.get_text(&admin, "/bulk").await;
    assert!(list.contains(&format!("href=\"/bulk/{id}\"")), "{list}");

    // A burned token moves the progress.
    let ada = batch["records"][0]["record_id"].as_str().unwrap();
    let (status, _) = post_json(
        &app,
        &key,
        &format!("/api/v1/records/{ada}/transition"),
        json!({ "to": "burned", "serial": "60000001" }),
    )
    .await;
    assert_eq!(status, 200);
    let (_, batch) = get_json(&app, &key, &format!("/api/v1/bulk/{id}")).await;
    assert_eq!(batch["burned"], 1);
    assert_eq!(batch["records"][0]["state"], "burned");
    assert!(
        app.get_text(&prov, &page_path)
            .await
            .contains("1 of 3 burned")
    );

    // All or nothing: one user of the list already has an active record, so no one gets one.
    let mid = footprint(&app).await;
    let (status, body) = post_json(
        &app,
        &key,
        "/api/v1/bulk",
        json!({ "users": "dan@example.com\nbob@example.com\neve@example.com" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("line 2: bob@example.com")
    );
    assert_eq!(footprint(&app).await, mid, "nothing changed");
    // And when the conflict appears between the check and the write, the vault refuses it all.
    let err = app
        .vault
        .bulk_generate(
            &crate::app::root(tokendesk_vault::Permission::Capture),
            &["dan@example.com".into(), "cy@example.com".into()],
            tokendesk_vault::TokenParams::default(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cy@example.com already has an active record"),
        "{err}"
    );
    assert_eq!(footprint(&app).await, mid, "nothing changed");

    // Through the API, with a language: 201 and the batch.
    let (status, batch) = post_json(
        &app,
        &key,
        "/api/v1/bulk",
        json!({ "users": "dan@example.com", "language": "de" }),
    )
    .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["language"], "de");
    assert_eq!(batch["algorithm"], "SHA1");
    let dan = app.vault.current("dan@example.com").await.unwrap();
    assert_eq!(dan.language.as_deref(), Some("de"));
    let (status, _) = get_json(&app, &key, "/api/v1/bulk/000000000000").await;
    assert_eq!(status, 404);
}

async fn bulk_fetch_binds_the_token_first_and_refuses_any_other(app: TestApp) {
    let _admin = app.admin().await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let hd = app.staff("hd", Role::Helpdesk).await;
    let desk = format!("Bearer {}", desk_token(&app, &prov, "STACK-1").await);
    let hd_desk = format!("Bearer {}", desk_token(&app, &hd, "HD-1").await);
    let key = app.api_key("bulk", Role::Provisioner).await;
    let (status, batch) = post_json(
        &app,
        &key,
        "/api/v1/bulk",
        json!({ "users": "ada@example.com\nbob@example.com" }),
    )
    .await;
    assert_eq!(status, 201, "{batch}");
    let id = batch["id"].as_str().unwrap().to_owned();
    let ada = batch["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = batch["records"][1]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetch = format!("/api/v1/bulk/{id}/fetch");
    let ask = |record: &str, serial: &str| json!({ "record_id": record, "serial": serial, "model": "C302-i" });

    // Only a desk fetches, and only a desk of someone with the capture right.
    let r = client()
        .post(app.at(&fetch))
        .header("cookie", &prov.cookie)
        .json(&ask(&ada, "60000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        post_json(&app, &key, &fetch, ask(&ada, "60000001")).await.0,
        403
    );
    assert_eq!(
        post_json(&app, &hd_desk, &fetch, ask(&ada, "60000001"))
            .await
            .0,
        403
    );
    let (_, batch_now) = get_json(&app, &key, &format!("/api/v1/bulk/{id}")).await;
    assert_eq!(
        batch_now["records"][0]["serial"],
        Value::Null,
        "nothing bound"
    );

    // The first fetch binds ada's seed to token 60000001 and hands it over.
    let (status, seed) = post_json(&app, &desk, &fetch, ask(&ada, "60000001")).await;
    assert_eq!(status, 200, "{seed}");
    assert_eq!(seed["upn"], "ada@example.com");
    let (_, batch_now) = get_json(&app, &key, &format!("/api/v1/bulk/{id}")).await;
    assert_eq!(batch_now["records"][0]["serial"], "60000001");
    assert_eq!(batch_now["records"][0]["state"], "captured");
    let page = app.get_text(&prov, &format!("/bulk/{id}")).await;
    assert!(
        page.contains("bound to token 60000001, burn interrupted"),
        "{page}"
    );

    // Another token for ada is refused, naming the token to put back; nothing changes.
    let audit_before = app
        .vault
        .audit_list(&AuditFilter::default())
        .await
        .unwrap()
        .len();
    let (status, e) = post_json(&app, &desk, &fetch, ask(&ada, "60000002")).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["code"], "wrong_token");
    assert!(
        e["message"].as_str().unwrap().contains(
            "this is token 60000002, but the seed of ada@example.com is bound to token 60000001"
        ),
        "{e}"
    );
    // Ada's token is not bob's.
    let (status, e) = post_json(&app, &desk, &fetch, ask(&bob, "60000001")).await;
    assert_eq!(status, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("token 60000001 is already bound for ada@example.com: take it off"),
        "{e}"
    );
    assert_eq!(
        app.vault
            .audit_list(&AuditFilter::default())
            .await
            .unwrap()
            .len(),
        audit_before,
        "refusals change nothing"
    );
    // The same token again (a resumed burn) gets the same seed.
    let (status, again) = post_json(&app, &desk, &fetch, ask(&ada, "60000001")).await;
    assert_eq!(status, 200);
    assert_eq!(again["secret"], seed["secret"]);
    let audit = app.vault.audit_list(&AuditFilter::default()).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "burn.claim").count(), 1);
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "export" && detail(e)["format"] == "nfc-bulk")
            .count(),
        2
    );

    // The desk reports the burn with the code of the seed it burned: ada is burned.
    let secret = match SeedInput::parse(seed["secret"].as_str().unwrap()).unwrap() {
        SeedInput::Secret(s) => s,
        _ => unreachable!(),
    };
    let code = Totp::new(&secret, TotpParams::default())
        .at(app.now())
        .unwrap();
    let (status, record) = post_json(
        &app,
        &desk,
        &format!("/api/v1/records/{ada}/burned"),
        json!({ "serial": "60000001", "model": "C302-i", "code": code.code.expose() }),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    let (_, batch_now) = get_json(&app, &key, &format!("/api/v1/bulk/{id}")).await;
    assert_eq!(batch_now["burned"], 1);
    // A burned record gives no seed any more, not even to its own token.
    let (status, e) = post_json(&app, &desk, &fetch, ask(&ada, "60000001")).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["message"].as_str().unwrap().contains("is burned"), "{e}");
    // A record of no batch, or another batch, and an unknown batch: 404.
    let other = app.capture("solo@example.com").await;
    assert_eq!(
        post_json(&app, &desk, &fetch, ask(&other, "60000009"))
            .await
            .0,
        404
    );
    assert_eq!(
        post_json(
            &app,
            &desk,
            "/api/v1/bulk/000000000000/fetch",
            ask(&bob, "60000009")
        )
        .await
        .0,
        404
    );
}
