//! `show` and `list` without process start-up: `Vault::current` (the active record),
//! `Vault::history` (what `tokendesk show` prints) and `Vault::list` over 100,000 records, on
//! SQLite and — when TOKENDESK_BENCH_PG_URL or TOKENDESK_TEST_PG_URL is set — PostgreSQL.
//! Peers: the `sqlite3` and `psql` command-line tools running the same indexed SELECT (one
//! process per query, so their figure includes process start-up; the query-only time from
//! `sqlite3 .timer` is in bench/RESULTS.md).
//!
//! Run: `cargo bench -p tokendesk-vault --bench vault` (RECORDS=N overrides 100,000).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use tokendesk_otp::Secret;
use tokendesk_vault::{Actor, FixedClock, KeySpec, ListFilter, MasterKey, NewRecord, Store, Vault};

const PROBE: &str = "user50000@contoso.com";

fn records() -> usize {
    std::env::var("RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// A vault with `n` captured records (one import transaction, as `tokendesk import` does).
async fn filled(url: &str, n: usize) -> Vault {
    let store = Store::open(url).await.unwrap();
    let clock = Arc::new(FixedClock::new(1_764_000_000));
    let actor = Actor::new("bench");
    let vault = Vault::init(
        store,
        KeySpec::Key(MasterKey::generate().unwrap()),
        clock,
        &actor,
    )
    .await
    .unwrap();
    let items: Vec<(NewRecord, Secret)> = (0..n)
        .map(|i| {
            let new = NewRecord {
                upn: format!("user{i}@contoso.com"),
                ..NewRecord::default()
            };
            (new, Secret::generate(20).unwrap())
        })
        .collect();
    let started = std::time::Instant::now();
    vault
        .capture_batch(
            &tokendesk_vault::Policy::authorize_role(&tokendesk_vault::Principal {
                actor: actor.clone(),
                role: tokendesk_vault::Role::Admin,
            }),
            &items,
            "bench",
        )
        .await
        .unwrap();
    if benchmarking() {
        eprintln!(
            "filled {url:.40}… with {n} records in {:?}",
            started.elapsed()
        );
    }
    vault
}

/// Whether this run measures (`cargo bench`). `cargo test --all-targets` runs this target too,
/// without `--bench`: then each query runs once on a small vault, silently (criterion's test
/// mode would print a "Testing …" and "Success" line per benchmark into the test results).
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The check `cargo test` runs: every query once, on 100 records, printing nothing.
fn smoke(url: &str, peer: Option<Vec<String>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = 100;
    let vault = rt.block_on(filled(url, n));
    let probe = "user50@contoso.com";
    assert_eq!(rt.block_on(vault.current(probe)).unwrap().upn, probe);
    rt.block_on(vault.history(probe)).unwrap();
    assert_eq!(
        rt.block_on(vault.list(&ListFilter::default()))
            .unwrap()
            .len(),
        n
    );
    if let Some(argv) = peer {
        let (prog, args) = argv.split_first().unwrap();
        let out = Command::new(prog).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    rt.block_on(vault.store().close());
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str, peer: Option<Vec<String>>) {
    if !benchmarking() {
        return smoke(url, peer);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = records();
    let vault = rt.block_on(filled(url, n));
    let mut group = c.benchmark_group(format!("{name}_{n}"));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("current", |b| {
        b.iter(|| rt.block_on(vault.current(black_box(PROBE))).unwrap())
    });
    group.bench_function("history_show", |b| {
        b.iter(|| rt.block_on(vault.history(black_box(PROBE))).unwrap())
    });
    if let Some(argv) = peer {
        let (prog, args) = argv.split_first().unwrap();
        group.bench_function(format!("peer_{prog}_cli_process"), |b| {
            b.iter(|| {
                let out = Command::new(prog).args(args).output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(String::from_utf8_lossy(&out.stdout).contains(PROBE));
            })
        });
    }
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("list_all", |b| {
        b.iter(|| {
            let all = rt.block_on(vault.list(&ListFilter::default())).unwrap();
            assert_eq!(all.len(), n);
        })
    });
    group.finish();
    rt.block_on(vault.store().close());
}

const PEER_SQL: &str = "SELECT id, upn, state FROM records WHERE upn = 'user50000@contoso.com' \
                        ORDER BY created_unix_secs DESC, id DESC";

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let url = format!("sqlite://{}", db.display());
    let peer = vec![
        "sqlite3".into(),
        "-readonly".into(),
        db.display().to_string(),
        PEER_SQL.into(),
    ];
    bench_backend(c, "sqlite", &url, Some(peer));
}

fn postgres(c: &mut Criterion) {
    let admin = std::env::var("TOKENDESK_BENCH_PG_URL")
        .or_else(|_| std::env::var("TOKENDESK_TEST_PG_URL"))
        .unwrap_or_default();
    if admin.is_empty() {
        if !benchmarking() {
            return;
        }
        eprintln!(
            "PostgreSQL part not run: set TOKENDESK_BENCH_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres"
        );
        return;
    }
    let name = format!("td_bench_show_{}", std::process::id());
    let psql = |sql: String| {
        // Quiet: no NOTICE for `DROP DATABASE IF EXISTS` of a database that is not there.
        let ok = Command::new("psql")
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .args(["-q", &admin, "-c", &sql])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "psql {sql} failed");
    };
    psql(format!("DROP DATABASE IF EXISTS {name}"));
    psql(format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let peer = vec![
        "psql".into(),
        "-qAt".into(),
        url.clone(),
        "-c".into(),
        PEER_SQL.into(),
    ];
    bench_backend(c, "postgres", &url, Some(peer));
    psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

criterion_group!(benches, sqlite, postgres);

fn main() {
    if benchmarking() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    } else {
        // The same setup and queries, once each, through a Criterion that is never asked to
        // measure (`bench_backend` returns before it).
        let mut c = Criterion::default();
        sqlite(&mut c);
        postgres(&mut c);
    }
}
