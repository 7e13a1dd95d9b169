//! Races the rules must win (issue 18): many reveals for one user at once never exceed the daily
//! quota, within one instance and across two instances on one database (two pools: what two
//! `serve` processes are), and two people approving one four-eyes request make one approval.

use futures_util::future::join_all;
use tokendesk_vault::{KeySpec, Permission, RevealError, Role, Settings, Vault, VaultError};

use crate::db::{Env, actor, new_record, reveal_request, seed};
use crate::staff::auth;

both_backends!(
    concurrent_reveals_for_one_user_stop_at_the_quota,
    two_instances_share_one_quota,
    two_approvers_at_once_make_one_approval,
);

const QUOTA: i64 = 5;

fn quota_settings() -> Settings {
    Settings {
        daily_reveal_quota: QUOTA,
        ..Settings::default()
    }
}

/// Answers of `reveals` concurrent reveals of one user spread over `vaults`: (granted, refused
/// for the quota). Any other answer fails the test.
async fn race(env: &Env, vaults: &[&Vault], upn: &str, reveals: usize) -> (usize, usize) {
    let operator = actor();
    let request = reveal_request(env, upn);
    let answers =
        join_all((0..reveals).map(|i| vaults[i % vaults.len()].reveal(&operator, &request))).await;
    let (mut granted, mut refused) = (0, 0);
    for answer in answers {
        match answer {
            Ok(_) => granted += 1,
            Err(VaultError::Reveal(RevealError::QuotaExceeded { quota, .. })) => {
                assert_eq!(quota, QUOTA);
                refused += 1;
            }
            Err(other) => panic!("unexpected answer to a racing reveal: {other}"),
        }
    }
    (granted, refused)
}

async fn concurrent_reveals_for_one_user_stop_at_the_quota(mut env: Env) {
    env.vault.set_settings(quota_settings());
    let upn = "race@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let (granted, refused) = race(&env, &[&env.vault], upn, 40).await;
    assert_eq!((granted, refused), (QUOTA as usize, 40 - QUOTA as usize));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'")
            .await,
        QUOTA
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal.refused'")
            .await,
        40 - QUOTA
    );
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn two_instances_share_one_quota(mut env: Env) {
    env.vault.set_settings(quota_settings());
    let mut second = env.reopen(KeySpec::Key(env.key())).await.unwrap();
    second.set_settings(quota_settings());
    let upn = "two@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let (granted, refused) = race(&env, &[&env.vault, &second], upn, 30).await;
    assert_eq!((granted, refused), (QUOTA as usize, 30 - QUOTA as usize));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'reveal'")
            .await,
        QUOTA
    );
    // Both instances wrote one chain.
    assert_eq!(second.audit_verify().await.unwrap().problem, None);
}

async fn two_approvers_at_once_make_one_approval(env: Env) {
    let second = env.reopen(KeySpec::Key(env.key())).await.unwrap();
    let upn = "four@contoso.com";
    env.vault
        .capture(&actor(), new_record(upn), &seed())
        .await
        .unwrap();
    let ann = auth("ann", Role::Helpdesk, Permission::Reveal);
    for round in 0..5 {
        let id = env
            .vault
            .request_approval(&ann, upn, &format!("INC-{round}"), "quota used, token late")
            .await
            .unwrap();
        let bob = auth("bob", Role::Helpdesk, Permission::ApproveReveal);
        let carol = auth("carol", Role::Helpdesk, Permission::ApproveReveal);
        let (a, b) = tokio::join!(env.vault.approve(&bob, &id), second.approve(&carol, &id));
        let approved: Vec<_> = [&a, &b].into_iter().filter(|r| r.is_ok()).collect();
        assert_eq!(approved.len(), 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { &b } else { &a };
        assert!(
            matches!(
                loser,
                Err(VaultError::Reveal(RevealError::ApprovalInvalid { .. }))
            ),
            "round {round}: {loser:?}"
        );
        let stored = env.vault.approval(&id).await.unwrap();
        let winner = approved[0].as_ref().unwrap().approved_by.clone();
        assert_eq!(stored.approved_by, winner);
    }
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'approval.grant'")
            .await,
        5
    );
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}
