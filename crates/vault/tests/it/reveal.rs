use tokendesk_vault::{RecordError, RevealError};
use tokendesk_vault::{Settings, Shipment, State, TokenUpdate, VaultError};

use crate::db::{
    Env, SEED, actor, code_now, expected_code, new_record, reveal_code, reveal_request, seed,
};

both_backends!(
    reveal_is_audited_with_steps_and_never_the_seed,
    daily_quota_refuses_and_audits_the_refusal,
    reveals_only_in_captured_burned_shipped,
    export_is_audited_and_refused_for_purged,
    concurrent_reveals_are_each_answered_and_audited,
    one_failing_reveal_in_a_batch_leaves_the_others,
    an_old_record_never_reveals_the_new_tokens_codes,
);

async fn reveal_is_audited_with_steps_and_never_the_seed(env: Env) {
    env.vault
        .capture(&actor(), new_record("r@contoso.com"), &seed())
        .await
        .unwrap();
    let mut request = reveal_request(&env, "r@contoso.com");
    request.at_unix_secs = vec![crate::db::T0, crate::db::T0 + 30];
    let (record, codes) = env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(record.state, State::Captured);
    let got: Vec<&str> = codes.iter().map(|c| c.code.expose()).collect();
    assert_eq!(
        got,
        [
            expected_code(SEED, crate::db::T0),
            expected_code(SEED, crate::db::T0 + 30)
        ]
    );
    assert_eq!(codes[0].valid_until, codes[1].valid_from);
    let entries = env.vault.audit_list(&Default::default()).await.unwrap();
    let reveal = entries.last().unwrap();
    assert_eq!(reveal.action, "reveal");
    let detail: serde_json::Value = serde_json::from_str(&reveal.detail).unwrap();
    assert_eq!(detail["ticket"], "INC-1");
    assert_eq!(detail["method"], "call-back");
    assert_eq!(
        detail["steps"],
        serde_json::json!([crate::db::T0 / 30, crate::db::T0 / 30 + 1])
    );
    // The same two codes asked as "now and the following step", in the token's own period.
    let mut read_out = reveal_request(&env, "r@contoso.com");
    read_out.at_unix_secs = vec![crate::db::T0 + 7];
    read_out.following_steps = 1;
    let (_, next) = env.vault.reveal(&actor(), &read_out).await.unwrap();
    let again: Vec<&str> = next.iter().map(|c| c.code.expose()).collect();
    assert_eq!(again, got);
    read_out.following_steps = 61;
    assert!(matches!(
        env.vault.reveal(&actor(), &read_out).await,
        Err(VaultError::Invalid(_))
    ));
    let entries = env.vault.audit_list(&Default::default()).await.unwrap();
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    let base32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    for e in &entries {
        assert!(!e.detail.contains("12345678901234567890") && !e.detail.contains(&hex));
        assert!(!e.detail.contains(base32));
        for c in &got {
            assert!(!e.detail.contains(c), "a code in the audit trail");
        }
    }
}

async fn daily_quota_refuses_and_audits_the_refusal(mut env: Env) {
    env.vault.set_settings(Settings {
        daily_reveal_quota: 2,
        ..Settings::default()
    });
    env.vault
        .capture(&actor(), new_record("q@contoso.com"), &seed())
        .await
        .unwrap();
    reveal_code(&env, &env.vault, "q@contoso.com")
        .await
        .unwrap();
    reveal_code(&env, &env.vault, "q@contoso.com")
        .await
        .unwrap();
    let err = reveal_code(&env, &env.vault, "q@contoso.com")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Reveal(RevealError::QuotaExceeded {
                used: 2,
                quota: 2,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal.refused'")
            .await,
        1
    );
    // The next UTC day the quota starts again.
    env.clock.advance(86_400);
    reveal_code(&env, &env.vault, "q@contoso.com")
        .await
        .unwrap();
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn reveals_only_in_captured_burned_shipped(mut env: Env) {
    env.vault.set_settings(Settings {
        daily_reveal_quota: 100,
        retention_secs: 86_400,
        ..Settings::default()
    });
    let a = actor();
    let v = &env.vault;
    let upn = "s@contoso.com";
    v.capture(&a, new_record(upn), &seed()).await.unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.mark_burned(
        &a,
        &v.current_record_id(upn).await.unwrap(),
        TokenUpdate::default(),
    )
    .await
    .unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.ship(
        &a,
        &v.current_record_id(upn).await.unwrap(),
        Shipment::default(),
    )
    .await
    .unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.deliver(
        &a,
        &v.current_record_id(upn).await.unwrap(),
        &code_now(&env),
        2,
    )
    .await
    .unwrap();
    let err = reveal_code(&env, v, upn).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Reveal(RevealError::NotRevealable {
                state: State::Delivered,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("delivered"));
    v.purge(&a, &v.current_record_id(upn).await.unwrap())
        .await
        .unwrap();
    let err = reveal_code(&env, v, upn).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Reveal(RevealError::NotRevealable {
                state: State::Purged,
                ..
            })
        ),
        "{err:?}"
    );
}

async fn export_is_audited_and_refused_for_purged(env: Env) {
    let a = actor();
    let v = &env.vault;
    v.capture(&a, new_record("x1@contoso.com"), &seed())
        .await
        .unwrap();
    v.capture(&a, new_record("x2@contoso.com"), &seed())
        .await
        .unwrap();
    v.cancel(
        &a,
        &v.current_record_id("x2@contoso.com").await.unwrap(),
        "gone",
    )
    .await
    .unwrap();
    let out = v.export_seeds(&a, None, None, "entra").await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seed.as_slice(), SEED);
    assert!(!format!("{:?}", out[0]).contains("1234567890"));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'export'")
            .await,
        1
    );
    let err = v
        .export_seeds(&a, None, Some("x2@contoso.com"), "entra")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Record(RecordError::Purged { .. })),
        "{err:?}"
    );
    assert!(
        v.export_seeds(&a, Some(State::Purged), None, "entra")
            .await
            .is_err()
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'export'")
            .await,
        1
    );
}

/// Forty helpdesk operators reveal at once: they share commits (group commit), and each gets
/// the codes of its own user, each with its own audit entry, and the chain stays intact.
async fn concurrent_reveals_are_each_answered_and_audited(env: Env) {
    let seeds: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i.wrapping_mul(7) + 1; 20]).collect();
    for (i, s) in seeds.iter().enumerate() {
        env.vault
            .capture(
                &actor(),
                new_record(&format!("c{i}@contoso.com")),
                &crate::db::secret(s),
            )
            .await
            .unwrap();
    }
    let before = env.count("SELECT COUNT(*) FROM audit").await;
    let requests: Vec<_> = (0..40)
        .map(|i| reveal_request(&env, &format!("c{i}@contoso.com")))
        .collect();
    let operator = actor();
    let answers =
        futures_util::future::join_all(requests.iter().map(|r| env.vault.reveal(&operator, r)))
            .await;
    for ((answer, request), s) in answers.into_iter().zip(&requests).zip(&seeds) {
        let (record, codes) = answer.unwrap();
        assert_eq!(record.upn, request.upn);
        assert_eq!(
            codes[0].code.expose(),
            expected_code(s, request.at_unix_secs[0])
        );
    }
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'")
            .await,
        40
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, before + 40);
    let report = env.vault.audit_verify().await.unwrap();
    assert_eq!(report.problem, None);
}

/// One batch, one transaction: a reveal that fails after its audit entry was written (a time
/// before 1970) or before it (no such user) is rolled back alone; refusals keep their audit
/// entry; the quota counts the reveals earlier in the same batch.
async fn one_failing_reveal_in_a_batch_leaves_the_others(mut env: Env) {
    env.vault.set_settings(Settings {
        daily_reveal_quota: 2,
        retention_secs: 86_400,
        ..Settings::default()
    });
    let a = actor();
    for upn in ["a@contoso.com", "b@contoso.com", "d@contoso.com"] {
        env.vault
            .capture(&a, new_record(upn), &seed())
            .await
            .unwrap();
    }
    let d = "d@contoso.com";
    env.vault
        .mark_burned(
            &a,
            &env.vault.current_record_id(d).await.unwrap(),
            TokenUpdate::default(),
        )
        .await
        .unwrap();
    env.vault
        .ship(
            &a,
            &env.vault.current_record_id(d).await.unwrap(),
            Shipment::default(),
        )
        .await
        .unwrap();
    env.vault
        .deliver(
            &a,
            &env.vault.current_record_id(d).await.unwrap(),
            &code_now(&env),
            2,
        )
        .await
        .unwrap();
    let before = env.count("SELECT COUNT(*) FROM audit").await;
    let mut before_1970 = reveal_request(&env, "b@contoso.com");
    before_1970.at_unix_secs = vec![-60];
    let batch = vec![
        (a.actor().clone(), reveal_request(&env, "a@contoso.com")),
        (
            a.actor().clone(),
            reveal_request(&env, "nobody@contoso.com"),
        ),
        (a.actor().clone(), before_1970),
        (a.actor().clone(), reveal_request(&env, "a@contoso.com")),
        (a.actor().clone(), reveal_request(&env, "d@contoso.com")),
        (a.actor().clone(), reveal_request(&env, "a@contoso.com")),
        (a.actor().clone(), reveal_request(&env, "b@contoso.com")),
    ];
    let answers = env.vault.reveal_batch(&batch).await;
    assert_eq!(answers.len(), batch.len());
    let code = code_now(&env);
    let ok = |i: usize| match &answers[i] {
        Ok((_, codes)) => codes[0].code.expose() == code,
        Err(e) => panic!("answer {i}: {e:?}"),
    };
    assert!(ok(0) && ok(3) && ok(6));
    assert!(matches!(
        answers[1],
        Err(VaultError::Record(RecordError::NoRecord { .. }))
    ));
    assert!(matches!(answers[2], Err(VaultError::Invalid(_))));
    assert!(matches!(
        answers[4],
        Err(VaultError::Reveal(RevealError::NotRevealable {
            state: State::Delivered,
            ..
        }))
    ));
    assert!(matches!(
        answers[5],
        Err(VaultError::Reveal(RevealError::QuotaExceeded {
            used: 2,
            quota: 2,
            ..
        }))
    ));
    // Three reveals and two audited refusals committed; the two failures left nothing.
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, before + 5);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal.refused'")
            .await,
        2
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM audit WHERE action = 'reveal' AND subject = 'b@contoso.com'"
        )
        .await,
        1
    );
    // Reveals naming their record are read in one query for the batch: the same record twice
    // (b has one reveal of its quota of 2 left) and an unknown id.
    let b = env.vault.current("b@contoso.com").await.unwrap();
    let mut by_id = reveal_request(&env, "");
    by_id.record_id = Some(b.id.clone());
    let mut unknown = by_id.clone();
    unknown.record_id = Some("no-such-record".into());
    let answers = env
        .vault
        .reveal_batch(&[
            (a.actor().clone(), by_id.clone()),
            (a.actor().clone(), unknown),
            (a.actor().clone(), by_id),
        ])
        .await;
    assert_eq!(answers[0].as_ref().unwrap().0.id, b.id);
    assert!(matches!(
        answers[1],
        Err(VaultError::Record(RecordError::NoRecord { .. }))
    ));
    assert!(matches!(
        answers[2],
        Err(VaultError::Reveal(RevealError::QuotaExceeded {
            used: 2,
            ..
        }))
    ));
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

/// The operator reveals from a record's page; if that record was cancelled and the user has a
/// new token since, the reveal is refused and audited, never answered with the new token's codes.
async fn an_old_record_never_reveals_the_new_tokens_codes(env: Env) {
    let a = actor();
    let upn = "o@contoso.com";
    let old = env
        .vault
        .capture(&a, new_record(upn), &seed())
        .await
        .unwrap();
    env.vault
        .cancel(
            &a,
            &env.vault.current_record_id(upn).await.unwrap(),
            "wrong token",
        )
        .await
        .unwrap();
    let new = env
        .vault
        .capture(&a, new_record(upn), &crate::db::secret(&[9; 20]))
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.record_id = Some(old.id.clone());
    let err = env.vault.reveal(&a, &request).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Reveal(RevealError::NotRevealable {
                state: State::Cancelled,
                ..
            })
        ),
        "{err:?}"
    );
    let last = env.vault.audit_list(&Default::default()).await.unwrap();
    assert_eq!(last.last().unwrap().action, "reveal.refused");
    request.record_id = Some(new.id.clone());
    let (record, codes) = env.vault.reveal(&a, &request).await.unwrap();
    assert_eq!(record.id, new.id);
    assert_eq!(
        codes[0].code.expose(),
        expected_code(&[9; 20], request.at_unix_secs[0])
    );
    request.record_id = Some("no-such-record".into());
    assert!(matches!(
        env.vault.reveal(&a, &request).await,
        Err(VaultError::Record(RecordError::NoRecord { .. }))
    ));
}
