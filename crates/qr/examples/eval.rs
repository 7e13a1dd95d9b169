//! Evaluation over a sample directory with manifest.json: seeds found, wrong seeds, time.
//! `cargo run --release -p tokendesk-qr --example eval -- DIR`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: eval DIR");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/manifest.json")).unwrap())
            .unwrap();
    let (mut found, mut wrong, mut seeds) = (0, 0, 0);
    let start = Instant::now();
    for entry in manifest.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let t = Instant::now();
        let codes = tokendesk_qr::decode_image(&bytes).unwrap();
        let took = t.elapsed();
        let want = entry["secret"].as_str();
        if want.is_some() {
            seeds += 1;
        }
        let texts: Vec<String> = codes
            .iter()
            .map(|c| c.expose_payload().to_uppercase())
            .collect();
        let hit = want.is_some_and(|w| texts.iter().any(|t| t.contains(&format!("SECRET={w}"))));
        let bad = texts
            .iter()
            .any(|t| t.starts_with("OTPAUTH") && !want.is_some_and(|w| t.contains(w)));
        found += usize::from(hit);
        wrong += usize::from(bad);
        let kinds: Vec<&str> = texts
            .iter()
            .map(|t| t.split(':').next().unwrap_or(""))
            .collect();
        println!(
            "{file} {:>11} dark={:<5} {:>4} ms hit={hit:<5} {kinds:?}",
            entry["kind"].as_str().unwrap(),
            entry["dark"],
            took.as_millis()
        );
    }
    println!(
        "found {found}/{seeds} seeds, {wrong} wrong, total {:?}",
        start.elapsed()
    );
}
