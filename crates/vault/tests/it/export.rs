//! Issue 18: a large export commits every record's `export` entry, then hands out the seeds a
//! chunk at a time, so memory stays flat; a refusal audits and decrypts nothing.

use tokendesk_formats::graph::GraphError;
use tokendesk_vault::{Invalid, RecordError, VaultError};

use crate::db::{Env, actor, capture_all};

both_backends!(
    issue_18_an_export_audits_everything_first_then_hands_out_chunks,
    issue_18_an_export_refused_by_its_check_audits_nothing,
);

/// Two full chunks of 1,000 and a partial one.
const RECORDS: usize = 2_300;

fn seed_of(i: usize) -> Vec<u8> {
    format!("export-{i:013}").into_bytes()
}

async fn captured(env: &Env) {
    // Captured in reverse, so UPN order is not capture order.
    capture_all(
        env,
        (0..RECORDS)
            .rev()
            .map(|i| (format!("e{i:04}@contoso.com"), seed_of(i))),
    )
    .await;
}

async fn exports(env: &Env) -> i64 {
    env.count("SELECT COUNT(*) FROM audit WHERE action = 'export'")
        .await
}

async fn issue_18_an_export_audits_everything_first_then_hands_out_chunks(env: Env) {
    captured(&env).await;
    let v = &env.vault;
    let mut export = v
        .export_start(&actor(), None, None, "entra", None)
        .await
        .unwrap();
    assert_eq!(export.len(), RECORDS);
    // Every entry is durable before the first seed is decrypted.
    assert_eq!(exports(&env).await, RECORDS as i64);
    let mut sizes = Vec::new();
    let mut n = 0;
    while let Some(chunk) = export.next_chunk().await.unwrap() {
        sizes.push(chunk.len());
        for item in &chunk {
            assert_eq!(item.record.upn, format!("e{n:04}@contoso.com"));
            assert_eq!(item.seed.as_slice(), seed_of(n).as_slice());
            n += 1;
        }
    }
    assert_eq!(sizes, [1_000, 1_000, 300]);
    assert!(export.next_chunk().await.unwrap().is_none());
    assert_eq!(exports(&env).await, RECORDS as i64);

    // A seed gone after the entries committed (another operator cancelled the record): the
    // export stops there, audited, with the record named.
    let mut export = v
        .export_start(&actor(), None, None, "otpauth", None)
        .await
        .unwrap();
    let id = v.current_record_id("e0001@contoso.com").await.unwrap();
    v.cancel(&actor(), &id, "lost in the post").await.unwrap();
    let err = export.next_chunk().await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Record(RecordError::Purged { upn }) if upn == "e0001@contoso.com"),
        "{err:?}"
    );
    assert_eq!(exports(&env).await, 2 * RECORDS as i64);
}

async fn issue_18_an_export_refused_by_its_check_audits_nothing(env: Env) {
    captured(&env).await;
    let last = format!("e{:04}@contoso.com", RECORDS - 1);
    let check = |r: &tokendesk_vault::Record| {
        if r.upn == last {
            Err(GraphError::Missing {
                upn: r.upn.clone(),
                field: "model",
            })
        } else {
            Ok(())
        }
    };
    let err = env
        .vault
        .export_start(&actor(), None, None, "graph", Some(&check))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Invalid(Invalid::ExportRefused { .. })),
        "{err:?}"
    );
    assert_eq!(exports(&env).await, 0);
}
