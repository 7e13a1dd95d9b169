//! Regression tests for issue 13 (records, approvals, reveal): each named after the finding.

use tokendesk_vault::{
    ApprovalId, Permission, Policy, Role, Settings, State, TokenUpdate, VaultError,
};
use tokendesk_vault::{ApprovalRefusal, RecordError, RevealError};

use crate::db::{Env, SEED, T0, actor, expected_code, new_record, reveal_request, seed};
use crate::staff::{auth, cheap};

both_backends!(
    issue_13_reveal_at_is_bounded_in_the_future,
    issue_13_reveal_at_is_bounded_in_the_past,
    issue_13_following_steps_cannot_pass_the_future_bound,
    issue_13_an_api_key_cannot_approve_its_owners_request,
    issue_13_a_missing_approval_is_refused_under_quota,
    issue_13_lifecycle_moves_act_on_the_record_named_not_the_newest,
);

async fn refusals(env: &Env) -> i64 {
    env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal.refused'")
        .await
}

async fn reveals(env: &Env) -> i64 {
    env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'")
        .await
}

async fn issue_13_reveal_at_is_bounded_in_the_future(mut env: Env) {
    // A helpdesk member could bank codes for the year 2100, valid after the seed is shredded.
    let upn = "fut@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    // Exactly 24 h ahead (the default) is allowed, and the code is the seed's.
    request.at_unix_secs = vec![T0 + 24 * 3600];
    let (_, codes) = env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(codes[0].code.expose(), expected_code(SEED, T0 + 24 * 3600));
    for at in [
        T0 + 24 * 3600 + 1,
        4_102_444_800, /* 2100-01-01 */
        i64::MAX,
    ] {
        request.at_unix_secs = vec![at];
        let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
        assert!(
            matches!(err, VaultError::Reveal(RevealError::OutsideRevealWindow(_))),
            "{err:?}"
        );
        assert!(err.to_string().contains("at most 24 h ahead"), "{err}");
    }
    // Each refusal is audited, none as a reveal.
    assert_eq!((reveals(&env).await, refusals(&env).await), (1, 3));
    // The limit is a setting.
    env.vault.set_settings(Settings {
        reveal_max_future_secs: 2 * 3600,
        ..Settings::default()
    });
    request.at_unix_secs = vec![T0 + 3 * 3600];
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(err.to_string().contains("at most 2 h ahead"), "{err}");
    request.at_unix_secs = vec![T0 + 3600];
    env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn issue_13_reveal_at_is_bounded_in_the_past(env: Env) {
    // Past codes are for a code just missed, not for any time at all.
    let upn = "past@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.at_unix_secs = vec![T0 - 3 * 30];
    let (_, codes) = env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(codes[0].code.expose(), expected_code(SEED, T0 - 90));
    for at in [T0 - 91, T0 - 86_400, 0] {
        request.at_unix_secs = vec![at];
        let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
        assert!(
            matches!(err, VaultError::Reveal(RevealError::OutsideRevealWindow(_))),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("at most 3 steps (90 s) back"),
            "{err}"
        );
    }
    // One bad time among good ones refuses the whole reveal.
    request.at_unix_secs = vec![T0, T0 - 3600];
    assert!(env.vault.reveal(&actor(), &request).await.is_err());
    assert_eq!((reveals(&env).await, refusals(&env).await), (1, 4));
}

async fn issue_13_following_steps_cannot_pass_the_future_bound(mut env: Env) {
    // `following_steps` extends the times asked for; the extension is bounded too.
    let upn = "steps@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    env.vault.set_settings(Settings {
        reveal_max_future_secs: 3600,
        ..Settings::default()
    });
    let mut request = reveal_request(&env, upn);
    // T0 is a step boundary: steps up to T0 + 3600 start inside the hour.
    request.following_steps = 60;
    assert_eq!(T0 % 30, 0);
    let (_, codes) = env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(codes.len(), 61);
    // From the last allowed second, the next step starts beyond the limit.
    request.at_unix_secs = vec![T0 + 3600];
    request.following_steps = 1;
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(err.to_string().contains("at most 1 h ahead"), "{err}");
    request.following_steps = 0;
    env.vault.reveal(&actor(), &request).await.unwrap();
    // Near the largest time, the extension saturates instead of overflowing.
    request.at_unix_secs = vec![i64::MAX - 5];
    request.following_steps = 60;
    assert!(matches!(
        env.vault.reveal(&actor(), &request).await,
        Err(VaultError::Reveal(RevealError::OutsideRevealWindow(_)))
    ));
}

async fn issue_13_an_api_key_cannot_approve_its_owners_request(mut env: Env) {
    // The second approver must be another person, whatever credential each uses.
    cheap(&mut env);
    env.vault.set_settings(Settings {
        daily_reveal_quota: 0,
        ..Settings::default()
    });
    let upn = "four@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let manage = auth("ann", Role::Admin, Permission::ManageApiKeys);
    let (ann_key, _) = env
        .vault
        .staff()
        .apikey_create(&manage, "ann-tool", Role::Admin)
        .await
        .unwrap();
    let (ann_key2, _) = env
        .vault
        .staff()
        .apikey_create(&manage, "ann-other", Role::Helpdesk)
        .await
        .unwrap();
    let bob_manage = auth("bob", Role::Admin, Permission::ManageApiKeys);
    let (bob_key, _) = env
        .vault
        .staff()
        .apikey_create(&bob_manage, "bob-tool", Role::Helpdesk)
        .await
        .unwrap();
    let as_key = |key: &tokendesk_vault::ApiKey, p| Policy::authorize(&key.principal(), p).unwrap();

    // Ann asks in her session; her keys cannot approve.
    let id = env
        .vault
        .request_approval(
            &auth("ann", Role::Admin, Permission::Reveal),
            upn,
            "INC-1",
            "why",
        )
        .await
        .unwrap();
    for key in [&ann_key, &ann_key2] {
        let err = env
            .vault
            .approve(&as_key(key, Permission::ApproveReveal), &id)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("own request"), "{err}");
    }
    // Ann's key asks; Ann's session cannot approve.
    let by_key = env
        .vault
        .request_approval(&as_key(&ann_key, Permission::Reveal), upn, "INC-2", "why")
        .await
        .unwrap();
    let err = env
        .vault
        .approve(
            &auth("ann", Role::Admin, Permission::ApproveReveal),
            &by_key,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("own request"), "{err}");
    assert!(
        env.vault
            .approval(&by_key)
            .await
            .unwrap()
            .approved_by
            .is_none()
    );

    // Bob's key is another person: it approves; Bob (session or key) cannot then use it.
    env.vault
        .approve(&as_key(&bob_key, Permission::ApproveReveal), &by_key)
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.approval = Some(by_key.clone());
    for bob in [
        crate::staff::auth("bob", Role::Helpdesk, Permission::Reveal),
        tokendesk_vault::Policy::authorize(&bob_key.principal(), Permission::Reveal).unwrap(),
    ] {
        let err = env.vault.reveal(&bob, &request).await.unwrap_err();
        assert!(
            matches!(err, VaultError::Reveal(RevealError::ApprovalInvalid { reason, .. }) if reason == ApprovalRefusal::OwnApproval),
            "{err}"
        );
    }
    // Ann's key (the requester) reveals with it, once.
    let (_, codes) = env
        .vault
        .reveal(
            &tokendesk_vault::Policy::authorize(&ann_key.principal(), Permission::Reveal).unwrap(),
            &request,
        )
        .await
        .unwrap();
    assert_eq!(codes.len(), 1);
    let refused = env
        .count("SELECT COUNT(*) FROM audit WHERE action = 'approval.refused'")
        .await;
    assert_eq!(refused, 3);
}

async fn issue_13_a_missing_approval_is_refused_under_quota(mut env: Env) {
    // An approval named with a reveal was ignored under the quota yet audited with the reveal.
    cheap(&mut env);
    let upn = "ghost@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    env.vault
        .capture(&actor(), new_record("else@contoso.com"), &seed())
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.method = tokendesk_vault::Verification::SecondApprover;
    request.approval = Some(ApprovalId("does-not-exist".into()));
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Reveal(RevealError::ApprovalInvalid { reason, .. }) if *reason == ApprovalRefusal::Unknown),
        "{err}"
    );
    // Not yet approved.
    let tester = auth("tester", Role::Helpdesk, Permission::Reveal);
    let id = env
        .vault
        .request_approval(&tester, upn, "INC-1", "why")
        .await
        .unwrap();
    request.approval = Some(id.clone());
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(err.to_string().contains("not been approved"), "{err}");
    env.vault
        .approve(&auth("bob", Role::Helpdesk, Permission::ApproveReveal), &id)
        .await
        .unwrap();
    // Another user's approval.
    let mut other = reveal_request(&env, "else@contoso.com");
    other.approval = Some(id.clone());
    let err = env.vault.reveal(&actor(), &other).await.unwrap_err();
    assert!(err.to_string().contains("another user"), "{err}");
    // The approver's own use.
    let err = env
        .vault
        .reveal(
            &crate::staff::auth("bob", Role::Helpdesk, Permission::Reveal),
            &request,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("approver"), "{err}");
    assert_eq!((reveals(&env).await, refusals(&env).await), (0, 4));
    // A good approval under the quota is used up, and the reveal names it.
    env.vault.reveal(&actor(), &request).await.unwrap();
    assert!(
        env.vault
            .approval(&id)
            .await
            .unwrap()
            .used_unix_secs
            .is_some()
    );
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(err.to_string().contains("used already"), "{err}");
    let entries = env.vault.audit_list(&Default::default()).await.unwrap();
    let with_approval: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "reveal")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).unwrap()["approval"].clone())
        .collect();
    assert_eq!(with_approval, [serde_json::json!(id.0)]);
    for e in entries.iter().filter(|e| e.action == "reveal.refused") {
        assert!(e.detail.contains("\"refused\":\"approval"), "{}", e.detail);
    }
}

async fn issue_13_lifecycle_moves_act_on_the_record_named_not_the_newest(mut env: Env) {
    // A stale id from an old page moved the user's newer record.
    env.vault.set_settings(Settings {
        retention_secs: 86_400,
        ..Settings::default()
    });
    let upn = "stale@contoso.com";
    let old = env
        .vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let old_id = tokendesk_vault::RecordId::from(&old);
    env.vault.cancel(&actor(), &old_id, "typo").await.unwrap();
    env.clock.advance(1);
    let new = env
        .vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let before = env.count("SELECT COUNT(*) FROM audit").await;
    let stale = [
        env.vault
            .mark_burned(&actor(), &old_id, TokenUpdate::default())
            .await
            .map(|_| ()),
        env.vault
            .cancel(&actor(), &old_id, "again")
            .await
            .map(|_| ()),
    ];
    for result in stale {
        let err = result.unwrap_err();
        assert!(
            matches!(err, VaultError::Record(RecordError::Transition(_))),
            "{err:?}"
        );
        assert!(err.to_string().contains("from cancelled"), "{err}");
    }
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, before);
    assert_eq!(
        env.vault.record(&new.id).await.unwrap().state,
        State::Captured
    );
    // The record named moves, and only it.
    let moved = env
        .vault
        .mark_burned(&actor(), &(&new).into(), TokenUpdate::default())
        .await
        .unwrap();
    assert_eq!(
        (moved.id.as_str(), moved.state),
        (new.id.as_str(), State::Burned)
    );
    assert_eq!(
        env.vault.record(&old.id).await.unwrap().state,
        State::Cancelled
    );
    // By user name, the current record is resolved once, explicitly.
    assert_eq!(env.vault.current_record_id(upn).await.unwrap().0, new.id);
    let unknown = tokendesk_vault::RecordId("no-such-record".into());
    assert!(matches!(
        env.vault.lose(&actor(), &unknown, "x").await,
        Err(VaultError::Record(RecordError::NoRecord { .. }))
    ));
}
