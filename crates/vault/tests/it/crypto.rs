use tokendesk_vault::StoreError;
use tokendesk_vault::{KdfParams, KeySpec, MasterKey, Passphrase, Store, Vault, VaultError};
use zeroize::Zeroizing;

use crate::db::{Env, actor, code_now, new_record, reveal_code, secret, seed};

both_backends!(
    wrong_key_is_refused_with_expected_key_id,
    tampered_ciphertext_is_reported_not_a_crash,
    ciphertext_moved_to_another_record_does_not_open,
    wrapped_key_moved_to_another_record_does_not_open,
    passphrase_vault_opens_only_with_its_passphrase,
);

async fn wrong_key_is_refused_with_expected_key_id(env: Env) {
    let other = MasterKey::generate().unwrap();
    let err = env.reopen(KeySpec::Key(other)).await.unwrap_err();
    match &err {
        VaultError::Store(StoreError::WrongKey { expected, .. }) => {
            assert_eq!(*expected, env.vault.key_id())
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    assert!(err.to_string().contains("does not open this vault"));
    assert!(!err.to_string().contains(&env.key_hex));
    // A passphrase for a key-file vault is a different, clear error.
    let pass = KeySpec::Passphrase {
        passphrase: Passphrase::new(Zeroizing::new("pw".into())),
        params: None,
    };
    assert!(matches!(
        env.reopen(pass).await.unwrap_err(),
        VaultError::Store(StoreError::KeySourceMismatch { .. })
    ));
    // The right key still works and nothing changed.
    let v = env.reopen(KeySpec::Key(env.key())).await.unwrap();
    assert_eq!(v.audit_verify().await.unwrap().problem, None);
}

async fn tampered_ciphertext_is_reported_not_a_crash(env: Env) {
    let rec = env
        .vault
        .capture(&actor(), new_record("t@contoso.com"), &seed())
        .await
        .unwrap();
    use sqlx::Row;
    let row = sqlx::query("SELECT sealed_seed FROM records WHERE id = $1")
        .bind(&rec.id)
        .fetch_one(&env.raw)
        .await
        .unwrap();
    let mut sealed: Vec<u8> = row.get(0);
    let last = sealed.len() - 1;
    sealed[last] ^= 0x40;
    sqlx::query("UPDATE records SET sealed_seed = $1 WHERE id = $2")
        .bind(sealed)
        .bind(&rec.id)
        .execute(&env.raw)
        .await
        .unwrap();
    let audit_before = env.count("SELECT COUNT(*) FROM audit").await;
    let err = reveal_code(&env, &env.vault, "t@contoso.com")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Store(StoreError::Tampered { record }) if *record == rec.id),
        "{err:?}"
    );
    // The reveal rolled back: no audit entry claims a disclosure that did not happen.
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, audit_before);
}

async fn ciphertext_moved_to_another_record_does_not_open(env: Env) {
    let a = actor();
    env.vault
        .capture(&a, new_record("m1@contoso.com"), &seed())
        .await
        .unwrap();
    env.vault
        .capture(
            &a,
            new_record("m2@contoso.com"),
            &secret(b"abcdefghijklmnopqrst"),
        )
        .await
        .unwrap();
    // Copy m1's sealed seed and wrapped key onto m2's row.
    env.exec(
        "UPDATE records SET sealed_seed = (SELECT sealed_seed FROM records WHERE upn = 'm1@contoso.com'), \
         wrapped_dek = (SELECT wrapped_dek FROM records WHERE upn = 'm1@contoso.com') \
         WHERE upn = 'm2@contoso.com'",
    )
    .await;
    let err = reveal_code(&env, &env.vault, "m2@contoso.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Store(StoreError::Tampered { .. })),
        "{err:?}"
    );
    assert_eq!(
        reveal_code(&env, &env.vault, "m1@contoso.com")
            .await
            .unwrap(),
        code_now(&env)
    );
}

async fn wrapped_key_moved_to_another_record_does_not_open(env: Env) {
    let a = actor();
    env.vault
        .capture(&a, new_record("w1@contoso.com"), &seed())
        .await
        .unwrap();
    env.vault
        .capture(&a, new_record("w2@contoso.com"), &seed())
        .await
        .unwrap();
    env.exec(
        "UPDATE records SET wrapped_dek = (SELECT wrapped_dek FROM records WHERE upn = 'w1@contoso.com') \
         WHERE upn = 'w2@contoso.com'",
    )
    .await;
    let err = reveal_code(&env, &env.vault, "w2@contoso.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Store(StoreError::Tampered { .. })),
        "{err:?}"
    );
}

async fn passphrase_vault_opens_only_with_its_passphrase(env: Env) {
    // A second vault in a fresh database of the same backend, protected by a passphrase.
    let (url, _scratch) = if env.url.starts_with("sqlite") {
        (env.url.replace("vault.db", "pass.db"), None)
    } else {
        let (url, scratch) = crate::db::ScratchDb::postgres().await;
        (url, Some(scratch))
    };
    let pass = |text: &str| Passphrase::new(Zeroizing::new(text.to_owned()));
    let params = KdfParams::with_costs(256, 1, 1).unwrap();
    let store = Store::open(&url).await.unwrap();
    let v = Vault::init(
        store,
        KeySpec::Passphrase {
            passphrase: pass("correct horse"),
            params: Some(params),
        },
        env.clock.clone(),
        actor().actor(),
    )
    .await
    .unwrap();
    v.capture(&actor(), new_record("p@contoso.com"), &seed())
        .await
        .unwrap();
    let reopen = |text: &'static str| {
        let url = url.clone();
        let clock = env.clock.clone();
        async move {
            let store = Store::open(&url).await.unwrap();
            Vault::open(
                store,
                KeySpec::Passphrase {
                    passphrase: pass(text),
                    params: None,
                },
                clock,
            )
            .await
        }
    };
    assert!(matches!(
        reopen("wrong horse").await.unwrap_err(),
        VaultError::Store(StoreError::WrongKey { .. })
    ));
    let v2 = reopen("correct horse").await.unwrap();
    assert_eq!(
        reveal_code(&env, &v2, "p@contoso.com").await.unwrap(),
        code_now(&env)
    );
}
