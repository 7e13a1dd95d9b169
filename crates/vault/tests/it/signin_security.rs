//! Regression tests for the sign-in findings of the security review (issue 13): parallel
//! attempts cannot outrun the lockout, and failures for names that are no account cannot flood
//! the audit trail.

use futures_util::future::join_all;
use tokendesk_vault::StaffError;
use tokendesk_vault::{Role, VaultError};

use crate::db::Env;
use crate::staff::{PASSWORD, cheap, enrolled, pw};

both_backends!(
    lockout_cannot_be_outrun_by_parallel_attempts,
    unknown_name_lockout_cannot_be_outrun_either,
    unknown_name_failures_are_audited_once_per_lockout_window,
    locked_refusals_are_audited_once_and_counted,
);

/// 50 concurrent wrong passwords on one account: at most the limit (5) are ever checked,
/// and afterwards the right password is refused as locked. Before the fix every attempt read
/// "not locked" before any failure was counted, so all 50 were checked.
async fn lockout_cannot_be_outrun_by_parallel_attempts(mut env: Env) {
    cheap(&mut env);
    enrolled(&env, "ola", Role::Helpdesk).await;
    let v = &env.vault;
    let limit = v.staff_settings().max_failed_logins;
    let wrong = pw("wrong password!!");
    let before = v.staff().secret_checks();
    let results = join_all((0..50).map(|_| v.staff().login("ola", &wrong, None))).await;
    let checked = v.staff().secret_checks() - before;
    assert!(
        checked <= u64::try_from(limit).unwrap(),
        "{checked} passwords were checked; the limit is {limit}"
    );
    assert_eq!(checked, 5, "the limit's worth of guesses is still checked");
    let locked = results
        .iter()
        .filter(|r| matches!(r, Err(VaultError::Staff(StaffError::LockedOut { .. }))))
        .count();
    let failed = results
        .iter()
        .filter(|r| matches!(r, Err(VaultError::Staff(StaffError::LoginFailed))))
        .count();
    assert_eq!((failed, locked), (4, 46), "4 plain failures, then locked");
    assert!(matches!(
        v.staff().login("ola", &pw(PASSWORD), None).await,
        Err(VaultError::Staff(StaffError::LockedOut { .. }))
    ));
    assert_eq!(
        v.staff().secret_checks() - before,
        5,
        "a locked account costs no check"
    );
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

/// The same for a name that is no account (its counter lives in `login_throttle`).
async fn unknown_name_lockout_cannot_be_outrun_either(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    let wrong = pw("wrong password!!");
    let before = v.staff().secret_checks();
    let results = join_all((0..50).map(|_| v.staff().login("nobody-here", &wrong, None))).await;
    assert_eq!(v.staff().secret_checks() - before, 5);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(VaultError::Staff(StaffError::LockedOut { .. }))))
            .count(),
        46
    );
}

/// 20 failures on one unknown name write one entry when its count starts, one when the lock
/// starts (with the count), and one for the lock's first refusal: three, not twenty.
async fn unknown_name_failures_are_audited_once_per_lockout_window(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    let audit_rows = || env.count("SELECT COUNT(*) FROM audit");
    let before = audit_rows().await;
    for _ in 0..20 {
        let _ = v
            .staff()
            .login("ghost", &pw("wrong password!!"), None)
            .await;
    }
    assert_eq!(audit_rows().await - before, 3);
    let entries = v.audit_list(&Default::default()).await.unwrap();
    let lock = entries
        .iter()
        .find(|e| e.action == "login-failed" && e.detail.contains("\"locked_for_secs\":30"))
        .expect("the lock is audited");
    assert!(lock.detail.contains("\"failures\":5"), "{}", lock.detail);
    // After the lock, the next failure starts a new lock and reports the refusals in between.
    env.clock.advance(31);
    let _ = v
        .staff()
        .login("ghost", &pw("wrong password!!"), None)
        .await;
    let entries = v.audit_list(&Default::default()).await.unwrap();
    let relock = entries
        .iter()
        .find(|e| e.action == "login-failed" && e.detail.contains("\"locked_for_secs\":60"))
        .expect("the second lock is audited");
    assert!(
        relock.detail.contains("\"refused_while_locked\":15"),
        "{}",
        relock.detail
    );
    assert_eq!(v.audit_verify().await.unwrap().problem, None);
}

/// A locked account's refusals: the first is audited, the rest counted and reported with the
/// next attempt that is audited (here, the successful sign-in after the lock).
async fn locked_refusals_are_audited_once_and_counted(mut env: Env) {
    cheap(&mut env);
    enrolled(&env, "kim", Role::Helpdesk).await;
    let v = &env.vault;
    for _ in 0..5 {
        let _ = v.staff().login("kim", &pw("wrong password!!"), None).await;
    }
    let audit_rows = || env.count("SELECT COUNT(*) FROM audit");
    let before = audit_rows().await;
    for _ in 0..30 {
        assert!(matches!(
            v.staff().login("kim", &pw("wrong password!!"), None).await,
            Err(VaultError::Staff(StaffError::LockedOut { .. }))
        ));
    }
    assert_eq!(audit_rows().await - before, 1, "one locked-out entry");
    env.clock.advance(31);
    v.staff().login("kim", &pw(PASSWORD), None).await.unwrap();
    let entries = v.audit_list(&Default::default()).await.unwrap();
    let login = entries.iter().rev().find(|e| e.action == "login").unwrap();
    let last = entries.iter().max_by_key(|e| e.seq).unwrap();
    assert_eq!(last.seq, login.seq);
    assert!(
        login.detail.contains("\"refused_while_locked\":30"),
        "{}",
        login.detail
    );
}
