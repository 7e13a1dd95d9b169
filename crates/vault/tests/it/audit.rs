use tokendesk_vault::{AuditProblem, Shipment, TokenUpdate};

use crate::db::{Env, actor, new_record, seed};

both_backends!(
    intact_chain_verifies,
    one_changed_byte_is_named_as_edited,
    deleted_entry_is_named,
    inserted_entry_is_named,
    reordered_entries_are_named,
    deleted_tail_is_detected_through_the_head,
    audit_list_filters,
);

/// init + 4 events for two users: 6 entries in all.
async fn populate(env: &Env) {
    let a = actor();
    let v = &env.vault;
    v.capture(&a, new_record("a@contoso.com"), &seed())
        .await
        .unwrap();
    v.mark_burned(
        &a,
        &v.current_record_id("a@contoso.com").await.unwrap(),
        TokenUpdate::default(),
    )
    .await
    .unwrap();
    v.ship(
        &a,
        &v.current_record_id("a@contoso.com").await.unwrap(),
        Shipment::default(),
    )
    .await
    .unwrap();
    v.capture(&a, new_record("b@contoso.com"), &seed())
        .await
        .unwrap();
    v.cancel(
        &a,
        &v.current_record_id("b@contoso.com").await.unwrap(),
        "duplicate",
    )
    .await
    .unwrap();
}

async fn intact_chain_verifies(env: Env) {
    populate(&env).await;
    let report = env.vault.audit_verify().await.unwrap();
    assert_eq!(report.entries, 6);
    assert_eq!(report.problem, None);
}

async fn one_changed_byte_is_named_as_edited(env: Env) {
    populate(&env).await;
    env.exec("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
        .await;
    let report = env.vault.audit_verify().await.unwrap();
    assert_eq!(report.problem, Some(AuditProblem::Edited { seq: 3 }));
    assert!(
        report
            .problem
            .unwrap()
            .to_string()
            .contains("entry 3 was edited")
    );
}

async fn deleted_entry_is_named(env: Env) {
    populate(&env).await;
    env.exec("DELETE FROM audit WHERE seq = 4").await;
    assert_eq!(
        env.vault.audit_verify().await.unwrap().problem,
        Some(AuditProblem::Deleted { seq: 4 })
    );
}

async fn inserted_entry_is_named(env: Env) {
    populate(&env).await;
    // A forged entry at the end: correct content hash and link, but no MAC key.
    use sqlx::Row;
    let last = sqlx::query("SELECT entry_hash, mac FROM audit WHERE seq = 6")
        .fetch_one(&env.raw)
        .await
        .unwrap();
    let prev: Vec<u8> = last.get(0);
    let mac: Vec<u8> = last.get(1);
    let hash = independent_entry_hash(&prev, crate::db::T0, "mallory", "reveal", "{}");
    sqlx::query(
        "INSERT INTO audit (seq, at_unix_secs, actor, action, subject, record_id, detail, prev_hash, entry_hash, mac) \
         VALUES (7, $1, 'mallory', 'reveal', NULL, NULL, '{}', $2, $3, $4)",
    )
    .bind(crate::db::T0)
    .bind(prev)
    .bind(hash.to_vec())
    .bind(mac)
    .execute(&env.raw)
    .await
    .unwrap();
    let problem = env.vault.audit_verify().await.unwrap().problem;
    assert_eq!(problem, Some(AuditProblem::Inserted { seq: 7 }));
}

/// The documented entry encoding, written out again here as an oracle.
fn independent_entry_hash(
    prev: &[u8],
    at: i64,
    actor: &str,
    action: &str,
    detail: &str,
) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    put(b"tokendesk audit v1");
    put(prev);
    put(&at.to_be_bytes());
    put(actor.as_bytes());
    put(action.as_bytes());
    put(b"\x00");
    put(b"\x00");
    put(detail.as_bytes());
    h.finalize().into()
}

async fn reordered_entries_are_named(env: Env) {
    populate(&env).await;
    // Swap entries 3 and 4 (all columns but seq).
    env.exec("UPDATE audit SET seq = 100 WHERE seq = 3").await;
    env.exec("UPDATE audit SET seq = 3 WHERE seq = 4").await;
    env.exec("UPDATE audit SET seq = 4 WHERE seq = 100").await;
    assert_eq!(
        env.vault.audit_verify().await.unwrap().problem,
        Some(AuditProblem::Reordered { seq: 3 })
    );
}

async fn deleted_tail_is_detected_through_the_head(env: Env) {
    populate(&env).await;
    env.exec("DELETE FROM audit WHERE seq >= 5").await;
    assert_eq!(
        env.vault.audit_verify().await.unwrap().problem,
        Some(AuditProblem::TailDeleted { last: 4, head: 6 })
    );
}

async fn audit_list_filters(env: Env) {
    populate(&env).await;
    let v = &env.vault;
    let for_b = v
        .audit_list(&tokendesk_vault::AuditFilter {
            subject: Some("b@contoso.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        for_b.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["capture", "state.cancelled"]
    );
    let captures = v
        .audit_list(&tokendesk_vault::AuditFilter {
            action: Some("capture".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(captures.len(), 2);
    let none = v
        .audit_list(&tokendesk_vault::AuditFilter {
            since_unix_secs: Some(crate::db::T0 + 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let last_two = v
        .audit_list(&tokendesk_vault::AuditFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last_two.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
}
