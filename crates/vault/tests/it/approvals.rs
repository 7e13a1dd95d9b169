//! Caller passphrase and four-eyes approvals.

use tokendesk_vault::{ApprovalId, Permission, Role, Settings, VaultError};
use tokendesk_vault::{ApprovalRefusal, RecordError, RevealError};

use crate::db::{Env, actor, new_record, reveal_code, reveal_request, seed};
use crate::staff::{auth, cheap, pw};

both_backends!(
    passphrase_attempts_are_limited_per_day,
    self_approval_is_refused,
    reveal_over_quota_needs_an_approval_used_once,
    concurrent_reveals_consume_an_approval_once,
);

async fn passphrase_attempts_are_limited_per_day(mut env: Env) {
    cheap(&mut env);
    let upn = "pat@contoso.com";
    let prov = auth("prov", Role::Provisioner, Permission::Capture);
    let desk = auth("desk", Role::Helpdesk, Permission::Reveal);
    assert!(matches!(
        env.vault
            .set_passphrase(&prov, upn, &pw("blue harbour"))
            .await,
        Err(VaultError::Record(RecordError::NoRecord { .. }))
    ));
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    assert!(matches!(
        env.vault
            .check_passphrase(&desk, upn, &pw("blue harbour"))
            .await,
        Err(VaultError::Invalid(_))
    ));
    let err = env
        .vault
        .set_passphrase(&prov, upn, &pw("blue"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("6 characters"), "{err}");
    env.vault
        .set_passphrase(&prov, upn, &pw("Blue  Harbour"))
        .await
        .unwrap();
    // Case and spacing do not matter.
    assert!(
        env.vault
            .check_passphrase(&desk, upn, &pw(" blue harbour "))
            .await
            .unwrap()
    );
    // The helpdesk proof for Reveal cannot set a passphrase.
    assert!(matches!(
        env.vault
            .set_passphrase(&desk, upn, &pw("other words"))
            .await,
        Err(VaultError::Forbidden { .. })
    ));
    for _ in 0..5 {
        assert!(
            !env.vault
                .check_passphrase(&desk, upn, &pw("red harbour"))
                .await
                .unwrap()
        );
    }
    // The 6th attempt is refused, even with the right passphrase.
    let err = env
        .vault
        .check_passphrase(&desk, upn, &pw("blue harbour"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Reveal(RevealError::TooManyAttempts { limit: 5, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("call-back"), "{err}");
    // Next UTC day: allowed again.
    env.clock.advance(86_400);
    assert!(
        env.vault
            .check_passphrase(&desk, upn, &pw("blue harbour"))
            .await
            .unwrap()
    );
    let entries = env.vault.audit_list(&Default::default()).await.unwrap();
    let results: Vec<String> = entries
        .iter()
        .filter(|e| e.action == "verify-passphrase")
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            d["result"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        results,
        [
            "passed", "failed", "failed", "failed", "failed", "failed", "refused", "passed"
        ]
    );
    for e in &entries {
        assert!(!e.detail.to_lowercase().contains("harbour"), "{}", e.detail);
    }
    let stored = env
        .count("SELECT COUNT(*) FROM records WHERE passphrase_hash LIKE '$argon2id$%'")
        .await;
    assert_eq!(stored, 1);
}

async fn self_approval_is_refused(mut env: Env) {
    cheap(&mut env);
    let upn = "sam@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let ann = auth("ann", Role::Helpdesk, Permission::Reveal);
    let id = env
        .vault
        .request_approval(&ann, upn, "INC-9", "user abroad, quota used")
        .await
        .unwrap();
    let pending = env.vault.pending_approvals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].requested_by.as_str(), pending[0].upn.as_str()),
        ("ann", upn)
    );
    let ann_approves = auth("ann", Role::Helpdesk, Permission::ApproveReveal);
    let err = env.vault.approve(&ann_approves, &id).await.unwrap_err();
    assert!(
        matches!(err, VaultError::Reveal(RevealError::ApprovalInvalid { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("own request"), "{err}");
    // A provisioner may not approve at all.
    assert!(matches!(
        tokendesk_vault::Policy::authorize(
            &tokendesk_vault::Principal {
                actor: tokendesk_vault::Actor::new("p"),
                role: Role::Provisioner
            },
            Permission::ApproveReveal
        ),
        Err(tokendesk_vault::Forbidden { .. })
    ));
    let bob = auth("bob", Role::Helpdesk, Permission::ApproveReveal);
    let approved = env.vault.approve(&bob, &id).await.unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("bob"));
    assert!(env.vault.pending_approvals().await.unwrap().is_empty());
    assert!(matches!(
        env.vault.approve(&bob, &id).await,
        Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
    ));
    assert!(matches!(
        env.vault.approve(&bob, &ApprovalId("nope".into())).await,
        Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
    ));
    // Unapproved requests expire after an hour.
    let id2 = env
        .vault
        .request_approval(&ann, upn, "INC-10", "again")
        .await
        .unwrap();
    env.clock.advance(3600);
    assert!(env.vault.pending_approvals().await.unwrap().is_empty());
    assert!(matches!(
        env.vault.approve(&bob, &id2).await,
        Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
    ));
    let actions: Vec<String> = env
        .vault
        .audit_list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in ["approval.request", "approval.refused", "approval.grant"] {
        assert!(actions.iter().any(|x| x == a), "{a} missing in {actions:?}");
    }
}

async fn reveal_over_quota_needs_an_approval_used_once(mut env: Env) {
    cheap(&mut env);
    env.vault.set_settings(Settings {
        daily_reveal_quota: 1,
        ..Settings::default()
    });
    let upn = "una@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    env.vault
        .capture(&actor(), new_record("other@contoso.com"), &seed())
        .await
        .unwrap();
    reveal_code(&env, &env.vault, upn).await.unwrap();
    assert!(matches!(
        reveal_code(&env, &env.vault, upn).await,
        Err(VaultError::Reveal(RevealError::QuotaExceeded { .. }))
    ));
    // "tester" (the revealing actor in db.rs) asks; bob approves.
    let tester = auth("tester", Role::Helpdesk, Permission::Reveal);
    let id = env
        .vault
        .request_approval(&tester, upn, "INC-1", "token delayed")
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.approval = Some(id.clone());
    // Not approved yet.
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(
        matches!(err, VaultError::Reveal(RevealError::ApprovalInvalid { reason, .. }) if reason == ApprovalRefusal::NotApproved),
        "{err}"
    );
    env.vault
        .approve(&auth("bob", Role::Helpdesk, Permission::ApproveReveal), &id)
        .await
        .unwrap();
    // The approver cannot use it himself, nor for another user.
    let mut other = reveal_request(&env, "other@contoso.com");
    reveal_code(&env, &env.vault, "other@contoso.com")
        .await
        .unwrap();
    other.approval = Some(id.clone());
    assert!(matches!(
        env.vault.reveal(&actor(), &other).await,
        Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
    ));
    assert!(matches!(
        env.vault
            .reveal(
                &crate::staff::auth("bob", Role::Helpdesk, Permission::Reveal),
                &request
            )
            .await,
        Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
    ));
    // Used once, in the reveal's transaction.
    let (_, codes) = env.vault.reveal(&actor(), &request).await.unwrap();
    assert_eq!(codes.len(), 1);
    let used = env.vault.approval(&id).await.unwrap();
    assert!(used.used_unix_secs.is_some());
    let err = env.vault.reveal(&actor(), &request).await.unwrap_err();
    assert!(
        matches!(err, VaultError::Reveal(RevealError::ApprovalInvalid { reason, .. }) if reason == ApprovalRefusal::Used),
        "{err}"
    );
    // Expired approvals are refused.
    let id2 = env
        .vault
        .request_approval(&tester, upn, "INC-2", "again")
        .await
        .unwrap();
    env.vault
        .approve(
            &auth("bob", Role::Helpdesk, Permission::ApproveReveal),
            &id2,
        )
        .await
        .unwrap();
    env.clock.advance(3600);
    let mut late = reveal_request(&env, upn);
    late.approval = Some(id2);
    if env.vault.reveal(&actor(), &late).await.is_ok() {
        panic!("an expired approval was accepted");
    }
    let entries = env.vault.audit_list(&Default::default()).await.unwrap();
    let approved_reveals = entries
        .iter()
        .filter(|e| e.action == "reveal" && e.detail.contains(&id.0))
        .count();
    assert_eq!(approved_reveals, 1);
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn concurrent_reveals_consume_an_approval_once(mut env: Env) {
    cheap(&mut env);
    env.vault.set_settings(Settings {
        daily_reveal_quota: 0,
        ..Settings::default()
    });
    let upn = "vic@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let id = env
        .vault
        .request_approval(
            &auth("tester", Role::Helpdesk, Permission::Reveal),
            upn,
            "INC-3",
            "quota 0",
        )
        .await
        .unwrap();
    env.vault
        .approve(&auth("bob", Role::Helpdesk, Permission::ApproveReveal), &id)
        .await
        .unwrap();
    let mut request = reveal_request(&env, upn);
    request.approval = Some(id);
    let tester = actor();
    let (a, b, c) = tokio::join!(
        env.vault.reveal(&tester, &request),
        env.vault.reveal(&tester, &request),
        env.vault.reveal(&tester, &request),
    );
    let ok = [a.is_ok(), b.is_ok(), c.is_ok()]
        .iter()
        .filter(|x| **x)
        .count();
    assert_eq!(ok, 1);
    for r in [a, b, c] {
        if let Err(e) = r {
            assert!(
                matches!(e, VaultError::Reveal(RevealError::ApprovalInvalid { .. })),
                "{e}"
            );
        }
    }
}
