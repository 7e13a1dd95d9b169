//! Records a page at a time: every record exactly once, in one stable order, forwards and
//! backwards, with filters, and without repeats when records are captured between pages.

use std::collections::HashSet;

use tokendesk_vault::{
    ListFilter, MAX_PAGE_SIZE, NewRecord, PageCursor, PageQuery, Record, RecordPage, State,
    TokenUpdate, Vault, VaultError,
};

use crate::db::{Env, actor, new_record, seed};

both_backends!(pages_hold_every_record_once_in_a_stable_order);

async fn page(v: &Vault, q: &PageQuery, cursor: PageCursor) -> RecordPage {
    v.list_page(&PageQuery {
        cursor,
        ..q.clone()
    })
    .await
    .unwrap()
}

/// Ids of every page from the first forwards, checking totals and positions on the way.
async fn forwards(v: &Vault, q: &PageQuery) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = PageCursor::First;
    let size = q.limit.min(MAX_PAGE_SIZE);
    loop {
        let p = page(v, q, cursor).await;
        assert_eq!(p.offset, ids.len() as i64, "position of the page");
        assert!(p.records.len() as i64 <= size);
        ids.extend(p.records.iter().map(|r| r.id.clone()));
        match p.next() {
            Some(next) => {
                assert_eq!(p.records.len() as i64, size, "only the last page is short");
                cursor = next;
            }
            None => {
                assert_eq!(p.total, ids.len() as i64, "total");
                return ids;
            }
        }
    }
}

fn key(r: &Record) -> (String, i64, String) {
    (r.upn.clone(), r.created_unix_secs, r.id.clone())
}

async fn pages_hold_every_record_once_in_a_stable_order(env: Env) {
    let v = &env.vault;
    let items: Vec<(NewRecord, tokendesk_otp::Secret)> = (0..230)
        .map(|i| (new_record(&format!("u{i:03}@example.com")), seed()))
        .chain(["a_b@example.com", "axb@example.com"].map(|u| (new_record(u), seed())))
        .collect();
    v.capture_batch(&actor(), &items, "test").await.unwrap();
    // Three records of one user with the same creation time (the clock is fixed): only the
    // id orders them.
    for _ in 0..2 {
        v.capture(&actor(), new_record("dup@example.com"), &seed())
            .await
            .unwrap();
        v.cancel(
            &actor(),
            &v.current_record_id("dup@example.com").await.unwrap(),
            "again",
        )
        .await
        .unwrap();
    }
    v.capture(&actor(), new_record("dup@example.com"), &seed())
        .await
        .unwrap();
    for i in (0..230).step_by(3) {
        v.mark_burned(
            &actor(),
            &v.current_record_id(&format!("u{i:03}@example.com"))
                .await
                .unwrap(),
            TokenUpdate::default(),
        )
        .await
        .unwrap();
    }
    let all = v.list(&ListFilter::default()).await.unwrap();
    assert_eq!(all.len(), 235);
    let mut expected: Vec<&Record> = all.iter().collect();
    expected.sort_by_key(|r| key(r));
    let expected: Vec<String> = expected.iter().map(|r| r.id.clone()).collect();

    // Forwards: each record once, in (upn, created, id) order, for several page sizes (500 is
    // clamped to the largest page).
    for limit in [100, 7, 200, 500] {
        let q = PageQuery {
            limit,
            ..PageQuery::default()
        };
        let ids = forwards(v, &q).await;
        assert_eq!(ids, expected, "page size {limit}");
    }
    // Backwards from the last page gives the same sequence.
    let q = PageQuery {
        limit: 100,
        ..PageQuery::default()
    };
    let last = page(v, &q, PageCursor::After(expected[199].clone())).await;
    assert_eq!(
        (last.offset, last.total, last.records.len()),
        (200, 235, 35)
    );
    assert!(last.next().is_none());
    let mut back: Vec<String> = last.records.iter().map(|r| r.id.clone()).collect();
    let mut cursor = last.previous();
    while let Some(c) = cursor {
        let p = page(v, &q, c).await;
        assert_eq!(p.offset + p.records.len() as i64, 235 - back.len() as i64);
        let mut ids: Vec<String> = p.records.iter().map(|r| r.id.clone()).collect();
        ids.append(&mut back);
        back = ids;
        cursor = p.previous();
    }
    assert_eq!(back, expected);

    // Filters: state, and a UPN fragment whose `_` is a plain character.
    let burned = PageQuery {
        filter: ListFilter {
            state: Some(State::Burned),
            overdue_days: None,
        },
        limit: 25,
        ..PageQuery::default()
    };
    let ids = forwards(v, &burned).await;
    let want: Vec<String> = expected
        .iter()
        .filter(|id| all.iter().any(|r| &r.id == *id && r.state == State::Burned))
        .cloned()
        .collect();
    assert_eq!(want.len(), 77);
    assert_eq!(ids, want);
    let like = |text: &str| PageQuery {
        upn_contains: Some(text.to_owned()),
        limit: 100,
        ..PageQuery::default()
    };
    let found = forwards(v, &like("A_B")).await;
    assert_eq!(found.len(), 1, "`_` is not a wildcard");
    let found = forwards(v, &like(" U1")).await;
    let want: Vec<String> = expected
        .iter()
        .filter(|id| all.iter().any(|r| &r.id == *id && r.upn.contains("u1")))
        .cloned()
        .collect();
    assert_eq!((found.len(), &found), (100, &want));
    assert_eq!(forwards(v, &like("%")).await.len(), 0);

    // A record captured between two page loads, sorting before the cursor, is neither
    // repeated nor pushes one off the next page; the position and total count it.
    let first = page(v, &q, PageCursor::First).await;
    v.capture(&actor(), new_record("aaa@example.com"), &seed())
        .await
        .unwrap();
    let second = page(v, &q, first.next().unwrap()).await;
    assert_eq!(second.records[0].id, expected[100]);
    assert_eq!((second.offset, second.total), (101, 236));
    let seen: HashSet<&String> = first.records.iter().map(|r| &r.id).collect();
    assert!(second.records.iter().all(|r| !seen.contains(&r.id)));

    // A cursor naming no record is refused with a way out.
    let err = v
        .list_page(&PageQuery {
            cursor: PageCursor::After("no-such-id".into()),
            limit: 10,
            ..PageQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("first page"), "{err}");
}
