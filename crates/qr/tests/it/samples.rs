//! The screen-share samples (copied from the shared test data, with their manifest):
//! every seed found that the decoder can find, never a wrong one, decoys seen for what they are.

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/screens")
}

struct Sample {
    file: String,
    kind: String,
    secret: Option<String>,
}

fn manifest() -> Vec<Sample> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Sample {
            file: e["file"].as_str().unwrap().to_owned(),
            kind: e["kind"].as_str().unwrap().to_owned(),
            secret: e["secret"].as_str().map(str::to_owned),
        })
        .collect()
}

/// The base32 secret of an otpauth payload, upper-cased (Microsoft writes it lowercase).
fn secret_of(payload: &str) -> Option<String> {
    let query = payload.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .map(str::to_uppercase)
}

/// Lower bound on seeds found; raise it when the decoder improves, never lower it quietly.
const MIN_SEEDS_FOUND: usize = 34;

#[test]
fn samples_give_enough_seeds_and_never_a_wrong_one() {
    let samples = manifest();
    assert_eq!(samples.len(), 40, "manifest changed");
    let mut found = 0;
    let mut missed = Vec::new();
    for s in &samples {
        let bytes = std::fs::read(fixtures().join(&s.file)).unwrap();
        let codes = tokendesk_qr::decode_image(&bytes).unwrap();
        let secrets: Vec<String> = codes
            .iter()
            .filter(|c| c.expose_payload().starts_with("otpauth://"))
            .map(|c| secret_of(c.expose_payload()).expect("otpauth without secret"))
            .collect();
        match (s.kind.as_str(), &s.secret) {
            ("otpauth", Some(want)) => {
                assert!(
                    secrets.iter().all(|got| got == want),
                    "{}: a decoded seed differs from the manifest",
                    s.file
                );
                if secrets.is_empty() {
                    missed.push(s.file.clone());
                } else {
                    found += 1;
                }
            }
            ("phonefactor", _) => {
                assert!(secrets.is_empty(), "{}: decoy gave a seed", s.file);
                for c in &codes {
                    assert!(
                        c.expose_payload().starts_with("phonefactor://"),
                        "{}",
                        s.file
                    );
                }
            }
            ("none", _) => assert!(
                codes.is_empty(),
                "{}: found a code in an image without one",
                s.file
            ),
            (kind, _) => panic!("unknown kind {kind}"),
        }
    }
    assert!(
        found >= MIN_SEEDS_FOUND,
        "found {found} seeds, expected at least {MIN_SEEDS_FOUND}; missed {missed:?}"
    );
}

#[test]
fn phonefactor_decoy_is_decoded_for_what_it_is() {
    // A decoy must come back as its phonefactor:// payload, so the caller can explain it.
    let bytes = std::fs::read(fixtures().join("015.png")).unwrap();
    let codes = tokendesk_qr::decode_image(&bytes).unwrap();
    assert_eq!(codes.len(), 1);
    assert!(codes[0].expose_payload().starts_with("phonefactor://"));
}

#[test]
fn corners_of_a_sample_code_lie_on_the_code() {
    // 007.png shows the code at about x 460..800, y 485..825 (2238x1316 screenshot).
    let bytes = std::fs::read(fixtures().join("007.png")).unwrap();
    let codes = tokendesk_qr::decode_image(&bytes).unwrap();
    assert_eq!(codes.len(), 1);
    for (x, y) in codes[0].corners() {
        assert!(
            (420..840).contains(&x) && (440..870).contains(&y),
            "corner {x},{y}"
        );
    }
}
