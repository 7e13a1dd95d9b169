//! Regression tests for issue 13's sign-in and CSV findings, over real HTTP: a sign-in flood
//! from one address is cut off before anything is written, and user names that would break a
//! CSV column or start a spreadsheet formula never enter the vault.

use serde_json::{Value, json};
use tokendesk_vault::Role;

use crate::{TestApp, client};

both_backends!(
    signin_flood_is_rate_limited_per_address,
    user_names_that_would_break_a_csv_are_refused,
);

async fn audit_rows(app: &TestApp) -> usize {
    app.vault
        .audit_list(&Default::default())
        .await
        .unwrap()
        .len()
}

/// The review's flood: sign-ins with ever new unknown names wrote one audit row each, about 37
/// a second from one client. Now the address's budget (20 at once, then 30 a minute) runs out
/// first, and a refused request reaches neither the vault nor the audit trail.
async fn signin_flood_is_rate_limited_per_address(app: TestApp) {
    let _admin = app.admin().await;
    // A second instance on the same vault with the default settings (the shared test state
    // raises the budget for the other tests).
    let addr = crate::app::spawn(crate::app::state_with_config(
        app.vault.clone(),
        tokendesk_web::WebConfig::default(),
    ))
    .await;
    assert_eq!(
        tokendesk_web::WebConfig::default().signin_limit,
        tokendesk_web::SignInLimit {
            burst: 20,
            per_minute: 30
        }
    );
    let attempt = |i: usize| {
        client()
            .post(format!("http://{addr}/login"))
            .form(&[
                ("username", format!("ghost{i}")),
                ("password", "wrong password!!".to_owned()),
            ])
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(attempt(i).await.unwrap().status().as_u16());
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let before = audit_rows(&app).await;
    for i in 20..60 {
        let r = attempt(i).await.unwrap();
        assert_eq!(r.status(), 429, "attempt {i}");
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("too many sign-in attempts")
        );
    }
    assert_eq!(audit_rows(&app).await, before, "nothing written");
    // The budget comes back with time: 30 a minute.
    app.clock.advance(2);
    assert_eq!(attempt(99).await.unwrap().status(), 401);
}

/// A UPN with `,` `"` or a leading `=` shifted the Entra CSV's columns or became a formula in
/// Excel. Such names are refused where records enter (API create, imports with the row number),
/// and the Toolset's Entra line quotes what it must.
async fn user_names_that_would_break_a_csv_are_refused(app: TestApp) {
    let _admin = app.admin().await;
    let key = app.api_key("ops", Role::Admin).await;
    for upn in [
        "a,b@contoso.com",
        "\"x\"@contoso.com",
        "=cmd@contoso.com",
        "bob@contoso",
    ] {
        let r = client()
            .post(app.at("/api/v1/records"))
            .header("authorization", &key)
            .json(&json!({ "upn": upn, "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{upn}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("not a valid Entra ID user name"),
            "{body}"
        );
    }
    let csv = "username,secret\nann@contoso.com,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\"=HYPERLINK(\"\"x\"\")@contoso.com\",JBSWY3DPEHPK3PXP\n";
    let form = reqwest::multipart::Form::new()
        .text("format", "spreadsheet")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("seeds.csv"),
        );
    let r = client()
        .post(app.at("/api/v1/import"))
        .header("authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let report: Value = r.json().await.unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert!(
        errors[0].as_str().unwrap().starts_with("line 3:"),
        "{report}"
    );
    assert!(
        app.vault
            .list(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "all or nothing"
    );
}
