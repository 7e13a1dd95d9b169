use tokendesk_vault::{Settings, Shipment, State, TokenUpdate, VaultError};

use crate::db::{
    Env, SEED, actor, code_now, expected_code, new_record, reveal_code, reveal_request, seed,
};

both_backends!(
    reveal_is_audited_with_steps_and_never_the_seed,
    daily_quota_refuses_and_audits_the_refusal,
    reveals_only_in_captured_burned_shipped,
    export_is_audited_and_refused_for_purged,
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
            VaultError::QuotaExceeded {
                used: 2,
                quota: 2,
                ..
            }
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
    });
    let a = actor();
    let v = &env.vault;
    let upn = "s@contoso.com";
    v.capture(&a, new_record(upn), &seed()).await.unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.mark_burned(&a, upn, TokenUpdate::default())
        .await
        .unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.ship(&a, upn, Shipment::default()).await.unwrap();
    assert!(reveal_code(&env, v, upn).await.is_ok());
    v.deliver(&a, upn, &code_now(&env), 2).await.unwrap();
    let err = reveal_code(&env, v, upn).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::NotRevealable {
                state: State::Delivered,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("delivered"));
    v.purge(&a, upn).await.unwrap();
    let err = reveal_code(&env, v, upn).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::NotRevealable {
                state: State::Purged,
                ..
            }
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
    v.cancel(&a, "x2@contoso.com", "gone").await.unwrap();
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
    assert!(matches!(err, VaultError::Purged { .. }), "{err:?}");
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
