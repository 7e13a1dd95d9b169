//! Both migration sets must describe the same tables and columns.

use sqlx::{AnyPool, Row};

async fn columns(pool: &AnyPool, sql: &'static str) -> Vec<(String, String)> {
    let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
    let mut out: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .filter(|(t, _)| !t.starts_with("_sqlx"))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let lite = crate::db::sqlite().await;
    let pg = crate::db::postgres().await;
    let lite_cols = columns(
        &lite.raw,
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table'",
    )
    .await;
    let pg_cols = columns(
        &pg.raw,
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .await;
    assert!(lite_cols.len() > 40, "{lite_cols:?}");
    assert_eq!(lite_cols, pg_cols);
}
