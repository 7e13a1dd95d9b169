//! `tokendesk otp`: the RFC vectors through the real binary, and every output form.

use serde_json::Value;

use super::*;

/// RFC 6238 Appendix B: (time, SHA1, SHA256, SHA512), 8 digits.
const APPENDIX_B: [(&str, &str, &str, &str); 6] = [
    ("59", "94287082", "46119246", "90693936"),
    ("1111111109", "07081804", "68084774", "25091201"),
    ("1111111111", "14050471", "67062674", "99943326"),
    ("1234567890", "89005924", "91819424", "93441116"),
    ("2000000000", "69279037", "90698825", "38618901"),
    ("20000000000", "65353130", "77737706", "47863826"),
];

#[test]
fn rfc6238_appendix_b_through_the_cli() {
    for (t, sha1, sha256, sha512) in APPENDIX_B {
        for (alg, key, expected) in [
            ("sha1", RFC_SHA1, sha1),
            ("sha256", RFC_SHA256, sha256),
            ("sha512", RFC_SHA512, sha512),
        ] {
            let out = ok(&["otp", "--at", t, "--digits", "8", "--algorithm", alg, key]);
            assert_eq!(out, format!("{expected}\n"), "{alg} at {t}");
        }
    }
}

#[test]
fn rfc4226_appendix_d_through_the_cli() {
    let uri = format!("otpauth://hotp/rfc4226?secret={RFC_SHA1}&counter=0");
    let out = ok(&["otp", "--codes", "--future", "9", &uri]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489"
        ]
    );
}

#[test]
fn rfc3339_times_are_the_same_instant() {
    let a = ok(&[
        "otp",
        "--digits",
        "8",
        "--at",
        "2009-02-13T23:31:30Z",
        RFC_SHA1,
    ]);
    let b = ok(&[
        "otp",
        "--digits",
        "8",
        "--at",
        "2009-02-14T00:31:30+01:00",
        RFC_SHA1,
    ]);
    assert_eq!(a, "89005924\n");
    assert_eq!(a, b);
}

#[test]
fn json_has_codes_and_windows() {
    let out = ok(&[
        "otp", "--json", "--at", "59", "--past", "1", "--future", "2", RFC_SHA1,
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["algorithm"], "SHA1");
    assert_eq!(v["digits"], 6);
    assert_eq!(v["period"], 30);
    let codes = v["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 4);
    for (i, c) in codes.iter().enumerate() {
        assert_eq!(c["offset"], i as i64 - 1);
        assert_eq!(c["valid_from"], 30 * i as u64);
        assert_eq!(c["valid_until"], 30 * (i as u64 + 1));
        assert_eq!(c["code"].as_str().unwrap().len(), 6);
    }
    assert_eq!(codes[1]["code"], "287082");
}

#[test]
fn past_is_clamped_at_step_zero() {
    let out = ok(&["otp", "--codes", "--at", "59", "--past", "5", RFC_SHA1]);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn table_shows_windows_and_seconds_left() {
    let out = ok(&[
        "otp",
        "--utc",
        "--at",
        "1234567890",
        "--past",
        "1",
        "--future",
        "1",
        RFC_SHA1,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("SHA1 · 6 digits · 30 s steps · times in UTC"),
        "{out}"
    );
    assert!(lines[3].contains("current, 30 s left"), "{out}");
    assert!(lines[2].trim_start().starts_with("-1"), "{out}");
    assert!(lines[4].trim_start().starts_with("+1"), "{out}");
    assert!(
        out.contains("future code works only inside its window"),
        "{out}"
    );
}

#[test]
fn stdin_keeps_the_secret_out_of_argv() {
    let out = tokendesk()
        .args(["otp", "--at", "59", "--digits", "8", "-"])
        .write_stdin(format!("{RFC_SHA1}\n"))
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "94287082\n");
}

#[test]
fn uri_brings_its_own_parameters() {
    let uri = format!(
        "otpauth://totp/ACME:alice?secret={RFC_SHA256}&algorithm=SHA256&digits=8&period=30"
    );
    assert_eq!(ok(&["otp", "--at", "59", &uri]), "46119246\n");
    // Restating a parameter is fine; contradicting it is an error.
    assert_eq!(
        ok(&["otp", "--at", "59", "--digits", "8", &uri]),
        "46119246\n"
    );
    let o = tokendesk()
        .args(["otp", "--at", "59", "--digits", "6", &uri])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the otpauth link says digits=8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn microsoft_secret_as_shown_on_screen() {
    let a = ok(&["otp", "--at", "1764320000", "2sk2 tsmk jp7k dbck"]);
    let b = ok(&["otp", "--at", "1764320000", "2SK2TSMKJP7KDBCK"]);
    assert_eq!(a, b);
    assert_eq!(a.trim().len(), 6);
}
