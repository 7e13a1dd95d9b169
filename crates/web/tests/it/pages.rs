//! The helpdesk pages end to end over HTTP: provisioning from a pasted secret, shipping, a
//! verified reveal, the quota with four-eyes approval, delivery with drift, purge; the seed
//! appears on no page after saving.

use tokendesk_vault::{Permission, Role};

use crate::TestApp;
use crate::app::{RFC_SEED, between, client, location, rfc_code, root};

both_backends!(
    provisioning_to_purge,
    quota_needs_a_second_approver,
    passphrase_is_checked_by_the_server,
    audit_page_and_csv,
    staff_admin_page,
    header_names_the_person,
);

/// Issue 21: the header shows the full name given at setup, with the login name and role.
async fn header_names_the_person(app: TestApp) {
    let admin = app.admin().await;
    let page = app.get_text(&admin, "/").await;
    assert!(page.contains("Root Admin (root) · admin"), "{page}");
    // An account without a full name shows its login name alone.
    let helga = app.staff("helga", Role::Helpdesk).await;
    let page = app.get_text(&helga, "/").await;
    assert!(page.contains(">helga · helpdesk<"), "{page}");
}

/// The grouped, lower-case way Microsoft shows the RFC seed.
const MS_STYLE: &str = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";

fn multipart(fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form
}

async fn provisioning_to_purge(app: TestApp) {
    let admin = app.admin().await;
    let prov = app.staff("prov", Role::Provisioner).await;
    let desk = app.staff("desk", Role::Helpdesk).await;

    // Preview: the code to type into Microsoft's page, with its countdown data.
    let r = client()
        .post(app.at("/wizard"))
        .header("cookie", &prov.cookie)
        .multipart(multipart(&[
            ("upn", "Jane.Doe@Example.com"),
            ("secret", MS_STYLE),
            ("action", "preview"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&rfc_code(app.now())),
        "preview shows the current code"
    );
    assert!(page.contains("data-valid-until"));

    // Save.
    let r = client()
        .post(app.at("/wizard"))
        .header("cookie", &prov.cookie)
        .multipart(multipart(&[
            ("upn", "Jane.Doe@Example.com"),
            ("display_name", "Jane Doe"),
            ("phone", "+41 79 123 45 67"),
            ("secret", MS_STYLE),
            ("serial", "C302-0001"),
            ("model", "C302-i"),
            ("action", "save"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let record_path = location(&r);
    assert!(record_path.starts_with("/records/"), "{record_path}");
    let id = record_path
        .trim_start_matches("/records/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let page = app.get_text(&prov, &record_path).await;
    assert!(page.contains("jane.doe@example.com") && page.contains("captured"));
    assert!(page.contains("Message for the user") && page.contains("+41 44 000 00 00"));

    // Burned, shipped.
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/transition"),
            &[("to", "burned"), ("serial", "C302-0001")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/transition"),
            &[
                ("to", "shipped"),
                ("carrier", "Swiss Post"),
                ("tracking", "99.00.123456.78901234"),
                ("expected", "2026-12-05"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    // An illegal move names the state and changes nothing.
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/transition"),
            &[("to", "burned")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("shipped"));

    // The helpdesk reveals after a call-back, with a ticket.
    let form = app.get_text(&desk, &format!("/records/{id}/reveal")).await;
    assert!(
        form.contains("+41 79 123 45 67"),
        "the call-back number is on the form"
    );
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-1001"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    let now = app.now();
    assert!(page.contains(&rfc_code(now)), "current code shown");
    assert!(
        page.contains(&rfc_code(now - now % 30 + 30)),
        "next code shown"
    );
    assert!(page.contains("s left"));

    // A code for e-mail, valid at a chosen time.
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-1002"),
                ("method", "call-back"),
                ("purpose", "email"),
                ("at", "2026-11-29T08:30"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let at = 1_795_941_000; // 2026-11-29T08:30:00Z
    assert!(r.text().await.unwrap().contains(&rfc_code(at)));

    // Delivery: the user reads a code from a token that runs one step fast.
    let from_token = rfc_code(app.now() + 30);
    let r = app
        .post_form(
            &prov,
            &format!("/records/{id}/transition"),
            &[("to", "delivered"), ("code", &from_token)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = app.get_text(&prov, &location(&r)).await;
    assert!(page.contains("drift of 1 steps"), "drift shown");
    assert!(page.contains("delivered"));

    // Purge (admin), then: no reveal, and the seed was on no page at any point after saving.
    // Without the confirmation tick the page refuses.
    let r = app
        .post_form(&admin, &format!("/records/{id}/purge"), &[])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("confirmation"));
    let r = app
        .post_form(
            &admin,
            &format!("/records/{id}/purge"),
            &[("confirm", "yes")],
        )
        .await;
    assert!(r.status() == 303 || r.status() == 409, "{}", r.status());
    let r = app.get(&desk, &format!("/records/{id}/reveal")).await;
    assert_eq!(r.status(), 409, "no reveal after delivery");
    assert!(r.text().await.unwrap().contains("cannot be revealed"));
    for path in [
        format!("/records/{id}"),
        "/records".into(),
        "/".into(),
        "/audit".into(),
    ] {
        let page = app.get_text(&admin, &path).await;
        assert!(!page.contains(RFC_SEED), "{path} shows the seed");
        assert!(
            !page.to_lowercase().contains("gezdgnbv"),
            "{path} shows the seed"
        );
        assert!(!page.contains("gezd gnbv"), "{path} shows the seed");
    }
}

async fn quota_needs_a_second_approver(app: TestApp) {
    let _admin = app.admin().await;
    let desk = app.staff("desk1", Role::Helpdesk).await;
    let other = app.staff("desk2", Role::Helpdesk).await;
    let id = app.capture("quota@example.com").await;
    let quota = app.vault.settings().daily_reveal_quota;
    for i in 0..quota {
        let r = app
            .post_form(
                &desk,
                &format!("/records/{id}/reveal"),
                &[
                    ("ticket", &format!("T-{i}")),
                    ("method", "call-back"),
                    ("purpose", "read-out"),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "reveal {i}");
    }
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "T-over"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 429, "over the quota");
    // Ask; one cannot approve one's own request; another operator can.
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/approval"),
            &[("ticket", "T-over"), ("reason", "user travelling")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let approvals = app.vault.pending_approvals().await.unwrap();
    assert_eq!(approvals.len(), 1);
    let aid = approvals[0].id.to_string();
    let r = app
        .post_form(&desk, &format!("/approvals/{aid}/approve"), &[])
        .await;
    assert!(
        r.status().is_client_error(),
        "self-approval refused: {}",
        r.status()
    );
    let page = app.get_text(&other, "/approvals").await;
    assert!(page.contains("quota@example.com"));
    let r = app
        .post_form(&other, &format!("/approvals/{aid}/approve"), &[])
        .await;
    assert_eq!(r.status(), 200);
    let with_approval = [
        ("ticket", "T-over"),
        ("method", "second-approver"),
        ("approval", aid.as_str()),
        ("purpose", "read-out"),
    ];
    let r = app
        .post_form(&desk, &format!("/records/{id}/reveal"), &with_approval)
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&rfc_code(app.now())));
    // Used once only.
    let r = app
        .post_form(&desk, &format!("/records/{id}/reveal"), &with_approval)
        .await;
    assert_eq!(
        r.status(),
        409,
        "a used approval is refused, with the reason"
    );
    assert!(r.text().await.unwrap().contains("approval"));
}

async fn passphrase_is_checked_by_the_server(app: TestApp) {
    let _admin = app.admin().await;
    let desk = app.staff("desk", Role::Helpdesk).await;
    let id = app.capture("pass@example.com").await;
    app.vault
        .set_passphrase(
            &root(Permission::Capture),
            "pass@example.com",
            &tokendesk_vault::Passphrase::new(zeroize::Zeroizing::new("blue elephant".into())),
        )
        .await
        .unwrap();
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "T-1"),
                ("method", "passphrase"),
                ("passphrase", "red elephant"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        !body.contains(&rfc_code(app.now())),
        "no code after a wrong passphrase"
    );
    let r = app
        .post_form(
            &desk,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "T-2"),
                ("method", "passphrase"),
                ("passphrase", "blue elephant"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&rfc_code(app.now())));
    // The failed attempt is in the audit trail, never the passphrase.
    let entries = app.vault.audit_list(&Default::default()).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action.contains("passphrase") && e.detail.contains("fail"))
    );
    assert!(entries.iter().all(|e| !e.detail.contains("elephant")));
}

async fn audit_page_and_csv(app: TestApp) {
    let admin = app.admin().await;
    let auditor = app.staff("aud", Role::Auditor).await;
    let id = app.capture("audited@example.com").await;
    let r = app
        .post_form(
            &admin,
            &format!("/records/{id}/reveal"),
            &[
                ("ticket", "INC-7"),
                ("method", "call-back"),
                ("purpose", "read-out"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = app
        .get_text(&auditor, "/audit?user=audited@example.com")
        .await;
    assert!(page.contains("Audit chain verified"), "chain result shown");
    assert!(page.contains("INC-7"));
    let r = app.get(&auditor, "/audit.csv?action=reveal").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("seq,time_utc"));
    assert!(csv.contains("INC-7"));
    assert!(
        !csv.contains(&rfc_code(app.now())),
        "codes are never audited"
    );
    // The auditor sees codes nowhere: reveal is forbidden.
    let r = app.get(&auditor, &format!("/records/{id}/reveal")).await;
    assert_eq!(r.status(), 403);
}

async fn staff_admin_page(app: TestApp) {
    let admin = app.admin().await;
    let r = app
        .post_form(
            &admin,
            "/staff",
            &[
                ("username", "newbie"),
                ("display_name", "New Bie"),
                ("role", "helpdesk"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let otp = between(&page, "<code id=\"one-time-secret\">", "</code>");
    assert!(otp.len() >= 12);
    // Shown once: the list page does not show it again.
    let list = app.get_text(&admin, "/staff").await;
    assert!(list.contains("newbie") && !list.contains(&otp));
    let newbie = app.sign_in_new("newbie", &otp).await;
    assert_eq!(app.get(&newbie, "/records").await.status(), 200);
    assert_eq!(app.get(&newbie, "/staff").await.status(), 403);
}
