//! Issue 17: upgrades keep the data. `tests/fixtures/upgrade-schema3/` is a vault written with
//! schema 3, the one before the newest migration (how it was made: its README.md); this build
//! opens it, migrates it forward and reveals the same codes. A database migrated by a newer
//! tokendesk is refused with a message naming both versions.

use std::path::{Path, PathBuf};

use crate::{sqlite_exec, stderr, stdout, tokendesk, tokendesk_at};

/// The fixture's seed (RFC 6238's SHA-1 key) and user.
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const USER: &str = "alice@contoso.com";

/// A private copy of the fixture vault (git does not keep the key file's mode 0600).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade-schema3");
    for name in ["vault.db", "master.key"] {
        std::fs::copy(fixture.join(name), data.join(name)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["vault.db", "master.key"] {
            std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
    }
    (dir, data)
}

fn td(data: &Path, args: &[&str]) -> std::process::Output {
    tokendesk_at(data).args(args).output().unwrap()
}

/// The schema versions recorded in the database.
fn migrations(data: &Path) -> Vec<i64> {
    let url = format!("sqlite://{}", data.join("vault.db").display());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let rows: Vec<(i64,)> =
                sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            rows.into_iter().map(|(v,)| v).collect()
        })
}

#[test]
fn issue_17_a_schema_3_vault_opens_migrates_forward_and_reveals_the_same_code() {
    let (_dir, data) = fixture_copy();
    assert_eq!(migrations(&data), [1, 2, 3], "the fixture is schema 3");
    let o = td(&data, &["list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(USER), "{}", stdout(&o));
    let after = migrations(&data);
    assert!(
        after.len() > 3 && after.starts_with(&[1, 2, 3]),
        "not migrated forward: {after:?}"
    );
    let o = td(&data, &["audit", "verify"]);
    assert!(
        o.status.success() && stdout(&o).contains("intact"),
        "{}",
        stdout(&o)
    );
    let o = td(
        &data,
        &[
            "code",
            USER,
            "--ticket",
            "INC-7",
            "--verified",
            "call-back",
            "--future",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let codes = stdout(&o);
    let expected = stdout(&tokendesk().args(["otp", SEED]).output().unwrap());
    assert!(codes.contains(expected.trim()), "{codes} lacks {expected}");
    // The upgraded vault takes new writes and its chain still verifies.
    let o = td(&data, &["burned", USER]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(td(&data, &["audit", "verify"]).status.success());
}

#[test]
fn issue_17_doctor_reports_pending_migrations_without_applying_them() {
    let (_dir, data) = fixture_copy();
    let o = td(&data, &["doctor", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // Every migration after the fixture's third is pending (counted, so new migrations do not
    // break this test).
    let all = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vault/migrations/sqlite"),
    )
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count();
    let pending = format!("schema 3, {} migration(s) pending", all - 3);
    assert!(
        stdout(&o).contains(&pending),
        "{} lacks {pending}",
        stdout(&o)
    );
    assert_eq!(migrations(&data), [1, 2, 3], "doctor changed nothing");
}

#[test]
fn issue_17_a_database_newer_than_this_tokendesk_is_refused_clearly() {
    let (_dir, data) = fixture_copy();
    assert!(td(&data, &["list"]).status.success());
    sqlite_exec(
        &data,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', 1, X'00', 0)",
    );
    let o = td(&data, &["list"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("schema version 99, newer than this tokendesk knows"),
        "{err}"
    );
    let o = td(&data, &["doctor"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("schema 99 is newer than this tokendesk"),
        "{}",
        stdout(&o)
    );
}
