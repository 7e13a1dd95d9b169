//! A database that cannot be reached, or is held by someone else for too long, is told apart
//! from every other failure (`VaultError::is_unavailable`): the web layer answers it with 503
//! and Retry-After instead of 500, so clients and load balancers try again. Nothing changes.

use std::time::Instant;

use tokendesk_vault::{Store, VaultError};

use crate::db::{actor, new_record, seed};

/// Another connection holds SQLite's write lock longer than the busy timeout (5 s): the write
/// fails as unavailable and leaves nothing behind.
#[tokio::test]
async fn a_write_lock_held_too_long_is_unavailable_and_changes_nothing() {
    let env = crate::db::sqlite().await;
    let before = env.count("SELECT COUNT(*) FROM records").await;
    let mut holder = env.raw.acquire().await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let err = env
        .vault
        .capture(&actor(), new_record("busy@contoso.com"), &seed())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed().as_secs() >= 4,
        "the busy timeout was waited for"
    );
    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    drop(holder);
    assert_eq!(env.count("SELECT COUNT(*) FROM records").await, before);
    // Once the lock is gone the same write works.
    env.vault
        .capture(&actor(), new_record("busy@contoso.com"), &seed())
        .await
        .unwrap();
}

/// A PostgreSQL server that refuses connections (nothing listens on the port) is unavailable.
#[tokio::test]
async fn a_server_that_refuses_connections_is_unavailable() {
    sqlx::any::install_default_drivers();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = Store::open(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .await
        .expect_err("nothing listens there");
    assert!(err.is_unavailable(), "{err}");
}

/// Refusals about the request itself are not "unavailable", on both backends.
async fn answers_about_the_request_are_not_unavailable(env: crate::db::Env) {
    env.vault
        .capture(&actor(), new_record("twice@contoso.com"), &seed())
        .await
        .unwrap();
    let twice = env
        .vault
        .capture(&actor(), new_record("twice@contoso.com"), &seed())
        .await
        .unwrap_err();
    assert!(!twice.is_unavailable(), "{twice}");
    let invalid = env
        .vault
        .capture(&actor(), new_record("not a upn"), &seed())
        .await
        .unwrap_err();
    assert!(matches!(invalid, VaultError::Invalid(_)));
    assert!(!invalid.is_unavailable());
    // A query the database refuses (a table that does not exist) is a fault, not an outage.
    let fault: VaultError = sqlx::query("SELECT * FROM no_such_table")
        .execute(&env.raw)
        .await
        .unwrap_err()
        .into();
    assert!(!fault.is_unavailable(), "{fault}");
}

both_backends!(answers_about_the_request_are_not_unavailable);
