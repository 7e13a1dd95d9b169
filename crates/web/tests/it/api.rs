//! The JSON API with bearer keys: records, reveal with `valid_from`/`valid_until`, transitions,
//! audit, JSON errors with stable codes, the OpenAPI document, and two instances sharing one
//! database (stateless: a session made on one is valid on the other).

use serde_json::{Value, json};
use tokendesk_vault::Role;

use crate::TestApp;
use crate::app::{RFC_SEED, client, rfc_code};

both_backends!(
    api_round_trip,
    api_errors_are_json_with_codes,
    two_instances_share_sessions
);

pub(crate) async fn post(app: &TestApp, auth: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.at(path))
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(app: &TestApp, auth: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(app.at(path))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn api_round_trip(app: TestApp) {
    let _admin = app.admin().await;
    let prov = app.api_key("prov", Role::Provisioner).await;
    let desk = app.api_key("desk", Role::Helpdesk).await;
    let auditor = app.api_key("aud", Role::Auditor).await;

    let (status, created) = post(&app, &prov, "/api/v1/records", json!({
        "upn": "api@example.com",
        "secret": format!("otpauth://totp/Microsoft:api@example.com?secret={RFC_SEED}&issuer=Microsoft"),
        "phone": "+41 79 555 55 55",
    }))
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        !created.to_string().contains(RFC_SEED),
        "the seed is never returned"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, list) = get(&app, &desk, "/api/v1/records?state=captured").await;
    assert_eq!(status, 200);
    assert_eq!(list["records"].as_array().unwrap().len(), 1);

    let (status, revealed) = post(&app, &desk, &format!("/api/v1/records/{id}/reveal"), json!({
        "verification": "call-back", "outcome": "passed", "ticket": "INC-9", "purpose": "read-out",
    }))
    .await;
    assert_eq!(status, 200, "{revealed}");
    let code = &revealed["codes"][0];
    assert_eq!(code["code"], rfc_code(app.now()));
    let from = code["valid_from"].as_u64().unwrap();
    let until = code["valid_until"].as_u64().unwrap();
    assert!(from <= app.now() && app.now() < until && until - from == 30);

    // A future code for e-mail, 90 minutes ahead.
    let (status, future) = post(
        &app,
        &desk,
        &format!("/api/v1/records/{id}/reveal"),
        json!({
            "verification": "call-back", "outcome": "passed", "ticket": "INC-10", "future": 90,
        }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(future["purpose"], "email");
    assert_eq!(future["codes"][0]["code"], rfc_code(app.now() + 90 * 60));

    // A failed verification reveals nothing and is audited.
    let (status, err) = post(
        &app,
        &desk,
        &format!("/api/v1/records/{id}/reveal"),
        json!({
            "verification": "call-back", "outcome": "failed", "ticket": "INC-11",
        }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(err["code"], "verification_failed");

    let (status, moved) = post(
        &app,
        &prov,
        &format!("/api/v1/records/{id}/transition"),
        json!({
            "to": "burned", "serial": "X1",
        }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(moved["state"], "burned");

    let (status, audit) = get(&app, &auditor, "/api/v1/audit?user=api@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(audit["chain"]["intact"], true);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"reveal") && actions.contains(&"verify.failed"),
        "{actions:?}"
    );
    assert!(!audit.to_string().contains(&rfc_code(app.now())));

    let r = client()
        .get(app.at("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/records",
        "/records/{id}",
        "/records/{id}/reveal",
        "/records/{id}/transition",
        "/records/{id}/contact",
        "/audit",
        "/import",
        "/export",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

async fn api_errors_are_json_with_codes(app: TestApp) {
    let _admin = app.admin().await;
    let desk = app.api_key("desk", Role::Helpdesk).await;
    let prov = app.api_key("prov", Role::Provisioner).await;
    let id = app.capture("err@example.com").await;
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (
            401,
            "unauthenticated",
            get(&app, "Bearer tdk_nope", "/api/v1/records").await,
        ),
        (
            403,
            "forbidden",
            post(
                &app,
                &desk,
                "/api/v1/records",
                json!({"upn": "x@example.com", "secret": RFC_SEED}),
            )
            .await,
        ),
        (
            404,
            "not_found",
            get(&app, &desk, "/api/v1/records/no-such-id").await,
        ),
        (
            422,
            "invalid",
            post(
                &app,
                &prov,
                "/api/v1/records",
                json!({"upn": "x@example.com", "secret": "phonefactor://activate?code=1"}),
            )
            .await,
        ),
        (
            409,
            "active_record_exists",
            post(
                &app,
                &prov,
                "/api/v1/records",
                json!({"upn": "err@example.com", "secret": RFC_SEED}),
            )
            .await,
        ),
        (
            409,
            "illegal_transition",
            post(
                &app,
                &prov,
                &format!("/api/v1/records/{id}/transition"),
                json!({"to": "delivered", "code": "123456"}),
            )
            .await,
        ),
        (
            400,
            "bad_request",
            post(
                &app,
                &desk,
                &format!("/api/v1/records/{id}/reveal"),
                json!({"nonsense": true}),
            )
            .await,
        ),
        (
            422,
            "invalid",
            post(
                &app,
                &desk,
                &format!("/api/v1/records/{id}/reveal"),
                json!({"verification": "astrology", "outcome": "passed", "ticket": "T"}),
            )
            .await,
        ),
    ];
    for (status, code, (got_status, body)) in cases {
        assert_eq!(got_status, status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(!body.to_string().contains(RFC_SEED));
    }
}

async fn two_instances_share_sessions(app: TestApp) {
    let admin = app.admin().await;
    let (addr2, _vault2) = app.second_instance().await;
    // A browser session made on instance 1 works on instance 2 (sessions live in the DB).
    let r = client()
        .get(format!("http://{addr2}/records"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A record captured through instance 2 is visible on instance 1.
    let desk = app.api_key("desk", Role::Provisioner).await;
    let r = client()
        .post(format!("http://{addr2}/api/v1/records"))
        .header("authorization", &desk)
        .json(&json!({"upn": "two@example.com", "secret": RFC_SEED}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let page = app.get_text(&admin, "/records").await;
    assert!(page.contains("two@example.com"));
    // Sign-out on instance 2 ends the session on instance 1 too.
    let r = client()
        .post(format!("http://{addr2}/logout"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&admin, "/records").await.status(), 401);
}

both_backends!(import_and_export_over_the_api);
both_backends!(issue_18_a_large_export_streams_every_record_once);
both_backends!(issue_19_import_detects_the_format_when_none_is_named);
both_backends!(issue_19_google_export_screenshots_import_over_the_api);
both_backends!(issue_19_graph_export_checks_before_it_discloses);

/// Issue 19: the Microsoft Graph export over the API. A token Graph cannot take (no serial) is
/// refused before any seed is decrypted or audited; once burned with serial, manufacturer and
/// model, the file holds Graph's create, assign and activate bodies with the seed.
async fn issue_19_graph_export_checks_before_it_discloses(app: TestApp) {
    let _admin = app.admin().await;
    let key = app.api_key("ops", Role::Admin).await;
    let id = app.capture("gina@example.com").await;
    let export = || {
        client()
            .post(app.at("/api/v1/export"))
            .json(&json!({ "format": "graph", "state": "burned" }))
            .header("authorization", &key)
    };
    let exports = || async {
        app.vault
            .audit_list(&tokendesk_vault::AuditFilter {
                action: Some("export".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    let (status, body) = post(&app, &key, "/api/v1/export", json!({ "format": "graph" })).await;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("gina@example.com") && message.contains("serialNumber"),
        "{message}"
    );
    assert!(message.contains("nothing exported"), "{message}");
    assert_eq!(exports().await, 0, "a refused export leaves no audit entry");

    app.vault
        .mark_burned(
            &crate::app::root(tokendesk_vault::Permission::Transition),
            &tokendesk_vault::RecordId(id),
            tokendesk_vault::TokenUpdate {
                serial: Some("60234567".into()),
                model: Some("c302-i".into()),
                manufacturer: Some("Token2".into()),
            },
        )
        .await
        .unwrap();
    let r = export().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["format"], "tokendesk-graph-hardware-oath/1");
    let token = &doc["tokens"][0];
    assert_eq!(token["userPrincipalName"], "gina@example.com");
    let create = &token["create"]["body"];
    assert_eq!(create["serialNumber"], "60234567");
    assert_eq!(create["secretKey"], RFC_SEED);
    assert_eq!(create["hashFunction"], "hmacsha1");
    assert_eq!(create["timeIntervalInSeconds"], 30);
    assert!(
        token["assign"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/users/gina%40example.com/authentication/hardwareOathMethods")
    );
    assert_eq!(exports().await, 1);
}

async fn issue_19_import_detects_the_format_when_none_is_named(app: TestApp) {
    // Why: the API shares the CLI's detection; without `format` it says what it found, and an
    // encrypted export of another tool is refused with what to do.
    let _admin = app.admin().await;
    let key = app.api_key("ops", Role::Admin).await;
    let aegis = r#"{"version":1,"header":{"slots":null,"params":null},"db":{"version":3,
        "entries":[{"type":"totp","uuid":"u1","name":"ann@example.com","issuer":"Microsoft",
        "info":{"secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","algo":"SHA1","digits":6,"period":30}}]}}"#;
    let send = |bytes: &'static str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.as_bytes().to_vec()).file_name("export.json"),
        );
        client()
            .post(app.at("/api/v1/import"))
            .header("authorization", &key)
            .multipart(form)
    };
    let r = send(aegis).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["format"], "aegis");
    assert_eq!(report["detected"], true);
    assert_eq!(report["imported"], 1);
    let encrypted = r#"{"services":[],"schemaVersion":4,"servicesEncrypted":"abc:def:ghi"}"#;
    let r = send(encrypted).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("this 2FAS export is encrypted"), "{body}");
    let r = send("hello\n").send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("cannot tell the format"));
    assert_eq!(app.vault.list(&Default::default()).await.unwrap().len(), 1);
}

async fn import_and_export_over_the_api(app: TestApp) {
    let _admin = app.admin().await;
    let admin_key = app.api_key("ops", Role::Admin).await;
    let upload = |csv: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut form = reqwest::multipart::Form::new()
            .text("format", "spreadsheet")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("seeds.csv"),
            );
        for (k, v) in extra {
            form = form.text(*k, *v);
        }
        client()
            .post(app.at("/api/v1/import"))
            .header("authorization", &admin_key)
            .multipart(form)
    };
    // One bad row: nothing imported, every problem reported without the secret.
    let bad = "username,secret\nann@example.com,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nbob@example.com,NOT-BASE32!\n";
    let r = upload(bad, &[]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["code"], "invalid_rows");
    assert_eq!(report["errors"].as_array().unwrap().len(), 1);
    assert!(!report.to_string().contains("NOT-BASE32"));
    assert!(
        app.vault
            .list(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "all or nothing"
    );
    // Dry run changes nothing; skip_invalid imports the good row.
    let r = upload(bad, &[("skip_invalid", "true"), ("dry_run", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        app.vault
            .list(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    let r = upload(bad, &[("skip_invalid", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(app.vault.list(&Default::default()).await.unwrap().len(), 1);

    // Entra CSV export: the explicit, audited way a seed leaves.
    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&serde_json::json!({ "format": "entra" }))
        .header("authorization", &admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("upn,"), "{csv}");
    assert!(csv.contains("ann@example.com") && csv.contains(RFC_SEED));
    // PSKC needs a password and is encrypted with it.
    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&serde_json::json!({ "format": "pskc" }))
        .header("authorization", &admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&serde_json::json!({ "format": "pskc" }))
        .header("authorization", &admin_key)
        .header("x-export-password", "a long export password")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("KeyContainer") && xml.contains("EncryptedValue"));
    assert!(!xml.contains(RFC_SEED) && !xml.contains("12345678901234567890"));
    let exports = app
        .vault
        .audit_list(&tokendesk_vault::AuditFilter {
            action: Some("export".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exports.len(), 2, "each export audited per record");
    // The helpdesk cannot export.
    let desk = app.api_key("desk-x", Role::Helpdesk).await;
    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&serde_json::json!({ "format": "entra" }))
        .header("authorization", &desk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// 2,500 records leave in three chunks of the streamed answer (1,000 records each): every
/// record once, in UPN order, with its own seed, and every one audited.
async fn issue_18_a_large_export_streams_every_record_once(app: TestApp) {
    let _admin = app.admin().await;
    let key = app.api_key("ops", Role::Admin).await;
    let n = 2_500;
    let seed_of = |i: u32| {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        bytes[4..].copy_from_slice(b"tokendesk-export");
        data_encoding::BASE32_NOPAD.encode(&bytes)
    };
    let mut csv = String::from("username,secret\n");
    for i in 0..n {
        csv.push_str(&format!("user{i:05}@contoso.com,{}\n", seed_of(i)));
    }
    let form = reqwest::multipart::Form::new()
        .text("format", "spreadsheet")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("seeds.csv"),
        );
    let r = client()
        .post(app.at("/api/v1/import"))
        .header("authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&json!({ "format": "entra" }))
        .header("authorization", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("upn,"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + n as usize);
    for (i, line) in lines[1..].iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        assert!(
            line.starts_with(&format!("user{i:05}@contoso.com,")),
            "{line}"
        );
        assert!(
            line.contains(&seed_of(i)),
            "record {i} carries its own seed"
        );
    }

    let r = client()
        .post(app.at("/api/v1/export"))
        .json(&json!({ "format": "pskc" }))
        .header("authorization", &key)
        .header("x-export-password", "a long export password")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    assert_eq!(
        xml.matches("</KeyPackage>").count(),
        n as usize,
        "every key once"
    );
    assert!(
        xml.trim_end().ends_with("</KeyContainer>"),
        "the document is whole"
    );
    assert!(!xml.contains(&seed_of(0)), "encrypted");

    let exports = app
        .vault
        .audit_list(&tokendesk_vault::AuditFilter {
            action: Some("export".into()),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        exports.len(),
        2 * n as usize,
        "every record audited in both exports"
    );
}

/// A PNG screenshot of one QR code holding `payload`: 4 px modules on a white page.
fn qr_png(payload: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(payload.as_bytes()).unwrap();
    let width = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (4u32, 40u32);
    let side = u32::try_from(width).unwrap() * scale + 2 * quiet;
    let img = image::GrayImage::from_fn(side + 120, side + 60, |x, y| {
        let inside = x >= quiet && y >= quiet && x < side - quiet && y < side - quiet;
        let dark = inside
            && colors[((y - quiet) / scale) as usize * width + ((x - quiet) / scale) as usize]
                == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

async fn issue_19_google_export_screenshots_import_over_the_api(app: TestApp) {
    // Why: a Google Authenticator export arrives as several screenshots; the API takes them as
    // repeated `file` parts, checks each batch is complete and imports all or nothing, as the
    // CLI does with a folder.
    let _admin = app.admin().await;
    let key = app.api_key("ops", Role::Admin).await;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../formats/tests/fixtures/google_export.txt"),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let shots: Vec<(String, Vec<u8>)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("IMG_{i}.png"), qr_png(l)))
        // The first code photographed twice.
        .chain([("IMG_9.png".to_owned(), qr_png(lines[0]))])
        .collect();
    let send = |files: Vec<(String, Vec<u8>)>, fields: &[(&'static str, &'static str)]| {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        for (k, v) in fields {
            form = form.text(*k, *v);
        }
        client()
            .post(app.at("/api/v1/import"))
            .header("authorization", &key)
            .multipart(form)
            .send()
    };
    let count = || async { app.vault.list(&Default::default()).await.unwrap().len() };

    let r = send(
        shots.clone(),
        &[("dry_run", "true"), ("skip_invalid", "true")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["format"], "google", "{report}");
    assert_eq!(report["detected"], true);
    assert_eq!(report["valid"], 4, "{report}");
    assert_eq!(report["left_out"], 2, "{report}");
    let errors = report["errors"].to_string();
    assert!(
        errors.contains("IMG_1.png, account 2 (GitHub): invalid input: the user"),
        "{errors}"
    );
    assert_eq!(count().await, 0);

    // A bad row refuses the whole upload unless skip_invalid.
    let r = send(shots.clone(), &[]).await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(count().await, 0);

    // A part that is not an image, or an image without a code, refuses everything and is named.
    let mut with_text = shots.clone();
    with_text.push(("notes.txt".into(), b"x".to_vec()));
    let r = send(with_text, &[("skip_invalid", "true")]).await.unwrap();
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("notes.txt is not an image"), "{body}");
    let blank = {
        let img = image::GrayImage::from_pixel(200, 200, image::Luma([255]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    let mut with_blank = shots.clone();
    with_blank.push(("blank.png".into(), blank));
    let r = send(with_blank, &[("skip_invalid", "true")]).await.unwrap();
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("blank.png: no QR code found"), "{body}");
    // Several files are for screenshots only.
    let two_sheets = vec![
        ("a.csv".to_owned(), b"upn,secret\n".to_vec()),
        ("b.csv".to_owned(), b"upn,secret\n".to_vec()),
    ];
    let r = send(two_sheets, &[]).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("several `file` parts"));
    assert_eq!(count().await, 0);

    // Without the batch's second code, its accounts are a row-precise error; the rest imports.
    let partial: Vec<_> = shots
        .iter()
        .filter(|(n, _)| n != "IMG_1.png")
        .cloned()
        .collect();
    let r = send(partial, &[("skip_invalid", "true")]).await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert!(
        report["errors"]
            .to_string()
            .contains("code(s) 2 of them are missing"),
        "{report}"
    );
    let users: Vec<String> = app
        .vault
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.upn)
        .collect();
    assert!(users.contains(&"alice@contoso.com".to_owned()), "{users:?}");
    assert!(
        !users.contains(&"carol@contoso.com".to_owned()),
        "{users:?}"
    );
}
