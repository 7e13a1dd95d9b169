use tokendesk_vault::StoreError;
use tokendesk_vault::{KeySpec, MasterKey, VaultError};

use crate::db::{Env, actor, code_now, new_record, reveal_code, seed};

both_backends!(
    rotation_rewraps_everything_and_retires_the_old_key,
    rotation_interrupted_by_a_bad_record_changes_nothing,
);

async fn rotation_rewraps_everything_and_retires_the_old_key(mut env: Env) {
    let a = actor();
    for i in 0..5 {
        env.vault
            .capture(&a, new_record(&format!("k{i}@contoso.com")), &seed())
            .await
            .unwrap();
    }
    env.vault
        .cancel(
            &a,
            &env.vault.current_record_id("k4@contoso.com").await.unwrap(),
            "x",
        )
        .await
        .unwrap();
    let new = MasterKey::generate().unwrap();
    let new_hex: String = new
        .expose_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let new_id = new.key_id();
    assert_eq!(
        env.vault
            .rotate(a.actor(), KeySpec::Key(new))
            .await
            .unwrap(),
        4
    );
    assert_eq!(env.vault.key_version(), 2);
    assert_eq!(env.vault.key_id(), new_id);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM records WHERE key_version = 2")
            .await,
        4
    );
    // Old key: refused. New key: opens, seeds intact, fingerprints and audit chain still verify.
    assert!(matches!(
        env.reopen(KeySpec::Key(env.key())).await.unwrap_err(),
        VaultError::Store(StoreError::WrongKey { .. })
    ));
    let v = env
        .reopen(KeySpec::Key(crate::db::key_from_hex(&new_hex)))
        .await
        .unwrap();
    assert_eq!(
        reveal_code(&env, &v, "k0@contoso.com").await.unwrap(),
        code_now(&env)
    );
    assert!(
        v.fingerprint_matches("k4@contoso.com", &seed())
            .await
            .unwrap()
    );
    assert_eq!(v.audit_verify().await.unwrap().problem, None);
    // The same handle keeps working after rotating in place.
    assert_eq!(
        reveal_code(&env, &env.vault, "k1@contoso.com")
            .await
            .unwrap(),
        code_now(&env)
    );
}

async fn rotation_interrupted_by_a_bad_record_changes_nothing(mut env: Env) {
    let a = actor();
    for i in 0..5 {
        env.vault
            .capture(&a, new_record(&format!("j{i}@contoso.com")), &seed())
            .await
            .unwrap();
    }
    // Corrupt the last record in rotation order, so the failure comes after four re-wraps.
    env.exec(
        "UPDATE records SET sealed_seed = wrapped_dek WHERE id = (SELECT MAX(id) FROM records)",
    )
    .await;
    let audit_before = env.count("SELECT COUNT(*) FROM audit").await;
    let err = env
        .vault
        .rotate(a.actor(), KeySpec::Key(MasterKey::generate().unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Store(StoreError::Tampered { .. })),
        "{err:?}"
    );
    assert_eq!(env.vault.key_version(), 1);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM records WHERE key_version = 2")
            .await,
        0
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, audit_before);
    let v = env.reopen(KeySpec::Key(env.key())).await.unwrap();
    let ok = env.count("SELECT COUNT(*) FROM records").await;
    assert_eq!(ok, 5);
    let mut readable = 0;
    for i in 0..5 {
        if reveal_code(&env, &v, &format!("j{i}@contoso.com"))
            .await
            .is_ok()
        {
            readable += 1;
        }
    }
    assert_eq!(readable, 4);
}
