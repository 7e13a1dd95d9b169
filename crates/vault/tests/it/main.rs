//! Integration tests of the vault on real SQLite files and a real PostgreSQL server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

/// One test body, run once on SQLite and once on PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::db::sqlite().await).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(crate::db::postgres().await).await
            }
        }
    )*};
}

mod approvals;
mod audit;
mod backup;
mod batch;
mod claim;
mod concurrency;
mod crypto;
mod db;
mod export;
mod lifecycle;
mod listing;
mod model;
mod reveal;
mod rotation;
mod schema;
#[path = "../support/scratch_db.rs"]
mod scratch_db;
mod security;
mod signin_security;
mod staff;
mod throttle;
mod unavailable;
