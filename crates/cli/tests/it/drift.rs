//! `tokendesk drift`: found, not found and ambiguous, with exit codes.

use serde_json::Value;

use super::*;

const NOW: &str = "1764320000";

fn code_at(offset: i64) -> String {
    let t = (1_764_320_000i64 + offset * 30).to_string();
    ok(&["otp", "--at", &t, RFC_SHA1]).trim().to_owned()
}

#[test]
fn finds_a_token_running_ahead() {
    let (c1, c2) = (code_at(3), code_at(4));
    let out = ok(&["drift", "--at", NOW, RFC_SHA1, &c1, &c2]);
    assert_eq!(
        out,
        "found: the token is 3 steps ahead of this computer's clock (+90 s)\n"
    );
    let v: Value =
        serde_json::from_str(&ok(&["drift", "--json", "--at", NOW, RFC_SHA1, &c1, &c2])).unwrap();
    assert_eq!(v["result"], "found");
    assert_eq!(v["offset_steps"], 3);
    assert_eq!(v["drift_secs"], 90);
    assert_eq!(v["window_steps"], 2880);
}

#[test]
fn in_step_and_behind() {
    let out = ok(&["drift", "--at", NOW, RFC_SHA1, &code_at(0), &code_at(1)]);
    assert!(out.starts_with("in step"), "{out}");
    let out = ok(&["drift", "--at", NOW, RFC_SHA1, &code_at(-2), &code_at(-1)]);
    assert!(
        out.contains("2 steps behind") && out.contains("-60 s"),
        "{out}"
    );
}

#[test]
fn not_found_is_exit_one() {
    let c = code_at(100);
    let o = tokendesk()
        .args(["drift", "--window", "10", "--at", NOW, RFC_SHA1, &c])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("not found within ±10 steps"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn ambiguity_is_reported_and_resolved_by_a_second_code() {
    // Find a code that repeats within ±20,000 steps, then check both answers.
    let mut found = None;
    for offset in 0..200 {
        let c = code_at(offset);
        let o = tokendesk()
            .args([
                "drift", "--json", "--window", "20000", "--at", NOW, RFC_SHA1, &c,
            ])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        if v["result"] == "ambiguous" {
            assert_eq!(o.status.code(), Some(1));
            found = Some(offset);
            break;
        }
        assert_eq!(v["result"], "found");
        assert_eq!(v["offset_steps"], offset);
    }
    // Each code has 40,000 other candidates: about 4% repeat, so 200 tries find one.
    let offset = found.expect("no repeated code among 200");
    let out = ok(&[
        "drift",
        "--window",
        "20000",
        "--at",
        NOW,
        RFC_SHA1,
        &code_at(offset),
        &code_at(offset + 1),
    ]);
    assert!(
        out.starts_with("found") || out.starts_with("in step"),
        "{out}"
    );
}

#[test]
fn codes_must_look_like_codes() {
    for bad in ["12345", "1234567", "12a456"] {
        let o = tokendesk().args(["drift", RFC_SHA1, bad]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("6 digits"));
    }
    // Spaces as people type them are fine.
    let c = code_at(0);
    let spaced = format!("{} {}", &c[..3], &c[3..]);
    ok(&["drift", "--at", NOW, RFC_SHA1, &spaced]);
}
