//! `tokendesk seed new|show`.

use serde_json::Value;

use super::*;

#[test]
fn new_seeds_are_random_and_sized() {
    let a = ok(&["seed", "new"]);
    let b = ok(&["seed", "new"]);
    assert_ne!(a, b);
    assert_eq!(a.trim().len(), 32);
    let v: Value = serde_json::from_str(&ok(&["seed", "new", "--bytes", "32", "--json"])).unwrap();
    assert_eq!(v["bits"], 256);
    assert_eq!(v["hex"].as_str().unwrap().len(), 64);
    // What seed new prints, otp reads.
    ok(&["otp", a.trim()]);
}

#[test]
fn new_refuses_silly_lengths() {
    for bytes in ["0", "9", "100000"] {
        let o = tokendesk()
            .args(["seed", "new", "--bytes", bytes])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bytes}");
    }
    assert_eq!(
        ok(&["seed", "new", "--bytes", "5", "--allow-short"])
            .trim()
            .len(),
        8
    );
}

#[test]
fn show_gives_every_form_and_acceptance() {
    let out = ok(&[
        "seed",
        "show",
        "--issuer",
        "Contoso",
        "--account",
        "alice@contoso.com",
        "2sk2 tsmk jp7k dbck",
    ]);
    assert!(out.contains("base32     2SK2TSMKJP7KDBCK"), "{out}");
    assert!(out.contains("grouped    2SK2 TSMK JP7K DBCK"), "{out}");
    assert!(out.contains("hex        d495a9c98a4bfea1844a"), "{out}");
    assert!(out.contains("10 bytes (80 bits)"), "{out}");
    assert!(
        out.contains(
            "otpauth://totp/Contoso:alice%40contoso.com?secret=2SK2TSMKJP7KDBCK&issuer=Contoso"
        ),
        "{out}"
    );
    assert!(out.contains("Entra ID   accepted"), "{out}");
    assert!(out.contains("Token2     accepted"), "{out}");
}

#[test]
fn show_explains_what_tokens_refuse() {
    let key = "hex:".to_owned() + &"ab".repeat(64);
    let uri_out = ok(&["seed", "show", "--json", &key]);
    let v: Value = serde_json::from_str(&uri_out).unwrap();
    assert_eq!(v["token2"]["accepted"], false);
    assert!(
        v["token2"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("64 bytes")
    );
    assert_eq!(v["entra_id"]["accepted"], true);
    let sha512 = format!("otpauth://totp/x?secret={RFC_SHA1}&algorithm=SHA512&period=45");
    let v: Value = serde_json::from_str(&ok(&["seed", "show", "--json", &sha512])).unwrap();
    assert_eq!(v["entra_id"]["accepted"], false);
    let reasons = v["entra_id"]["reasons"].to_string();
    assert!(
        reasons.contains("SHA512") && reasons.contains("45 s"),
        "{reasons}"
    );
}
