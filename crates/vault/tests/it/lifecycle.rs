use tokendesk_vault::RecordError;
use tokendesk_vault::{RecordId, Shipment, State, TokenUpdate, Vault, VaultError};

use crate::db::{Env, SEED, actor, code_now, new_record, secret, seed};

/// Captures a record for `upn` and moves it to burned and shipped, by its id; returns the id.
pub async fn shipped(v: &Vault, a: &tokendesk_vault::Authorized, upn: &str) -> RecordId {
    let id = RecordId::from(&v.capture(a, new_record(upn), &seed()).await.unwrap());
    v.mark_burned(a, &id, TokenUpdate::default()).await.unwrap();
    v.ship(a, &id, Shipment::default()).await.unwrap();
    id
}

both_backends!(
    batch_failing_halfway_leaves_nothing_behind,
    deliver_checks_the_code_and_measures_drift,
    capture_seals_the_seed,
    full_lifecycle_shreds_seed_and_keeps_fingerprint,
    illegal_transitions_name_the_current_state_and_change_nothing,
    one_active_record_per_user,
    purge_due_respects_retention,
    overdue_shipments_are_listed,
    concurrent_captures_keep_one_linear_chain,
);

async fn capture_seals_the_seed(env: Env) {
    let rec = env
        .vault
        .capture(&actor(), new_record("Alice@Contoso.com"), &seed())
        .await
        .unwrap();
    assert_eq!(rec.upn, "alice@contoso.com");
    assert_eq!(rec.state, State::Captured);
    assert!(rec.has_seed);
    assert_eq!(rec.key_version, Some(1));
    // The stored ciphertext does not contain the seed.
    use sqlx::Row;
    let row = sqlx::query("SELECT sealed_seed, wrapped_dek FROM records")
        .fetch_one(&env.raw)
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    assert!(!sealed.windows(SEED.len()).any(|w| w == SEED));
    assert_eq!(sealed.len(), SEED.len() + tokendesk_crypto_overhead());
}

fn tokendesk_crypto_overhead() -> usize {
    41
}

async fn full_lifecycle_shreds_seed_and_keeps_fingerprint(mut env: Env) {
    env.vault.set_settings(tokendesk_vault::Settings {
        retention_secs: 0,
        ..Default::default()
    });
    let a = actor();
    let v = &env.vault;
    v.capture(&a, new_record("bob@contoso.com"), &seed())
        .await
        .unwrap();
    let r = v
        .mark_burned(
            &a,
            &v.current_record_id("bob@contoso.com").await.unwrap(),
            TokenUpdate {
                serial: Some("S-9".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((r.state, r.serial.as_deref()), (State::Burned, Some("S-9")));
    let r = v
        .ship(
            &a,
            &v.current_record_id("bob@contoso.com").await.unwrap(),
            Shipment {
                carrier: Some("DHL".into()),
                tracking: Some("JD0001".into()),
                expected_unix_secs: Some(crate::db::T0 + 86_400),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.state, State::Shipped);
    assert_eq!(r.shipment.carrier.as_deref(), Some("DHL"));
    let r = v
        .deliver(
            &a,
            &v.current_record_id("bob@contoso.com").await.unwrap(),
            &code_now(&env),
            2,
        )
        .await
        .unwrap();
    assert_eq!(r.state, State::Purged);
    assert_eq!(r.drift_steps, 0);
    assert!(!r.has_seed);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM records WHERE sealed_seed IS NOT NULL OR wrapped_dek IS NOT NULL"
        )
        .await,
        0
    );
    assert!(
        v.fingerprint_matches("bob@contoso.com", &seed())
            .await
            .unwrap()
    );
    assert!(
        !v.fingerprint_matches("bob@contoso.com", &secret(b"12345678901234567891"))
            .await
            .unwrap()
    );
    let actions: Vec<String> = v
        .audit_list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "init",
            "capture",
            "state.burned",
            "state.shipped",
            "state.delivered",
            "state.purged"
        ]
    );
    assert_eq!(v.audit_verify().await.unwrap().problem, None);
}

async fn illegal_transitions_name_the_current_state_and_change_nothing(env: Env) {
    let a = actor();
    let v = &env.vault;
    let upn = "carol@contoso.com";
    v.capture(&a, new_record(upn), &seed()).await.unwrap();
    // From captured: ship, deliver, lose, purge are illegal.
    let before = env.count("SELECT COUNT(*) FROM audit").await;
    let attempts = [
        v.ship(
            &a,
            &v.current_record_id(upn).await.unwrap(),
            Shipment::default(),
        )
        .await
        .map(|_| ()),
        v.deliver(
            &a,
            &v.current_record_id(upn).await.unwrap(),
            &code_now(&env),
            2,
        )
        .await
        .map(|_| ()),
        v.lose(&a, &v.current_record_id(upn).await.unwrap(), "x")
            .await
            .map(|_| ()),
        v.purge(&a, &v.current_record_id(upn).await.unwrap())
            .await
            .map(|_| ()),
    ];
    for result in attempts {
        match result {
            Err(VaultError::Record(RecordError::Transition(e))) => {
                assert_eq!(e.from, State::Captured);
                assert!(e.to_string().contains("from captured"), "{e}");
            }
            other => panic!("expected a transition error, got {other:?}"),
        }
    }
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, before);
    assert_eq!(v.current(upn).await.unwrap().state, State::Captured);
    // Terminal state: nothing is legal, message says so.
    v.cancel(&a, &v.current_record_id(upn).await.unwrap(), "user left")
        .await
        .unwrap();
    let err = v
        .mark_burned(
            &a,
            &v.current_record_id(upn).await.unwrap(),
            TokenUpdate::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("from cancelled"), "{err}");
    assert!(err.to_string().contains("final state"), "{err}");
}

async fn one_active_record_per_user(env: Env) {
    let a = actor();
    let v = &env.vault;
    v.capture(&a, new_record("dave@contoso.com"), &seed())
        .await
        .unwrap();
    let err = v
        .capture(&a, new_record("DAVE@contoso.com"), &seed())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Record(RecordError::ActiveRecordExists {
                state: State::Captured,
                ..
            })
        ),
        "{err:?}"
    );
    let cancelled = v
        .cancel(
            &a,
            &v.current_record_id("dave@contoso.com").await.unwrap(),
            "typo",
        )
        .await
        .unwrap();
    assert!(!cancelled.has_seed, "cancel destroys the seed");
    env.clock.advance(1);
    v.capture(&a, new_record("dave@contoso.com"), &seed())
        .await
        .unwrap();
    let history = v.history("dave@contoso.com").await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.state).collect::<Vec<_>>(),
        [State::Captured, State::Cancelled]
    );
}

async fn purge_due_respects_retention(mut env: Env) {
    env.vault.set_settings(tokendesk_vault::Settings {
        retention_secs: 7 * 86_400,
        ..Default::default()
    });
    let a = actor();
    let v = &env.vault;
    for upn in ["e1@contoso.com", "e2@contoso.com"] {
        crate::lifecycle::shipped(v, &a, upn).await;
    }
    let r = v
        .deliver(
            &a,
            &v.current_record_id("e1@contoso.com").await.unwrap(),
            &code_now(&env),
            2,
        )
        .await
        .unwrap();
    assert_eq!(r.state, State::Delivered);
    assert!(r.has_seed);
    assert_eq!(v.purge_due(&a).await.unwrap(), 0);
    env.clock.advance(7 * 86_400);
    assert_eq!(v.purge_due(&a).await.unwrap(), 1);
    assert_eq!(
        v.current("e1@contoso.com").await.unwrap().state,
        State::Purged
    );
    assert_eq!(
        v.current("e2@contoso.com").await.unwrap().state,
        State::Shipped
    );
}

async fn overdue_shipments_are_listed(env: Env) {
    let a = actor();
    let v = &env.vault;
    for upn in ["f1@contoso.com", "f2@contoso.com"] {
        v.capture(&a, new_record(upn), &seed()).await.unwrap();
        v.mark_burned(
            &a,
            &v.current_record_id(upn).await.unwrap(),
            TokenUpdate::default(),
        )
        .await
        .unwrap();
    }
    v.ship(
        &a,
        &v.current_record_id("f1@contoso.com").await.unwrap(),
        Shipment::default(),
    )
    .await
    .unwrap();
    env.clock.advance(10 * 86_400);
    v.ship(
        &a,
        &v.current_record_id("f2@contoso.com").await.unwrap(),
        Shipment::default(),
    )
    .await
    .unwrap();
    let overdue = v
        .list(&tokendesk_vault::ListFilter {
            overdue_days: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        overdue.iter().map(|r| r.upn.as_str()).collect::<Vec<_>>(),
        ["f1@contoso.com"]
    );
    let shipped = v
        .list(&tokendesk_vault::ListFilter {
            state: Some(State::Shipped),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(shipped.len(), 2);
}

async fn concurrent_captures_keep_one_linear_chain(env: Env) {
    // Two vault handles (two "processes") write at the same time.
    let other = env
        .reopen(tokendesk_vault::KeySpec::Key(env.key()))
        .await
        .unwrap();
    let a = actor();
    let first = async {
        for i in 0..10 {
            env.vault
                .capture(&a, new_record(&format!("g{i}@contoso.com")), &seed())
                .await
                .unwrap();
        }
    };
    let second = async {
        for i in 0..10 {
            other
                .capture(&a, new_record(&format!("h{i}@contoso.com")), &seed())
                .await
                .unwrap();
        }
    };
    tokio::join!(first, second);
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, 21);
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn deliver_checks_the_code_and_measures_drift(mut env: Env) {
    env.vault.set_settings(tokendesk_vault::Settings {
        retention_secs: 3600,
        ..Default::default()
    });
    let a = actor();
    let v = &env.vault;
    let upn = "drift@contoso.com";
    crate::lifecycle::shipped(v, &a, upn).await;
    let audit_before = env.count("SELECT COUNT(*) FROM audit").await;
    // A code from 10 steps away is outside a window of 2: refused, nothing changes.
    use tokendesk_vault::Clock;
    let far = crate::db::expected_code(SEED, env.clock.now().0 + 300);
    let err = v
        .deliver(&a, &v.current_record_id(upn).await.unwrap(), &far, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Record(RecordError::CodeMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, audit_before);
    assert_eq!(v.current(upn).await.unwrap().state, State::Shipped);
    // The token runs one step ahead.
    let ahead = crate::db::expected_code(SEED, env.clock.now().0 + 30);
    let r = v
        .deliver(&a, &v.current_record_id(upn).await.unwrap(), &ahead, 2)
        .await
        .unwrap();
    assert_eq!((r.state, r.drift_steps), (State::Delivered, 1));
    assert!(r.has_seed, "retention keeps the seed until purge --due");
}

async fn batch_failing_halfway_leaves_nothing_behind(env: Env) {
    let a = actor();
    env.vault
        .capture(&a, new_record("busy@contoso.com"), &seed())
        .await
        .unwrap();
    let audit_before = env.count("SELECT COUNT(*) FROM audit").await;
    // Item 51 of 100 collides with an active record: the first 50 must roll back too.
    let mut items: Vec<_> = (0..100)
        .map(|i| (new_record(&format!("b{i}@contoso.com")), seed()))
        .collect();
    items[50].0.upn = "busy@contoso.com".into();
    let err = env
        .vault
        .capture_batch(&a, &items, "test")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Record(RecordError::ActiveRecordExists { .. })
        ),
        "{err:?}"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM records").await, 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, audit_before);
    items[50].0.upn = "b50@contoso.com".into();
    assert_eq!(
        env.vault.capture_batch(&a, &items, "test").await.unwrap(),
        100
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit").await,
        audit_before + 101
    );
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}
