//! Setup link, sign-in with second factor, lockout, sessions, cookies and cross-origin refusal.

use tokendesk_vault::{Permission, Role};

use crate::TestApp;
use crate::app::{between, client, location, root, set_cookie, totp_now};

both_backends!(
    nothing_but_setup_before_the_first_admin,
    setup_link_works_once,
    lockout_after_failed_passwords,
    cross_origin_posts_are_refused,
    sessions_expire_and_end,
    totp_step_issues_a_new_session_cookie,
    unknown_names_are_answered_like_real_ones,
);

async fn nothing_but_setup_before_the_first_admin(app: TestApp) {
    for path in ["/", "/login", "/records", "/api/v1/records"] {
        let r = client().get(app.at(path)).send().await.unwrap();
        assert_eq!(r.status(), 503, "{path}");
    }
    let r = client().get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().get(app.at("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let link = app
        .state
        .setup_link("http://example.test")
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.starts_with("http://example.test/setup?token="),
        "{}",
        link.as_str()
    );
    let r = client().get(app.at("/setup")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn setup_link_works_once(app: TestApp) {
    let token = app.vault.staff().create_setup_token(900).await.unwrap();
    let form = [
        ("token", token.expose()),
        ("username", "first"),
        ("display_name", "First"),
        ("password", "a long enough password"),
        ("password2", "a long enough password"),
    ];
    let bad = [
        ("token", "tds_wrong"),
        ("username", "mallory"),
        ("display_name", ""),
        ("password", "a long enough password"),
        ("password2", "a long enough password"),
    ];
    let r = client()
        .post(app.at("/setup"))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = client()
        .post(app.at("/setup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    // Issue 21: post/redirect/get, so a refresh does not resubmit the form.
    assert_eq!(r.status(), 303);
    assert_eq!(crate::app::location(&r), "/login?created=1");
    let page = client()
        .get(app.at("/login?created=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Administrator created"), "{page}");
    // Used: the setup page is gone, the token with it.
    let r = client()
        .post(app.at("/setup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(app.state.setup_link("http://x").await.unwrap().is_none());
    // The new admin must still enrol a second factor before anything else.
    let r = client()
        .post(app.at("/login"))
        .form(&[
            ("username", "first"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account/totp");
    let cookie = set_cookie(&r);
    let raw = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    let r = client()
        .get(app.at("/records"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        303,
        "a half-signed-in session goes back to enrolment"
    );
    assert_eq!(location(&r), "/account/totp");
}

async fn lockout_after_failed_passwords(app: TestApp) {
    let _admin = app.admin().await;
    let mut last = 0;
    for _ in 0..5 {
        let r = client()
            .post(app.at("/login"))
            .form(&[("username", "root"), ("password", "wrong password!!")])
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
        assert!(r.headers().get("set-cookie").is_none());
    }
    assert!(last == 401 || last == 429, "{last}");
    // Locked now: even the right password is refused, with Retry-After.
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", "root"), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    // Unknown users get the same answer as wrong passwords.
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", "nobody"), ("password", "whatever password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // After the back-off the right password works again.
    app.clock.advance(retry + 1);
    let b = app.sign_in("root", "correct horse battery").await;
    assert_eq!(app.get(&b, "/").await.status(), 200);
}

async fn cross_origin_posts_are_refused(app: TestApp) {
    let admin = app.admin().await;
    let id = app.capture("csrf@example.com").await;
    let r = client()
        .post(app.at(&format!("/records/{id}/transition")))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("to", "cancelled"), ("reason", "csrf")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let record = app.vault.record(&id).await.unwrap();
    assert_eq!(record.state.as_str(), "captured", "nothing changed");
    // The same request from our own origin goes through.
    let r = client()
        .post(app.at(&format!("/records/{id}/transition")))
        .header("cookie", &admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("to", "cancelled"), ("reason", "same origin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

async fn sessions_expire_and_end(app: TestApp) {
    let admin = app.admin().await;
    let helper = app.staff("idle", Role::Helpdesk).await;
    assert_eq!(app.get(&helper, "/records").await.status(), 200);
    // Idle for longer than the idle timeout: signed out.
    app.clock.advance(31 * 60);
    assert_eq!(app.get(&helper, "/records").await.status(), 401);
    // Sign-out ends the session on the server, not only in the browser.
    drop(admin);
    let admin = app.sign_in("root", "correct horse battery").await;
    let r = app.post_form(&admin, "/logout", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&admin, "/").await.status(), 401);
    // A disabled account's sessions end at once.
    let other = app.staff("soon-gone", Role::Provisioner).await;
    assert_eq!(app.get(&other, "/records").await.status(), 200);
    app.vault
        .staff()
        .disable(&root(Permission::ManageStaff), "soon-gone")
        .await
        .unwrap();
    assert_eq!(app.get(&other, "/records").await.status(), 401);
}

async fn status_with(app: &TestApp, cookie: &str, path: &str) -> u16 {
    client()
        .get(app.at(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn post_with(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(app.at(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Session fixation defence over HTTP: the cookie a browser had before the TOTP step (at
/// enrolment and at every later sign-in) stops working once the step passes; the response to
/// the step sets a new one.
async fn totp_step_issues_a_new_session_cookie(app: TestApp) {
    let _admin = app.admin().await;
    let (_, otp) = app
        .vault
        .staff()
        .add(&root(Permission::ManageStaff), "fix", "Fix", Role::Helpdesk)
        .await
        .unwrap();
    let new_password = "fix's long new password";
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", "fix"), ("password", otp.expose())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account/password");
    let before = set_cookie(&r);
    let r = post_with(
        &app,
        &before,
        "/account/password",
        &[
            ("old", otp.expose()),
            ("new", new_password),
            ("new2", new_password),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account/totp");
    assert!(
        r.headers().get("set-cookie").is_none(),
        "same session until the TOTP step"
    );
    let page = client()
        .get(app.at("/account/totp"))
        .header("cookie", &before)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = between(&page, "<code id=\"enrol-key\">", "</code>");
    assert!(page.contains("A new key"), "{page}");
    // Issue 21: a mistyped code (or a reload) shows the same key again, and says so.
    let r = post_with(&app, &before, "/account/totp", &[("code", "000000")]).await;
    let page = r.text().await.unwrap();
    assert_eq!(between(&page, "<code id=\"enrol-key\">", "</code>"), key);
    assert!(page.contains("The same key as before"), "{page}");
    let code = totp_now(&key, app.now());
    let r = post_with(&app, &before, "/account/totp", &[("code", code.as_str())]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let raw = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    let after = set_cookie(&r);
    assert_ne!(after, before);
    assert_eq!(status_with(&app, &after, "/records").await, 200);
    assert_eq!(status_with(&app, &after, "/api/v1/records").await, 200);
    assert_eq!(status_with(&app, &before, "/records").await, 401);
    assert_eq!(status_with(&app, &before, "/api/v1/records").await, 401);
    let r = post_with(&app, &before, "/account/totp", &[("code", code.as_str())]).await;
    assert_eq!(r.status(), 401, "the pre-TOTP cookie cannot retry the step");

    // A later sign-in: password, then the second factor replaces the cookie again.
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", "fix"), ("password", new_password)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login/totp");
    let before = set_cookie(&r);
    assert_eq!(status_with(&app, &before, "/records").await, 303);
    assert_eq!(status_with(&app, &before, "/api/v1/records").await, 401);
    app.clock.advance(30);
    let code = totp_now(&key, app.now());
    let r = post_with(&app, &before, "/login/totp", &[("code", code.as_str())]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let after = set_cookie(&r);
    assert_ne!(after, before);
    assert_eq!(status_with(&app, &after, "/records").await, 200);
    assert_eq!(status_with(&app, &before, "/records").await, 401);
    assert_eq!(status_with(&app, &before, "/api/v1/records").await, 401);
    // Signing out with the new cookie ends the (only) session.
    let r = post_with(&app, &after, "/logout", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(status_with(&app, &after, "/records").await, 401);
}

/// Status, `Retry-After`, whether a cookie was set, and the body of one sign-in attempt.
async fn attempt(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (u16, Option<String>, bool, String) {
    let r = client()
        .post(app.at("/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let cookie = r.headers().get("set-cookie").is_some();
    (status, retry, cookie, r.text().await.unwrap())
}

/// No account enumeration over HTTP: for every failure, a real name and a name that is no
/// account get byte-identical answers (status, `Retry-After`, page), through the lock, its
/// back-off and a locked right password.
async fn unknown_names_are_answered_like_real_ones(app: TestApp) {
    let _admin = app.admin().await;
    let _desk = app.staff("desk", Role::Helpdesk).await;
    let mut seen = Vec::new();
    for step in 0..9 {
        let (real_pw, ghost_pw) = match step {
            // While locked, the account's right password too.
            5 => ("desk long password 1", "desk long password 1"),
            _ => ("wrong password!!", "wrong password!!"),
        };
        let real = attempt(&app, "desk", real_pw).await;
        let ghost = attempt(&app, "nobody-here", ghost_pw).await;
        assert_eq!(real, ghost, "step {step}");
        assert!(!real.2, "no cookie on a failure");
        seen.push((real.0, real.1.clone()));
        // Past the current lock before the next wrong password.
        if let Some(secs) = &real.1
            && step != 4
        {
            app.clock.advance(secs.parse::<i64>().unwrap());
        }
    }
    let expected: Vec<(u16, Option<String>)> = vec![
        (401, None),
        (401, None),
        (401, None),
        (401, None),
        (429, Some("30".into())),
        (429, Some("30".into())),
        (429, Some("60".into())),
        (429, Some("120".into())),
        (429, Some("240".into())),
    ];
    assert_eq!(seen, expected);
}
