//! No account enumeration through the lockout: a name that is no account (unknown, or not even
//! a valid user name) fails, locks and backs off exactly like an account, and its counter lives
//! in the database under a MAC of the name.

use sqlx::Row;
use tokendesk_vault::StaffError;
use tokendesk_vault::{FAILURE_WINDOW_SECS, Role, SecretString, Session, Vault, VaultError};

use crate::db::Env;
use crate::staff::{PASSWORD, cheap, enrolled, pw};

both_backends!(
    unknown_names_lock_like_real_ones,
    name_counters_are_shared_by_instances_and_pruned,
);

/// What a caller can see of one sign-in: the error's kind, data and message.
fn seen(r: tokendesk_vault::Result<(SecretString, Session)>) -> String {
    match r {
        Ok((_, s)) => format!("signed in at stage {}", s.stage),
        Err(e) => format!("{e:?} / {e}"),
    }
}

/// One attempt on the account `real` and one on the name `ghost`; both must look the same.
async fn same(v: &Vault, real: (&str, &str), ghost: (&str, &str)) -> String {
    let a = seen(
        v.staff()
            .login(real.0, &pw(real.1), Some("192.0.2.1"))
            .await,
    );
    let b = seen(
        v.staff()
            .login(ghost.0, &pw(ghost.1), Some("192.0.2.1"))
            .await,
    );
    assert_eq!(a, b, "{real:?} and {ghost:?} answered differently");
    a
}

fn locked(secs: i64) -> String {
    let e = VaultError::Staff(StaffError::LockedOut {
        retry_after_secs: secs,
    });
    format!("{e:?} / {e}")
}

fn failed() -> String {
    let e = VaultError::Staff(StaffError::LoginFailed);
    format!("{e:?} / {e}")
}

async fn unknown_names_lock_like_real_ones(mut env: Env) {
    cheap(&mut env);
    enrolled(&env, "ann", Role::Helpdesk).await;
    let v = &env.vault;
    let wrong = "wrong password!!";
    // Spellings of one name share a counter, as an account's do.
    let ghosts = ["ghost", "GHOST", " Ghost "];
    for i in 0..4 {
        let real = if i % 2 == 0 { "ann" } else { "ANN" };
        assert_eq!(
            same(v, (real, wrong), (ghosts[i % 3], wrong)).await,
            failed()
        );
    }
    assert_eq!(same(v, ("ann", wrong), ("ghost", wrong)).await, locked(30));
    // Locked: even the account's right password gets the time left, like any password for
    // the name.
    env.clock.advance(10);
    assert_eq!(
        same(v, ("ann", PASSWORD), ("ghost", PASSWORD)).await,
        locked(20)
    );
    env.clock.advance(20);
    assert_eq!(same(v, ("ann", wrong), ("ghost", wrong)).await, locked(60));
    env.clock.advance(60);
    assert_eq!(same(v, ("ann", wrong), ("ghost", wrong)).await, locked(120));
    for _ in 0..8 {
        env.clock.advance(3600);
        same(v, ("ann", wrong), ("ghost", wrong)).await;
    }
    assert_eq!(
        same(v, ("ann", wrong), ("GHOST", wrong)).await,
        locked(3600)
    );
    // A day without failures: both counts start again.
    env.clock.advance(FAILURE_WINDOW_SECS + 1);
    assert_eq!(same(v, ("ann", wrong), ("ghost", wrong)).await, failed());
    assert_eq!(v.staff().get("ann").await.unwrap().failed_logins, 1);

    // A name that is not even a valid user name, and a disabled account, lock the same way.
    enrolled(&env, "carl", Role::Provisioner).await;
    v.staff()
        .disable(
            &crate::staff::admin(tokendesk_vault::Permission::ManageStaff),
            "carl",
        )
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(
            same(v, ("carl", PASSWORD), ("no such name!", wrong)).await,
            failed()
        );
    }
    assert_eq!(
        same(v, ("carl", wrong), ("no such name!", wrong)).await,
        locked(30)
    );

    // The table holds MACs, never the names; the audit trail names no unknown name either.
    let rows = sqlx::query("SELECT name_mac FROM login_throttle")
        .fetch_all(&env.raw)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one row per name (ghost, no such name!)");
    for row in &rows {
        let mac: Vec<u8> = row.get(0);
        assert_eq!(mac.len(), 32);
        for name in [&b"ghost"[..], b"GHOST", b"no such name!"] {
            assert!(!mac.windows(name.len()).any(|w| w == name));
        }
    }
    let audit = v.audit_list(&Default::default()).await.unwrap();
    for e in &audit {
        let text = format!("{} {} {:?} {}", e.actor, e.action, e.subject, e.detail).to_lowercase();
        assert!(
            !text.contains("ghost") && !text.contains("no such"),
            "{text}"
        );
    }
    let unknown_locks = audit
        .iter()
        .filter(|e| e.action == "locked-out" && e.actor == "anonymous")
        .count();
    assert!(unknown_locks >= 1, "refusals of a locked name are audited");
    assert_eq!(v.audit_verify().await.unwrap().problem, None);
}

async fn name_counters_are_shared_by_instances_and_pruned(mut env: Env) {
    cheap(&mut env);
    let mut other = env
        .reopen(tokendesk_vault::KeySpec::Key(env.key()))
        .await
        .unwrap();
    other.set_staff_settings(env.vault.staff_settings());
    let wrong = pw("wrong password!!");
    // Failures on two instances add up to one lockout.
    for v in [&env.vault, &other, &env.vault, &other] {
        assert!(matches!(
            v.staff().login("ghost", &wrong, None).await,
            Err(VaultError::Staff(StaffError::LoginFailed))
        ));
    }
    assert!(matches!(
        other.staff().login("ghost", &wrong, None).await,
        Err(VaultError::Staff(StaffError::LockedOut {
            retry_after_secs: 30
        }))
    ));
    assert!(matches!(
        env.vault.staff().login("ghost", &wrong, None).await,
        Err(VaultError::Staff(StaffError::LockedOut {
            retry_after_secs: 30
        }))
    ));
    let rows = || env.count("SELECT COUNT(*) FROM login_throttle");
    assert_eq!(rows().await, 1);
    // Rows that no longer change any answer go: on the next failure of any name...
    env.clock.advance(FAILURE_WINDOW_SECS + 1);
    assert!(other.staff().login("another", &wrong, None).await.is_err());
    assert_eq!(rows().await, 1, "the old row was pruned, the new one kept");
    // ...and in the housekeeping sweep.
    env.clock.advance(FAILURE_WINDOW_SECS + 1);
    env.vault.staff().sweep_sessions().await.unwrap();
    assert_eq!(rows().await, 0);
    // A pruned name starts again from one failure.
    for _ in 0..4 {
        assert!(matches!(
            env.vault.staff().login("ghost", &wrong, None).await,
            Err(VaultError::Staff(StaffError::LoginFailed))
        ));
    }
    // A lock lasting longer than the window is never pruned while it runs.
    let mut long = env.vault.staff_settings();
    long.lockout_base_secs = 3 * FAILURE_WINDOW_SECS;
    long.lockout_max_secs = 3 * FAILURE_WINDOW_SECS;
    env.vault.set_staff_settings(long);
    assert!(matches!(
        env.vault.staff().login("ghost", &wrong, None).await,
        Err(VaultError::Staff(StaffError::LockedOut { .. }))
    ));
    env.clock.advance(2 * FAILURE_WINDOW_SECS);
    assert_eq!(env.vault.staff().prune_login_throttle().await.unwrap(), 0);
    assert!(matches!(
        env.vault.staff().login("ghost", &wrong, None).await,
        Err(VaultError::Staff(StaffError::LockedOut { .. }))
    ));
}
