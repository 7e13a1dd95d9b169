//! Throughput of the OTP core: codes per second per core for each hash, and a ±1 day drift
//! search. Run with `cargo bench -p tokendesk-otp`; `bench/otp.sh` adds the oathtool comparison.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use tokendesk_otp::{
    Algorithm, Digits, Hotp, Secret, Totp, TotpParams, drift_search, one_day_steps,
};

fn codes(c: &mut Criterion) {
    let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
    let mut group = c.benchmark_group("codes");
    const BATCH: u64 = 10_000;
    group.throughput(Throughput::Elements(BATCH));
    for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let hotp = Hotp::new(&secret, alg, Digits::SIX);
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for step in 0..BATCH {
                    acc ^= hotp.value(black_box(step));
                }
                acc
            })
        });
    }
    group.finish();
    c.bench_function("key_setup_sha1", |b| {
        b.iter(|| Hotp::new(black_box(&secret), Algorithm::Sha1, Digits::SIX))
    });
}

fn drift(c: &mut Criterion) {
    let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
    let totp = Totp::new(&secret, TotpParams::default());
    let now = 1_764_000_000;
    let c1 = totp.at_offset(now, 1234).unwrap().code;
    let c2 = totp.at_offset(now, 1235).unwrap().code;
    let day = one_day_steps(&totp);
    c.bench_function("drift_one_day_two_codes", |b| {
        b.iter(|| drift_search(&totp, black_box(now), c1.expose(), Some(c2.expose()), day))
    });
}

criterion_group!(benches, codes, drift);

/// `cargo bench` runs the benchmarks. `cargo test --all-targets` runs this target too, without
/// `--bench`: criterion would then print a "Testing …" and "Success" line per benchmark into the
/// test results, so each measured body runs once here instead, silently.
fn main() {
    if std::env::args().any(|a| a == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    }
    let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
    for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        black_box(Hotp::new(&secret, alg, Digits::SIX).value(black_box(1)));
    }
    let totp = Totp::new(&secret, TotpParams::default());
    let now = 1_764_000_000;
    let c1 = totp.at_offset(now, 1234).unwrap().code;
    let c2 = totp.at_offset(now, 1235).unwrap().code;
    black_box(drift_search(
        &totp,
        now,
        c1.expose(),
        Some(c2.expose()),
        one_day_steps(&totp),
    ));
}
