//! Issue 19 (bulk burning): a captured seed is bound to one token serial before it is written,
//! and stays bound to it: another serial, a serial already in use and a second claim are
//! refused, on both backends.

use tokendesk_vault::{RecordError, RecordId, State, TokenUpdate, VaultError};

use crate::db::{Env, actor, seed};

/// A captured record without a token yet (the shared helper records a serial).
fn new_record(upn: &str) -> tokendesk_vault::NewRecord {
    tokendesk_vault::NewRecord {
        serial: None,
        ..crate::db::new_record(upn)
    }
}

both_backends!(issue_19_a_seed_is_bound_to_one_token);

async fn issue_19_a_seed_is_bound_to_one_token(env: Env) {
    let (a, v) = (actor(), &env.vault);
    let alice = RecordId::from(
        &v.capture(&a, new_record("alice@contoso.com"), &seed())
            .await
            .unwrap(),
    );
    let bob = RecordId::from(
        &v.capture(&a, new_record("bob@contoso.com"), &seed())
            .await
            .unwrap(),
    );
    let r = v
        .claim_token(
            &a,
            &alice,
            "8659622000501",
            Some("OTPC-P2-i"),
            Some("Token2"),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.state, r.serial.as_deref()),
        (State::Captured, Some("8659622000501"))
    );
    // The same claim again is a no-op; another serial for alice is refused.
    v.claim_token(&a, &alice, "8659622000501", None, None)
        .await
        .unwrap();
    let err = v
        .claim_token(&a, &alice, "8659622000502", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Record(RecordError::WrongToken { reason }) if reason.contains("bound to token 8659622000501")),
        "{err}"
    );
    // Alice's token cannot take bob's seed.
    let err = v
        .claim_token(&a, &bob, "8659622000501", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Record(RecordError::WrongToken { reason }) if reason.contains("token 8659622000501 is already bound for alice@contoso.com")),
        "{err}"
    );
    let found = v
        .record_with_serial("8659622000501")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.upn, "alice@contoso.com");
    assert!(
        v.record_with_serial("8659622000599")
            .await
            .unwrap()
            .is_none()
    );
    // Burned, the claim is complete; a burned record is not claimed again.
    let update = TokenUpdate {
        serial: Some("8659622000501".into()),
        ..Default::default()
    };
    v.mark_burned(&a, &alice, update).await.unwrap();
    let err = v
        .claim_token(&a, &alice, "8659622000501", None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Invalid(m) if m.to_string().contains("is burned")),
        "{err}"
    );
    // The chain with the claims verifies.
    let report = v.audit_verify().await.unwrap();
    assert!(report.problem.is_none(), "{report:?}");
}
