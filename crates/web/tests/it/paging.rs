//! The records list a page at a time, in the pages and the API: more records than fit on one
//! page, each shown exactly once when following the links, with the filters kept.

use std::collections::HashSet;

use serde_json::{Value, json};
use tokendesk_vault::{NewRecord, Role};

use crate::TestApp;
use crate::api::get;

both_backends!(records_pages_list_every_record_once);

const RECORDS: usize = 250;

/// The record ids linked from a list page's table, and its next-page link.
fn scrape(page: &str) -> (Vec<String>, Option<String>) {
    let ids = page
        .split("<a href=\"/records/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    let next = page
        .split("\" id=\"next-page\"")
        .next()
        .filter(|_| page.contains("id=\"next-page\""));
    let next = next.map(|before| {
        let href = before.rsplit("href=\"").next().unwrap();
        href.replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
    });
    (ids, next)
}

async fn records_pages_list_every_record_once(app: TestApp) {
    let admin = app.admin().await;
    let items: Vec<(NewRecord, tokendesk_otp::Secret)> = (0..RECORDS)
        .map(|i| {
            (
                NewRecord {
                    upn: format!("user{i:03}@example.com"),
                    ..Default::default()
                },
                tokendesk_otp::Secret::from_bytes(b"12345678901234567890".to_vec()),
            )
        })
        .collect();
    app.vault
        .capture_batch(
            &crate::app::root(tokendesk_vault::Permission::Import),
            &items,
            "test",
        )
        .await
        .unwrap();
    let all: HashSet<String> = app
        .vault
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all.len(), RECORDS);

    // The page: follow "Next" with the filters in the links.
    let mut path = "/records?state=captured&q=USER".to_owned();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let html = app.get_text(&admin, &path).await;
        let range = crate::app::between(&html, "<span id=\"page-range\">", "</span>");
        pages.push(range);
        let (ids, next) = scrape(&html);
        seen.extend(ids);
        match next {
            Some(link) => {
                assert!(
                    link.contains("state=captured") && link.contains("q=USER"),
                    "{link}"
                );
                path = link;
            }
            None => break,
        }
    }
    assert_eq!(
        pages,
        [
            "Records 1–100 of 250",
            "Records 101–200 of 250",
            "Records 201–250 of 250"
        ]
    );
    assert_eq!(seen.len(), RECORDS, "no record twice");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all);
    let last_page = app.get_text(&admin, &path).await;
    assert!(last_page.contains("id=\"prev-page\"") && last_page.contains("id=\"first-page\""));
    // A filter narrower than a page has no paging links.
    let html = app.get_text(&admin, "/records?q=user1").await;
    assert!(html.contains("Records 1–100 of 100"), "user100–user199");
    assert!(!html.contains("next-page") && !html.contains("prev-page"));

    // The API: follow `next_after`, each record once; `previous_before` leads back.
    let auth = app.api_key("pager", Role::Auditor).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/records?limit=120".to_owned();
    let mut offsets = Vec::new();
    loop {
        let (status, body) = get(&app, &auth, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], RECORDS);
        assert_eq!(body["limit"], 120);
        offsets.push(body["offset"].as_i64().unwrap());
        seen.extend(
            body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match body["next_after"].as_str() {
            Some(after) => path = format!("/api/v1/records?limit=120&after={after}"),
            None => break,
        }
    }
    assert_eq!(offsets, [0, 120, 240]);
    assert_eq!(seen.len(), RECORDS);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all);
    let (_, second) = get(
        &app,
        &auth,
        &format!("/api/v1/records?limit=120&after={}", seen[119]),
    )
    .await;
    let back = second["previous_before"].as_str().unwrap().to_owned();
    assert_eq!(back, seen[120]);
    let (_, first) = get(
        &app,
        &auth,
        &format!("/api/v1/records?limit=120&before={back}"),
    )
    .await;
    let first_ids: Vec<&str> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first_ids,
        seen[..120].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(first["previous_before"].is_null());
    // Default page size, filters, and refusals.
    let (_, body) = get(&app, &auth, "/api/v1/records").await;
    assert_eq!(body["records"].as_array().unwrap().len(), 100);
    let (_, body) = get(&app, &auth, "/api/v1/records?state=burned").await;
    assert_eq!(
        (body["total"].as_i64(), body["next_after"].is_null()),
        (Some(0), true)
    );
    let (_, body) = get(&app, &auth, "/api/v1/records?q=user24").await;
    assert_eq!(body["total"], 10);
    for bad in [
        "/api/v1/records?limit=0",
        "/api/v1/records?limit=201",
        "/api/v1/records?after=x&before=y",
        "/api/v1/records?state=nonsense",
    ] {
        let (status, body) = get(&app, &auth, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "bad_request");
    }
    let (status, body) = get(&app, &auth, "/api/v1/records?after=no-such-record").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("record id"));
    let (status, body) = get(
        &app,
        &auth,
        "/api/v1/records?after=00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    // The OpenAPI document describes the paging parameters and fields.
    let doc: Value = app.openapi().await;
    let list = &doc["paths"]["/records"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["state", "overdue_days", "q", "limit", "page"]);
    // `after` and `before`, not both: one exploded object parameter can say so.
    let page = &list["parameters"][4];
    assert_eq!(
        (&page["style"], &page["explode"]),
        (&json!("form"), &json!(true))
    );
    assert_eq!(
        page["schema"]["not"]["required"],
        json!(["after", "before"])
    );
    let fields = &list["responses"]["200"]["content"]["application/json"]["schema"]["properties"];
    for f in [
        "records",
        "total",
        "offset",
        "limit",
        "next_after",
        "previous_before",
    ] {
        assert!(fields.get(f).is_some(), "{f} undocumented");
    }
}
