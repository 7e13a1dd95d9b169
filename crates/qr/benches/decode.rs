//! In-process decode time per screenshot (criterion): `cargo bench -p tokendesk-qr`.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/screens/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn decode(c: &mut Criterion) {
    // 1920x1080 JPEG with a small blurred code; 1920x1080 PNG without a code (the worst
    // case: every proposal and the coarse pass fail); 2238x1316 PNG with a large code.
    for name in ["002.jpg", "025.png", "007.png"] {
        let bytes = fixture(name);
        c.bench_function(&format!("decode_image/{name}"), |b| {
            b.iter(|| tokendesk_qr::decode_image(std::hint::black_box(&bytes)).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = decode
}

/// `cargo bench` runs the benchmarks. `cargo test --all-targets` runs this target too, without
/// `--bench`: criterion would then print a "Testing …" and "Success" line per benchmark into the
/// test results, so each screenshot is decoded once here instead, silently.
fn main() {
    if std::env::args().any(|a| a == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    }
    for name in ["002.jpg", "025.png", "007.png"] {
        std::hint::black_box(tokendesk_qr::decode_image(&fixture(name)).unwrap());
    }
}
