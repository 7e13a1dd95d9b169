//! A database held by someone else longer than its busy timeout (another process's SQLite write
//! lock, 5 s): the API answers 503 with `Retry-After` and the code `unavailable`, a page answers
//! 503 in the viewer's language, nothing changes, and the same request works once the lock is
//! gone. (The soak's PostgreSQL restart is the same case on the other backend:
//! `bench/RESULTS-soak.md`.)

use serde_json::{Value, json};
use sqlx::Connection;
use tokendesk_vault::Role;

use crate::TestApp;
use crate::api::post;
use crate::app::{RFC_SEED, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_too_long_is_503_with_retry_after_and_changes_nothing() {
    let app = TestApp::sqlite().await;
    let admin = app.admin().await;
    let key = app.api_key("prov", Role::Provisioner).await;
    let body = json!({ "upn": "busy@contoso.com", "secret": RFC_SEED });

    let mut holder = sqlx::AnyConnection::connect(&app.url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let r = client()
        .post(app.at("/api/v1/records"))
        .header("authorization", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "unavailable", "{problem}");
    assert!(!problem.to_string().contains(RFC_SEED));

    let page = client()
        .post(app.at("/account"))
        .header("cookie", &admin.cookie)
        .header("accept-language", "de")
        .form(&[("time_zone", "Europe/Berlin"), ("language", "de")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Die Datenbank ist gerade nicht erreichbar"),
        "{text}"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();

    let records: i64 = {
        let mut c = sqlx::AnyConnection::connect(&app.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(
        records, 0,
        "nothing was stored while the database was locked"
    );
    let (status, created) = post(&app, &key, "/api/v1/records", body).await;
    assert_eq!(status, 201, "{created}");
}
