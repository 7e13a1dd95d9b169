//! tokendesk-web over real HTTP on loopback, against a real vault on a SQLite file and on a
//! real PostgreSQL server.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// One test body, run once on SQLite and once on PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::app::TestApp::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::app::TestApp::postgres().await).await
            }
        }
    )*};
}

mod api;
mod app;
mod audit_view;
mod auth;
mod browser;
mod browser_a11y;
mod browser_capture;
mod bulk;
mod capture;
mod contract;
mod desk;
mod email;
mod languages;
mod logs;
mod logs_outbound;
mod matrix;
mod oidc;
mod pages;
mod paging;
#[path = "../../../vault/tests/support/scratch_db.rs"]
mod scratch_db;
mod security_records;
mod security_web;
mod signin_security;
mod times;
mod toolset;
mod unavailable;

pub use app::{NOW, TestApp, client};
