//! Issue 18: backups stream rows to the file, restores stream them back in the order the
//! foreign keys need, and a restore that fails anywhere — a file damaged near its end, a row
//! that does not fit, a file changed after its check — changes nothing.

use tokendesk_vault::{CheckedBackup, KeySpec, VaultError};

use crate::db::{Env, actor, capture_all, new_record, reveal_code, secret};

both_backends!(
    issue_18_a_restore_brings_back_what_the_backup_holds,
    issue_18_a_backup_bad_near_its_end_restores_nothing,
);

/// More records than one insert statement takes, each with its own seed.
const RECORDS: usize = 700;

fn seed_of(i: usize) -> Vec<u8> {
    format!("seed-{i:015}").into_bytes()
}

/// A vault with [`RECORDS`] records and a backup of it, then one more record.
async fn backed_up(env: &Env, dir: &std::path::Path) -> std::path::PathBuf {
    capture_all(
        env,
        (0..RECORDS).map(|i| (format!("u{i:04}@contoso.com"), seed_of(i))),
    )
    .await;
    let file = dir.join("vault.tdb");
    let report = env.vault.store().backup_to(&file).await.unwrap();
    let records = report
        .row_counts()
        .into_iter()
        .find(|(t, _)| t == "records");
    assert_eq!(records, Some(("records".to_owned(), RECORDS)));
    env.vault
        .capture(
            &actor(),
            new_record("later@contoso.com"),
            &secret(b"later-seed-12345678"),
        )
        .await
        .unwrap();
    file
}

async fn issue_18_a_restore_brings_back_what_the_backup_holds(env: Env) {
    let dir = tempfile::tempdir().unwrap();
    let file = backed_up(&env, dir.path()).await;
    let backup = CheckedBackup::open(&file).unwrap();
    env.vault.store().replace_with(&backup).await.unwrap();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM records").await,
        RECORDS as i64
    );
    let vault = env.reopen(KeySpec::Key(env.key())).await.unwrap();
    let report = vault.audit_verify().await.unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(
        report.entries,
        env.count("SELECT COUNT(*) FROM audit").await
    );
    // The restored seeds open: the first and the last record's codes are theirs.
    for i in [0, RECORDS - 1] {
        let code = reveal_code(&env, &vault, &format!("u{i:04}@contoso.com"))
            .await
            .unwrap();
        use tokendesk_vault::Clock;
        assert_eq!(
            code,
            crate::db::expected_code(&seed_of(i), env.clock.now().0)
        );
    }
    // The restored vault goes on: new records and audit entries after the restored ones.
    vault
        .capture(
            &actor(),
            new_record("after@contoso.com"),
            &secret(b"after-seed-12345678"),
        )
        .await
        .unwrap();
    assert_eq!(vault.audit_verify().await.unwrap().problem, None);
}

/// The vault as it was after the backup: the later record is there and the chain verifies.
async fn assert_unchanged(env: &Env, at: &str) {
    assert_eq!(
        env.count("SELECT COUNT(*) FROM records").await,
        RECORDS as i64 + 1,
        "{at}"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM records WHERE upn = 'later@contoso.com'")
            .await,
        1,
        "{at}"
    );
    assert_eq!(
        env.vault.audit_verify().await.unwrap().problem,
        None,
        "{at}"
    );
}

async fn issue_18_a_backup_bad_near_its_end_restores_nothing(env: Env) {
    let dir = tempfile::tempdir().unwrap();
    let file = backed_up(&env, dir.path()).await;
    let good = std::fs::read_to_string(&file).unwrap();
    let body_end = good.trim_end().rfind('\n').unwrap() + 1;
    let last_row = good[..body_end - 1].rfind('\n').unwrap() + 1;

    // Damaged in its last row: the check reads to the end and refuses it.
    let damaged = dir.path().join("damaged.tdb");
    let mut bytes = good.clone().into_bytes();
    bytes[last_row + 1] ^= 1;
    std::fs::write(&damaged, &bytes).unwrap();
    let err = CheckedBackup::open(&damaged).unwrap_err().to_string();
    assert!(err.contains("checksum"), "{err}");

    // A last row that does not fit, under a valid checksum (not a file tokendesk wrote): it
    // fails inside the restore's transaction, after every other row went in; all roll back.
    let misfit = dir.path().join("misfit.tdb");
    std::fs::write(&misfit, with_last_row(&good, "[]")).unwrap();
    let backup = CheckedBackup::open(&misfit).unwrap();
    let err = env.vault.store().replace_with(&backup).await.unwrap_err();
    assert!(matches!(err, VaultError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("wrong number of values"), "{err}");
    assert_unchanged(&env, "a misfit last row").await;

    // Checked, then changed before the restore read it again: refused, nothing changes.
    let backup = CheckedBackup::open(&file).unwrap();
    std::fs::write(&file, with_last_row(&good, "[]")).unwrap();
    let err = env.vault.store().replace_with(&backup).await.unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
    assert_unchanged(&env, "a file changed after its check").await;
}

/// The backup with its last row replaced and a checksum that matches.
fn with_last_row(file: &str, row: &str) -> String {
    use sha2::Digest;
    let body_end = file.trim_end().rfind('\n').unwrap() + 1;
    let last_row = file[..body_end - 1].rfind('\n').unwrap() + 1;
    let body = format!("{}{row}\n", &file[..last_row]);
    let sum = sha2::Sha256::digest(body.as_bytes());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("{body}sha256 {hex}\n")
}
