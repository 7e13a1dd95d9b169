//! Staff accounts, sign-in, sessions, lockout, TOTP second factor and API keys.

use sqlx::Row;
use tokendesk_otp::Secret;
use tokendesk_vault::{
    Actor, Authorized, Clock, KeySpec, MasterKey, Passphrase, PasswordParams, Permission, Policy,
    Principal, Role, SessionStage, StaffSettings, VaultError,
};
use tokendesk_vault::{StaffError, StoreError};
use zeroize::Zeroizing;

use crate::db::Env;

both_backends!(
    setup_token_is_one_time_and_expires,
    lockout_backs_off_and_success_resets,
    unknown_disabled_and_wrong_password_look_the_same,
    sessions_expire_idle_and_absolute,
    first_login_walks_every_stage,
    totp_replay_is_refused,
    totp_failures_count_toward_lockout,
    last_admin_is_protected,
    reset_ends_sessions_and_enrolment,
    password_change_ends_other_sessions,
    revoked_api_key_stops_working,
    proof_for_another_permission_is_refused,
    no_secret_in_debug_errors_or_audit,
    totp_seed_sealed_at_rest_and_survives_rotation,
    concurrent_failures_are_all_counted,
    totp_step_replaces_the_session_token,
);

pub fn pw(text: &str) -> Passphrase {
    Passphrase::new(Zeroizing::new(text.to_owned()))
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Cheap Argon2 for tests (the production costs are pinned in the crypto crate's unit tests).
pub fn cheap(env: &mut Env) {
    env.vault.set_staff_settings(StaffSettings {
        password_params: PasswordParams::INSECURE_TEST_ONLY,
        ..StaffSettings::default()
    });
}

pub fn auth(name: &str, role: Role, p: Permission) -> Authorized {
    Policy::authorize(
        &Principal {
            actor: Actor::new(name),
            role,
        },
        p,
    )
    .unwrap()
}

pub fn admin(p: Permission) -> Authorized {
    auth("root", Role::Admin, p)
}

pub fn code_at(seed: &Secret, t: i64) -> String {
    tokendesk_otp::Totp::new(seed, Default::default())
        .at(t as u64)
        .unwrap()
        .code
        .expose()
        .to_owned()
}

/// Adds `name`, signs in with the one-time password, sets PASSWORD, enrols TOTP. Returns the
/// full session's token and the TOTP seed.
pub async fn enrolled(env: &Env, name: &str, role: Role) -> (String, Secret) {
    let (_, otp) = env
        .vault
        .staff()
        .add(&admin(Permission::ManageStaff), name, "Test Person", role)
        .await
        .unwrap();
    let (token, s) = env
        .vault
        .staff()
        .login(name, &pw(otp.expose()), None)
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::PasswordChange);
    let token = token.expose().to_owned();
    let s = env
        .vault
        .staff()
        .change_password(&token, &pw(otp.expose()), &pw(PASSWORD))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::TotpEnrol);
    let seed = env
        .vault
        .staff()
        .begin_totp_enrolment(&token)
        .await
        .unwrap()
        .0;
    let (full, s) = env
        .vault
        .staff()
        .finish_totp_enrolment(&token, &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Full);
    (full.expose().to_owned(), seed)
}

async fn audit_actions(env: &Env) -> Vec<String> {
    env.vault
        .audit_list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn setup_token_is_one_time_and_expires(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    assert_eq!(v.staff().count().await.unwrap(), 0);
    let first = v.staff().create_setup_token(900).await.unwrap();
    let second = v.staff().create_setup_token(900).await.unwrap();
    assert!(second.expose().starts_with("tdsetup_"));
    // A newer link voids the older one.
    let err = v
        .staff()
        .complete_setup(first.expose(), "boss", "The Boss", &pw(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Staff(StaffError::SetupTokenInvalid)),
        "{err}"
    );
    // Expired.
    env.clock.advance(901);
    let err = v
        .staff()
        .complete_setup(second.expose(), "boss", "The Boss", &pw(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Staff(StaffError::SetupTokenInvalid)),
        "{err}"
    );
    assert!(err.to_string().contains("setup link"), "{err}");
    // Bad input is refused before the token is spent.
    let third = v.staff().create_setup_token(900).await.unwrap();
    let err = v
        .staff()
        .complete_setup(third.expose(), "boss", "The Boss", &pw("short"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("12 characters"), "{err}");
    let boss = v
        .staff()
        .complete_setup(third.expose(), "Boss", "The Boss", &pw(PASSWORD))
        .await
        .unwrap();
    assert_eq!((boss.username.as_str(), boss.role), ("boss", Role::Admin));
    assert!(!boss.must_change_password && !boss.totp_enrolled);
    // Used, and no further links once staff exist.
    let err = v
        .staff()
        .complete_setup(third.expose(), "boss2", "Other", &pw(PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Staff(StaffError::SetupTokenInvalid)),
        "{err}"
    );
    assert!(matches!(
        v.staff().create_setup_token(900).await,
        Err(VaultError::Invalid(_))
    ));
    assert_eq!(v.staff().count().await.unwrap(), 1);
    // The first admin signs in and must enrol a second factor.
    let (_, s) = v.staff().login("boss", &pw(PASSWORD), None).await.unwrap();
    assert_eq!(s.stage, SessionStage::TotpEnrol);
    let actions = audit_actions(&env).await;
    assert!(
        actions.contains(&"setup.complete".to_owned()),
        "{actions:?}"
    );
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn lockout_backs_off_and_success_resets(mut env: Env) {
    cheap(&mut env);
    let (_, seed) = enrolled(&env, "ann", Role::Helpdesk).await;
    let v = &env.vault;
    let wrong = || pw("wrong password!!");
    for _ in 0..4 {
        let err = v.staff().login("ann", &wrong(), None).await.unwrap_err();
        assert!(
            matches!(err, VaultError::Staff(StaffError::LoginFailed)),
            "{err}"
        );
    }
    assert_eq!(v.staff().get("ann").await.unwrap().failed_logins, 4);
    // The right password alone does not clear the count while the TOTP step is due...
    let (t, s) = v.staff().login("ann", &pw(PASSWORD), None).await.unwrap();
    assert_eq!(s.stage, SessionStage::Totp);
    assert_eq!(v.staff().get("ann").await.unwrap().failed_logins, 4);
    // ...completing sign-in does.
    env.clock.advance(30);
    let (_, s) = v
        .staff()
        .verify_totp(t.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Full);
    assert_eq!(v.staff().get("ann").await.unwrap().failed_logins, 0);
    // Five consecutive failures lock for 30 s.
    for _ in 0..4 {
        assert!(matches!(
            v.staff().login("ann", &wrong(), None).await,
            Err(VaultError::Staff(StaffError::LoginFailed))
        ));
    }
    let err = v.staff().login("ann", &wrong(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: 30
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("30 s"), "{err}");
    // While locked even the right password is refused, with the time left.
    env.clock.advance(10);
    let err = v
        .staff()
        .login("ann", &pw(PASSWORD), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: 20
            })
        ),
        "{err}"
    );
    // After the lock, each further failure doubles it: 60 s, 120 s, … capped at one hour.
    env.clock.advance(20);
    let err = v.staff().login("ann", &wrong(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: 60
            })
        ),
        "{err}"
    );
    env.clock.advance(60);
    let err = v.staff().login("ann", &wrong(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: 120
            })
        ),
        "{err}"
    );
    for _ in 0..8 {
        env.clock.advance(3600);
        assert!(matches!(
            v.staff().login("ann", &wrong(), None).await,
            Err(VaultError::Staff(StaffError::LockedOut { .. }))
        ));
    }
    let ann = v.staff().get("ann").await.unwrap();
    assert_eq!(
        ann.locked_until_unix_secs.unwrap() - env.clock.now().0,
        3600
    );
    // Once the lock runs out, a full sign-in succeeds and clears everything.
    env.clock.advance(3600);
    let (t, _) = v.staff().login("ann", &pw(PASSWORD), None).await.unwrap();
    v.staff()
        .verify_totp(t.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    let ann = v.staff().get("ann").await.unwrap();
    assert_eq!((ann.failed_logins, ann.locked_until_unix_secs), (0, None));
    let actions = audit_actions(&env).await;
    assert!(
        actions.iter().filter(|a| *a == "login-failed").count() >= 15,
        "{actions:?}"
    );
    assert!(actions.contains(&"locked-out".to_owned()), "{actions:?}");
    assert_eq!(env.vault.audit_verify().await.unwrap().problem, None);
}

async fn unknown_disabled_and_wrong_password_look_the_same(mut env: Env) {
    cheap(&mut env);
    enrolled(&env, "root2", Role::Admin).await;
    enrolled(&env, "bob", Role::Provisioner).await;
    enrolled(&env, "carl", Role::Provisioner).await;
    env.vault
        .staff()
        .disable(&admin(Permission::ManageStaff), "carl")
        .await
        .unwrap();
    let v = &env.vault;
    let unknown = v
        .staff()
        .login("nobody", &pw(PASSWORD), None)
        .await
        .unwrap_err();
    let wrong = v
        .staff()
        .login("bob", &pw("not the password"), None)
        .await
        .unwrap_err();
    let disabled = v
        .staff()
        .login("carl", &pw(PASSWORD), None)
        .await
        .unwrap_err();
    let invalid_name = v
        .staff()
        .login("no such name!", &pw(PASSWORD), None)
        .await
        .unwrap_err();
    for err in [&unknown, &wrong, &disabled, &invalid_name] {
        assert!(
            matches!(err, VaultError::Staff(StaffError::LoginFailed)),
            "{err}"
        );
        assert_eq!(err.to_string(), unknown.to_string());
    }
}

async fn sessions_expire_idle_and_absolute(mut env: Env) {
    cheap(&mut env);
    let (token, _) = enrolled(&env, "dora", Role::Helpdesk).await;
    let v = &env.vault;
    let seen = |s: &tokendesk_vault::Session| s.last_seen_unix_secs;
    let start = seen(&v.staff().session(&token).await.unwrap().unwrap());
    // last_seen is written at most once a minute.
    env.clock.advance(59);
    assert_eq!(
        seen(&v.staff().session(&token).await.unwrap().unwrap()),
        start
    );
    env.clock.advance(1);
    assert_eq!(
        seen(&v.staff().session(&token).await.unwrap().unwrap()),
        start + 60
    );
    // Kept alive by use every 29 minutes, it still ends after 12 h.
    let mut alive = 60;
    while alive + 29 * 60 < 12 * 3600 {
        env.clock.advance(29 * 60);
        alive += 29 * 60;
        assert!(
            v.staff().session(&token).await.unwrap().is_some(),
            "after {alive} s"
        );
    }
    env.clock.advance(12 * 3600 - alive);
    assert!(v.staff().session(&token).await.unwrap().is_none());
    assert_eq!(env.count("SELECT COUNT(*) FROM sessions").await, 0);
    // Idle for 30 minutes ends a session.
    let (t2, _) = v.staff().login("dora", &pw(PASSWORD), None).await.unwrap();
    env.clock.advance(29 * 60 + 59);
    assert!(v.staff().session(t2.expose()).await.unwrap().is_some());
    env.clock.advance(30 * 60);
    assert!(v.staff().session(t2.expose()).await.unwrap().is_none());
    // The sweep removes idle sessions nobody asks about again.
    let (_t3, _) = v.staff().login("dora", &pw(PASSWORD), None).await.unwrap();
    assert_eq!(v.staff().sweep_sessions().await.unwrap(), 0);
    env.clock.advance(30 * 60);
    assert_eq!(v.staff().sweep_sessions().await.unwrap(), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM sessions").await, 0);
    // Garbage and other prefixes are simply unknown.
    for bad in ["", "tds_", "tdk_abc", "x".repeat(500).as_str()] {
        assert!(v.staff().session(bad).await.unwrap().is_none());
    }
}

async fn first_login_walks_every_stage(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    let (staff, otp) = v
        .staff()
        .add(
            &admin(Permission::ManageStaff),
            "Eve",
            "Eve Operator",
            Role::Helpdesk,
        )
        .await
        .unwrap();
    assert_eq!(staff.username, "eve");
    assert!(staff.must_change_password && !staff.totp_enrolled);
    let (token, s) = v
        .staff()
        .login("EVE", &pw(otp.expose()), Some("192.0.2.7"))
        .await
        .unwrap();
    assert!(token.expose().starts_with("tds_"));
    assert_eq!(s.source_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(s.stage, SessionStage::PasswordChange);
    assert!(
        s.principal().is_none(),
        "no principal before the sign-in is complete"
    );
    let t = token.expose();
    // Out-of-order steps are refused.
    assert!(matches!(
        v.staff().begin_totp_enrolment(t).await,
        Err(VaultError::Staff(StaffError::WrongStage {
            stage: "password-change"
        }))
    ));
    assert!(matches!(
        v.staff().verify_totp(t, "123456").await,
        Err(VaultError::Staff(StaffError::WrongStage { .. }))
    ));
    // Password rules.
    for (new, why) in [
        ("short", "12 characters"),
        ("eve", "12 characters"),
        ("EVE         ", "user name"),
    ] {
        let err = v
            .staff()
            .change_password(t, &pw(otp.expose()), &pw(new))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(why), "{new}: {err}");
    }
    let err = v
        .staff()
        .change_password(t, &pw(otp.expose()), &pw(otp.expose()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("differ"), "{err}");
    let s = v
        .staff()
        .change_password(t, &pw(otp.expose()), &pw(PASSWORD))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::TotpEnrol);
    // The one-time password no longer works.
    assert!(matches!(
        v.staff().login("eve", &pw(otp.expose()), None).await,
        Err(VaultError::Staff(StaffError::LoginFailed))
    ));
    let (seed, fresh) = v.staff().begin_totp_enrolment(t).await.unwrap();
    assert_eq!(seed.len(), 20);
    assert!(fresh);
    let now = env.clock.now().0;
    assert!(matches!(
        v.staff()
            .finish_totp_enrolment(t, &code_at(&seed, now - 60))
            .await,
        Err(VaultError::Staff(StaffError::WrongCode))
    ));
    // Issue 21: a reload or a mistyped code shows the same pending key again, so the app that
    // already holds it still works.
    let (again, fresh) = v.staff().begin_totp_enrolment(t).await.unwrap();
    assert!(!fresh);
    assert_eq!(code_at(&again, now), code_at(&seed, now));
    let (full, s) = v
        .staff()
        .finish_totp_enrolment(t, &code_at(&seed, now))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Full);
    assert!(
        v.staff().session(t).await.unwrap().is_none(),
        "pre-TOTP token gone"
    );
    assert!(s.staff.totp_enrolled);
    let p = s.principal().unwrap();
    assert_eq!((p.actor.name.as_str(), p.role), ("eve", Role::Helpdesk));
    // Next sign-in: password then TOTP.
    let (t2, s2) = v.staff().login("eve", &pw(PASSWORD), None).await.unwrap();
    assert_eq!(s2.stage, SessionStage::Totp);
    env.clock.advance(30);
    let (t2, s2) = v
        .staff()
        .verify_totp(t2.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    assert_eq!(s2.stage, SessionStage::Full);
    // Logout ends exactly that session.
    v.staff().logout(t2.expose()).await.unwrap();
    assert!(v.staff().session(t2.expose()).await.unwrap().is_none());
    assert!(v.staff().session(full.expose()).await.unwrap().is_some());
    let actions = audit_actions(&env).await;
    for a in [
        "staff.add",
        "login",
        "password-change",
        "totp.enrol-begin",
        "totp.enrolled",
        "login.totp",
        "logout",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

async fn totp_replay_is_refused(mut env: Env) {
    cheap(&mut env);
    let (_, seed) = enrolled(&env, "fay", Role::Helpdesk).await;
    let v = &env.vault;
    // The enrolment used the current step; the same code cannot sign in again.
    let (t, _) = v.staff().login("fay", &pw(PASSWORD), None).await.unwrap();
    let now = env.clock.now().0;
    assert!(matches!(
        v.staff()
            .verify_totp(t.expose(), &code_at(&seed, now))
            .await,
        Err(VaultError::Staff(StaffError::WrongCode))
    ));
    // The next step's code (within +1) works once...
    v.staff()
        .verify_totp(t.expose(), &code_at(&seed, now + 30))
        .await
        .unwrap();
    let (t2, _) = v.staff().login("fay", &pw(PASSWORD), None).await.unwrap();
    assert!(matches!(
        v.staff()
            .verify_totp(t2.expose(), &code_at(&seed, now + 30))
            .await,
        Err(VaultError::Staff(StaffError::WrongCode))
    ));
    // ...and an older code is refused even inside the window.
    env.clock.advance(60);
    let now = env.clock.now().0;
    assert!(matches!(
        v.staff()
            .verify_totp(t2.expose(), &code_at(&seed, now - 60))
            .await,
        Err(VaultError::Staff(StaffError::WrongCode))
    ));
    v.staff()
        .verify_totp(t2.expose(), &code_at(&seed, now - 30))
        .await
        .unwrap_err();
    let (t3, _) = v.staff().login("fay", &pw(PASSWORD), None).await.unwrap();
    v.staff()
        .verify_totp(t3.expose(), &code_at(&seed, now))
        .await
        .unwrap();
}

async fn totp_failures_count_toward_lockout(mut env: Env) {
    cheap(&mut env);
    let (_, seed) = enrolled(&env, "gus", Role::Helpdesk).await;
    let v = &env.vault;
    let (t, _) = v.staff().login("gus", &pw(PASSWORD), None).await.unwrap();
    for _ in 0..4 {
        assert!(matches!(
            v.staff().verify_totp(t.expose(), "000000").await,
            Err(VaultError::Staff(StaffError::WrongCode))
        ));
    }
    // Signing in again with the right password does not reset the count.
    let (t, _) = v.staff().login("gus", &pw(PASSWORD), None).await.unwrap();
    let err = v
        .staff()
        .verify_totp(t.expose(), "000000")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Staff(StaffError::LockedOut {
                retry_after_secs: 30
            })
        ),
        "{err}"
    );
    env.clock.advance(40);
    let right = code_at(&seed, env.clock.now().0);
    let (t, _) = v.staff().login("gus", &pw(PASSWORD), None).await.unwrap();
    v.staff().verify_totp(t.expose(), &right).await.unwrap();
}

async fn last_admin_is_protected(mut env: Env) {
    cheap(&mut env);
    let ms = admin(Permission::ManageStaff);
    let v = &env.vault;
    v.staff().add(&ms, "hal", "Hal", Role::Admin).await.unwrap();
    v.staff()
        .add(&ms, "ida", "Ida", Role::Helpdesk)
        .await
        .unwrap();
    for err in [
        v.staff().disable(&ms, "hal").await.unwrap_err(),
        v.staff()
            .set_role(&ms, "hal", Role::Helpdesk)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, VaultError::Staff(StaffError::LastAdmin { .. })),
            "{err}"
        );
        assert!(
            err.to_string().contains("make another admin first"),
            "{err}"
        );
    }
    assert_eq!(v.staff().get("hal").await.unwrap().role, Role::Admin);
    v.staff().set_role(&ms, "ida", Role::Admin).await.unwrap();
    v.staff().disable(&ms, "hal").await.unwrap();
    assert!(matches!(
        v.staff().set_role(&ms, "ida", Role::Auditor).await,
        Err(VaultError::Staff(StaffError::LastAdmin { .. }))
    ));
    // A disabled admin may be demoted; enabling brings it back.
    v.staff().set_role(&ms, "hal", Role::Auditor).await.unwrap();
    v.staff().enable(&ms, "hal").await.unwrap();
    let list = v.staff().list().await.unwrap();
    let names: Vec<(&str, Role, bool)> = list
        .iter()
        .map(|s| (s.username.as_str(), s.role, s.disabled))
        .collect();
    assert_eq!(
        names,
        [("hal", Role::Auditor, false), ("ida", Role::Admin, false)]
    );
    assert!(matches!(
        v.staff().add(&ms, "IDA", "dup", Role::Auditor).await,
        Err(VaultError::Staff(StaffError::StaffExists { .. }))
    ));
    assert!(matches!(
        v.staff().get("zed").await,
        Err(VaultError::Staff(StaffError::StaffNotFound { .. }))
    ));
}

async fn reset_ends_sessions_and_enrolment(mut env: Env) {
    cheap(&mut env);
    let (t, _) = enrolled(&env, "jan", Role::Helpdesk).await;
    let v = &env.vault;
    let (t2, _) = v.staff().login("jan", &pw(PASSWORD), None).await.unwrap();
    for _ in 0..5 {
        let _ = v.staff().login("jan", &pw("wrong password!!"), None).await;
    }
    assert!(
        v.staff()
            .get("jan")
            .await
            .unwrap()
            .locked_until_unix_secs
            .is_some()
    );
    let otp = v
        .staff()
        .reset(&admin(Permission::ManageStaff), "jan")
        .await
        .unwrap();
    assert!(v.staff().session(&t).await.unwrap().is_none());
    assert!(v.staff().session(t2.expose()).await.unwrap().is_none());
    let jan = v.staff().get("jan").await.unwrap();
    assert!(jan.must_change_password && !jan.totp_enrolled);
    assert_eq!((jan.failed_logins, jan.locked_until_unix_secs), (0, None));
    assert!(matches!(
        v.staff().login("jan", &pw(PASSWORD), None).await,
        Err(VaultError::Staff(StaffError::LoginFailed))
    ));
    let (_, s) = v
        .staff()
        .login("jan", &pw(otp.expose()), None)
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::PasswordChange);
    // Disabling ends sessions as well.
    let (t3, _) = v
        .staff()
        .login("jan", &pw(otp.expose()), None)
        .await
        .unwrap();
    v.staff()
        .disable(&admin(Permission::ManageStaff), "jan")
        .await
        .unwrap();
    assert!(v.staff().session(t3.expose()).await.unwrap().is_none());
}

async fn password_change_ends_other_sessions(mut env: Env) {
    cheap(&mut env);
    let (t, seed) = enrolled(&env, "kim", Role::Helpdesk).await;
    let v = &env.vault;
    let (other, _) = v.staff().login("kim", &pw(PASSWORD), None).await.unwrap();
    let err = v
        .staff()
        .change_password(&t, &pw("not my password"), &pw("a brand new password"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Staff(StaffError::LoginFailed)),
        "{err}"
    );
    assert_eq!(v.staff().get("kim").await.unwrap().failed_logins, 1);
    let s = v
        .staff()
        .change_password(&t, &pw(PASSWORD), &pw("a brand new password"))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Full);
    assert!(v.staff().session(&t).await.unwrap().is_some());
    assert!(v.staff().session(other.expose()).await.unwrap().is_none());
    assert!(matches!(
        v.staff().login("kim", &pw(PASSWORD), None).await,
        Err(VaultError::Staff(StaffError::LoginFailed))
    ));
    let (t2, _) = v
        .staff()
        .login("kim", &pw("a brand new password"), None)
        .await
        .unwrap();
    env.clock.advance(30);
    v.staff()
        .verify_totp(t2.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
}

async fn revoked_api_key_stops_working(env: Env) {
    let v = &env.vault;
    let mk = admin(Permission::ManageApiKeys);
    let (key, token) = v
        .staff()
        .apikey_create(&mk, "nightly-export", Role::Auditor)
        .await
        .unwrap();
    assert!(token.expose().starts_with("tdk_"));
    assert_eq!(key.role, Role::Auditor);
    let found = v.staff().apikey(token.expose()).await.unwrap().unwrap();
    assert_eq!(found.name, "nightly-export");
    assert_eq!(found.last_used_unix_secs, Some(env.clock.now().0));
    let p = found.principal();
    assert_eq!(
        (p.actor.name.as_str(), p.role),
        ("apikey:nightly-export", Role::Auditor)
    );
    assert!(matches!(
        v.staff()
            .apikey_create(&mk, "nightly-export", Role::Admin)
            .await,
        Err(VaultError::Staff(StaffError::ApiKeyExists { .. }))
    ));
    assert!(v.staff().apikey("tdk_not-a-key").await.unwrap().is_none());
    assert!(
        v.staff()
            .apikey("tds_wrong-prefix")
            .await
            .unwrap()
            .is_none()
    );
    v.staff()
        .apikey_revoke(&mk, "nightly-export")
        .await
        .unwrap();
    assert!(v.staff().apikey(token.expose()).await.unwrap().is_none());
    assert!(matches!(
        v.staff().apikey_revoke(&mk, "nightly-export").await,
        Err(VaultError::Staff(StaffError::ApiKeyNotFound { .. }))
    ));
    let list = v.staff().apikey_list().await.unwrap();
    assert!(list[0].revoked_unix_secs.is_some());
    let actions = audit_actions(&env).await;
    assert!(
        actions.contains(&"apikey.create".to_owned())
            && actions.contains(&"apikey.revoke".to_owned())
    );
}

async fn proof_for_another_permission_is_refused(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    let reveal = admin(Permission::Reveal);
    let before = env.count("SELECT COUNT(*) FROM audit").await;
    assert!(matches!(
        v.staff().add(&reveal, "x", "X", Role::Admin).await,
        Err(VaultError::Forbidden {
            permission: Permission::ManageStaff,
            ..
        })
    ));
    assert!(matches!(
        v.staff().apikey_create(&reveal, "x", Role::Admin).await,
        Err(VaultError::Forbidden { .. })
    ));
    assert!(matches!(
        Policy::authorize(
            &Principal {
                actor: Actor::new("a"),
                role: Role::Auditor
            },
            Permission::ManageStaff
        ),
        Err(tokendesk_vault::Forbidden {
            role: Role::Auditor,
            ..
        })
    ));
    assert_eq!(env.count("SELECT COUNT(*) FROM staff").await, 0);
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, before);
}

async fn no_secret_in_debug_errors_or_audit(mut env: Env) {
    cheap(&mut env);
    let v = &env.vault;
    let setup = v.staff().create_setup_token(900).await.unwrap();
    let boss = v
        .staff()
        .complete_setup(setup.expose(), "boss", "Boss", &pw(PASSWORD))
        .await
        .unwrap();
    let (staff, otp) = v
        .staff()
        .add(
            &admin(Permission::ManageStaff),
            "leo",
            "Leo",
            Role::Helpdesk,
        )
        .await
        .unwrap();
    let (token, session) = v
        .staff()
        .login("leo", &pw(otp.expose()), None)
        .await
        .unwrap();
    let t = token.expose().to_owned();
    let new_password = "leo's very secret password";
    let s2 = v
        .staff()
        .change_password(&t, &pw(otp.expose()), &pw(new_password))
        .await
        .unwrap();
    let seed = v.staff().begin_totp_enrolment(&t).await.unwrap().0;
    let code = code_at(&seed, env.clock.now().0);
    let wrong_err = v
        .staff()
        .finish_totp_enrolment(&t, "000000")
        .await
        .unwrap_err();
    let (full, full_session) = v.staff().finish_totp_enrolment(&t, &code).await.unwrap();
    let (api, api_token) = v
        .staff()
        .apikey_create(&admin(Permission::ManageApiKeys), "ci", Role::Helpdesk)
        .await
        .unwrap();
    let bad_login = v
        .staff()
        .login("leo", &pw("leo's wrong secret"), None)
        .await
        .unwrap_err();
    let bad_setup = v
        .staff()
        .complete_setup(setup.expose(), "x", "X", &pw(PASSWORD))
        .await
        .unwrap_err();
    let secrets: Vec<String> = vec![
        setup.expose().to_owned(),
        otp.expose().to_owned(),
        t.clone(),
        full.expose().to_owned(),
        new_password.to_owned(),
        PASSWORD.to_owned(),
        "leo's wrong secret".to_owned(),
        api_token.expose().to_owned(),
        seed.to_base32().to_string(),
        seed.to_hex().to_string(),
        code.clone(),
    ];
    let shown = [
        format!("{setup:?} {otp:?} {token:?} {full:?} {full_session:?} {api_token:?} {seed:?}"),
        format!(
            "{boss:?} {staff:?} {session:?} {s2:?} {api:?} {:?}",
            pw(new_password)
        ),
        format!("{wrong_err} {wrong_err:?} {bad_login} {bad_login:?} {bad_setup} {bad_setup:?}"),
    ];
    let audit: Vec<String> =
        sqlx::query("SELECT actor, action, COALESCE(subject, ''), detail FROM audit")
            .fetch_all(&env.raw)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2),
                    r.get::<String, _>(3)
                )
            })
            .collect();
    for secret in &secrets {
        for text in shown.iter().chain(&audit) {
            assert!(!text.contains(secret.as_str()), "secret found in {text}");
        }
    }
    // Stored: only hashes of tokens and Argon2 hashes of passwords.
    let stored: String = sqlx::query("SELECT password_hash FROM staff WHERE username = 'leo'")
        .fetch_one(&env.raw)
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("$argon2id$"));
    assert!(!stored.contains(new_password));
}

async fn totp_seed_sealed_at_rest_and_survives_rotation(mut env: Env) {
    cheap(&mut env);
    let (_, seed) = enrolled(&env, "max", Role::Helpdesk).await;
    let sealed: Vec<u8> = sqlx::query("SELECT totp_sealed FROM staff WHERE username = 'max'")
        .fetch_one(&env.raw)
        .await
        .unwrap()
        .get(0);
    let raw = seed.expose_bytes();
    assert!(
        !sealed.windows(raw.len()).any(|w| w == raw),
        "seed stored in the clear"
    );
    if let Some(path) = env.url.strip_prefix("sqlite://") {
        // The database file and its write-ahead log, byte for byte.
        let b32 = seed.to_base32();
        let mut searched = 0;
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                searched += bytes.len();
                assert!(
                    !bytes.windows(raw.len()).any(|w| w == raw),
                    "seed bytes in {file}"
                );
                let needle = b32.as_bytes();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "base32 seed in {file}"
                );
            }
        }
        assert!(searched > 0, "no database file found at {path}");
    }
    // The same sealed seed opens after the master key is rotated, also in a fresh process.
    let new_key = [0x5a_u8; 32];
    env.vault
        .rotate(
            crate::db::actor().actor(),
            KeySpec::Key(MasterKey::from_bytes(&new_key).unwrap()),
        )
        .await
        .unwrap();
    env.clock.advance(30);
    let (t, _) = env
        .vault
        .staff()
        .login("max", &pw(PASSWORD), None)
        .await
        .unwrap();
    env.vault
        .staff()
        .verify_totp(t.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    let mut reopened = env
        .reopen(KeySpec::Key(MasterKey::from_bytes(&new_key).unwrap()))
        .await
        .unwrap();
    reopened.set_staff_settings(env.vault.staff_settings());
    env.clock.advance(30);
    let (t, _) = reopened
        .staff()
        .login("max", &pw(PASSWORD), None)
        .await
        .unwrap();
    reopened
        .staff()
        .verify_totp(t.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    // A sealed seed moved to another account does not open.
    enrolled(&env, "ned", Role::Helpdesk).await;
    env.exec(
        "UPDATE staff SET totp_sealed = (SELECT totp_sealed FROM staff WHERE username = 'max') \
         WHERE username = 'ned'",
    )
    .await;
    let (t, _) = env
        .vault
        .staff()
        .login("ned", &pw(PASSWORD), None)
        .await
        .unwrap();
    let err = env
        .vault
        .staff()
        .verify_totp(t.expose(), "000000")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Store(StoreError::Tampered { .. })),
        "{err}"
    );
}

async fn concurrent_failures_are_all_counted(mut env: Env) {
    cheap(&mut env);
    enrolled(&env, "ola", Role::Helpdesk).await;
    let v = &env.vault;
    let wrong = pw("wrong password!!");
    let (a, b, c, d) = tokio::join!(
        v.staff().login("ola", &wrong, None),
        v.staff().login("ola", &wrong, None),
        v.staff().login("ola", &wrong, None),
        v.staff().login("ola", &wrong, None),
    );
    for r in [a, b, c, d] {
        assert!(matches!(r, Err(VaultError::Staff(StaffError::LoginFailed))));
    }
    assert_eq!(v.staff().get("ola").await.unwrap().failed_logins, 4);
}

/// Session fixation defence: the token a browser held before the second factor (which an
/// attacker may have planted or seen) is deleted when the TOTP step passes; only the fresh token
/// returned then is a full session. Holds for sign-in and for enrolment.
async fn totp_step_replaces_the_session_token(mut env: Env) {
    cheap(&mut env);
    let (_, seed) = enrolled(&env, "pia", Role::Helpdesk).await;
    let v = &env.vault;
    let sessions = || env.count("SELECT COUNT(*) FROM sessions");
    let before = sessions().await;
    env.clock.advance(30);
    let signed_in_at = env.clock.now().0;
    let (old, s) = v
        .staff()
        .login("pia", &pw(PASSWORD), Some("198.51.100.4"))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Totp);
    let expires = s.expires_unix_secs;
    env.clock.advance(30);
    let (new, full) = v
        .staff()
        .verify_totp(old.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    assert!(new.expose().starts_with("tds_"));
    assert_ne!(new.expose(), old.expose());
    assert_eq!(full.stage, SessionStage::Full);
    // Same sign-in: the absolute end still counts from the password step.
    assert_eq!(full.created_unix_secs, signed_in_at);
    assert_eq!(full.expires_unix_secs, expires);
    assert_eq!(full.source_ip.as_deref(), Some("198.51.100.4"));
    assert!(v.staff().session(old.expose()).await.unwrap().is_none());
    let again = v.staff().session(new.expose()).await.unwrap().unwrap();
    assert_eq!(again.stage, SessionStage::Full);
    assert_eq!(sessions().await, before + 1, "the old row is deleted");
    // The old token cannot be used for the step again either (nor with the next code).
    env.clock.advance(30);
    assert!(matches!(
        v.staff()
            .verify_totp(old.expose(), &code_at(&seed, env.clock.now().0))
            .await,
        Err(VaultError::Staff(StaffError::SessionInvalid))
    ));
    // A session ended before its TOTP step is not revived by a right code.
    let (ended, _) = v.staff().login("pia", &pw(PASSWORD), None).await.unwrap();
    v.staff().logout(ended.expose()).await.unwrap();
    assert!(matches!(
        v.staff()
            .verify_totp(ended.expose(), &code_at(&seed, env.clock.now().0))
            .await,
        Err(VaultError::Staff(StaffError::SessionInvalid))
    ));

    // Enrolment (first sign-in) rotates too.
    let (_, otp) = v
        .staff()
        .add(
            &admin(Permission::ManageStaff),
            "quinn",
            "Quinn",
            Role::Auditor,
        )
        .await
        .unwrap();
    let (t, _) = v
        .staff()
        .login("quinn", &pw(otp.expose()), None)
        .await
        .unwrap();
    v.staff()
        .change_password(t.expose(), &pw(otp.expose()), &pw(PASSWORD))
        .await
        .unwrap();
    let seed = v.staff().begin_totp_enrolment(t.expose()).await.unwrap().0;
    let (enrolled_token, s) = v
        .staff()
        .finish_totp_enrolment(t.expose(), &code_at(&seed, env.clock.now().0))
        .await
        .unwrap();
    assert_eq!(s.stage, SessionStage::Full);
    assert_ne!(enrolled_token.expose(), t.expose());
    assert!(v.staff().session(t.expose()).await.unwrap().is_none());
    assert!(matches!(
        v.staff().begin_totp_enrolment(t.expose()).await,
        Err(VaultError::Staff(StaffError::SessionInvalid))
    ));
    let s = v
        .staff()
        .session(enrolled_token.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.principal().unwrap().role, Role::Auditor);
    let detail: String = sqlx::query(
        "SELECT detail FROM audit WHERE action = 'totp.enrolled' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&env.raw)
    .await
    .unwrap()
    .get(0);
    assert!(detail.contains("session_rotated"), "{detail}");
}
