//! A scratch database for one test: a SQLite file in a temporary folder, or a fresh database on
//! the PostgreSQL server named by `TOKENDESK_TEST_PG_URL` (started by `scripts/test`), dropped
//! again when the [`ScratchDb`] goes away. Shared by the vault and the web integration tests (the
//! web tests include this file with `#[path]`), so both set up and clean up the same way.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyPool, Executor};

/// Keeps a scratch database alive; dropping it removes the folder or drops the database.
pub enum ScratchDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl ScratchDb {
    /// A new SQLite file (not created yet) and its guard.
    pub fn sqlite() -> (String, Self) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/vault.db", dir.path().display());
        (url, ScratchDb::Sqlite(dir))
    }

    /// A new, empty PostgreSQL database and its guard.
    pub async fn postgres() -> (String, Self) {
        sqlx::any::install_default_drivers();
        let admin_url = pg_admin_url();
        let name = unique_db_name();
        let admin = AnyPool::connect(&admin_url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap();
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap()
            .to_owned();
        (
            format!("{base}/{name}"),
            ScratchDb::Postgres { admin_url, name },
        )
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let ScratchDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a separate thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = AnyPool::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = pool.execute(sqlx::AssertSqlSafe(sql)).await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The PostgreSQL server for the tests; a clear failure (never a skip) without one.
pub fn pg_admin_url() -> String {
    match std::env::var("TOKENDESK_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "TOKENDESK_TEST_PG_URL is not set: these tests need a PostgreSQL server. Run \
             `scripts/test` (it starts a private cluster), or start one yourself and export \
             TOKENDESK_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        ),
    }
}

/// A unique database name per test: process id and a counter.
fn unique_db_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("td_test_{}_{}", std::process::id(), n)
}
