//! Issue 19 (bulk provisioning on the server): a batch is generated all or nothing, keeps its
//! users in list order with their parameters and language, reports its progress, and hands a
//! seed to a desk only after binding it to the token's serial (`bulk_fetch`), on both backends.

use tokendesk_vault::{Algorithm, RecordError, RecordId, State, TokenParams, VaultError};

use crate::db::{Env, actor, seed};

both_backends!(issue_19_a_batch_is_all_or_nothing_and_binds_before_it_hands_out);

fn upns(list: &[&str]) -> Vec<String> {
    list.iter().map(|u| (*u).to_owned()).collect()
}

async fn issue_19_a_batch_is_all_or_nothing_and_binds_before_it_hands_out(env: Env) {
    let (a, v) = (actor(), &env.vault);
    v.capture(&a, crate::db::new_record("taken@contoso.com"), &seed())
        .await
        .unwrap();
    let params = TokenParams {
        algorithm: Algorithm::Sha256,
        digits: 6,
        period_secs: 60,
    };
    let records = env.count("SELECT COUNT(*) FROM records").await;
    let audit = env.count("SELECT COUNT(*) FROM audit").await;

    // One user with an active record stops the whole batch; so does a bad UPN.
    let conflicts = v
        .bulk_conflicts(&upns(&["ada@contoso.com", "taken@contoso.com"]))
        .await
        .unwrap();
    assert_eq!(
        conflicts,
        [("taken@contoso.com".to_owned(), State::Captured)]
    );
    let err = v
        .bulk_generate(
            &a,
            &upns(&["ada@contoso.com", "taken@contoso.com"]),
            params,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Record(RecordError::ActiveRecordExists { ref upn, .. }) if upn == "taken@contoso.com"),
        "{err}"
    );
    let err = v
        .bulk_generate(&a, &upns(&["ada@contoso.com", "not an upn"]), params, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: item 2: the user \"not an upn\" contains spaces or control characters"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM records").await, records);
    assert_eq!(env.count("SELECT COUNT(*) FROM audit").await, audit);
    assert_eq!(env.count("SELECT COUNT(*) FROM bulk_batches").await, 0);

    // A batch: list order, parameters, language, fresh 160-bit seeds.
    let batch = v
        .bulk_generate(
            &a,
            &upns(&["Cy@Contoso.com", "ada@contoso.com", "bob@contoso.com"]),
            params,
            Some("fr"),
        )
        .await
        .unwrap();
    let names: Vec<&str> = batch.records.iter().map(|r| r.upn.as_str()).collect();
    assert_eq!(
        names,
        ["cy@contoso.com", "ada@contoso.com", "bob@contoso.com"]
    );
    assert!(batch.records.iter().all(|r| r.params == params
        && r.language.as_deref() == Some("fr")
        && r.state == State::Captured));
    assert_eq!((batch.burned(), batch.language.as_deref()), (0, Some("fr")));
    let listed = v.batches(10).await.unwrap();
    assert_eq!((listed.len(), listed[0].total, listed[0].burned), (1, 3, 0));
    assert_eq!(v.batch(&batch.id).await.unwrap().records.len(), 3);
    assert!(matches!(
        v.batch("000000000000").await.unwrap_err(),
        VaultError::Record(RecordError::NoBatch { .. })
    ));

    // The desk's fetch binds first; another token is refused; the same token gets the seed.
    let cy = RecordId(batch.records[0].id.clone());
    let ada = RecordId(batch.records[1].id.clone());
    let first = v
        .bulk_fetch(&a, &batch.id, &cy, "8659622000701", Some("OTPC-P2-i"))
        .await
        .unwrap();
    assert_eq!(first.seed.len(), 20);
    assert_eq!(first.record.serial.as_deref(), Some("8659622000701"));
    let err = v
        .bulk_fetch(&a, &batch.id, &cy, "8659622000702", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Record(RecordError::WrongToken { reason }) if reason.contains("bound to token 8659622000701")),
        "{err}"
    );
    let err = v
        .bulk_fetch(&a, &batch.id, &ada, "8659622000701", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Record(RecordError::WrongToken { reason }) if reason.contains("already bound for cy@contoso.com")),
        "{err}"
    );
    let again = v
        .bulk_fetch(&a, &batch.id, &cy, "8659622000701", None)
        .await
        .unwrap();
    assert!(again.seed == first.seed, "the same seed for the same token");
    let ada_seed = v
        .bulk_fetch(&a, &batch.id, &ada, "8659622000702", None)
        .await
        .unwrap();
    assert!(
        ada_seed.seed != first.seed,
        "every user has a seed of their own"
    );
    let outsider = RecordId(v.current("taken@contoso.com").await.unwrap().id);
    assert!(matches!(
        v.bulk_fetch(&a, &batch.id, &outsider, "8659622000709", None)
            .await
            .unwrap_err(),
        VaultError::Record(RecordError::NotInBatch { .. })
    ));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM audit WHERE action = 'burn.claim'")
            .await,
        2
    );
}
