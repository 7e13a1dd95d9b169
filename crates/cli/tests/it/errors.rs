//! Every malformed input gets exit 2 and a message a helpdesk person understands, never a
//! panic, and never the secret echoed back.

use super::*;

/// (arguments, phrase the message must contain)
const CASES: &[(&[&str], &str)] = &[
    (&["otp", ""], "the secret is empty"),
    (&["otp", "   "], "the secret is empty"),
    (
        &["otp", "2sk2tsm0jp7kdbck"],
        "character 8 ('0') is not base32",
    ),
    (
        &["otp", "2sk2tsm1jp7kdbck"],
        "did you mean the letter I or L",
    ),
    (
        &["otp", "2SK2TSMKJP7KDBCKA"],
        "17 base32 characters, which is not a whole number of bytes",
    ),
    (&["otp", "2SK2TSMK==JP7KDBCK"], "'=' padding"),
    (
        &["otp", "JBSWY3DP"],
        "fewer than the 80 required; pass --allow-short",
    ),
    (&["otp", "hex:313233343536373839303"], "an even count"),
    (&["otp", "hex:31323334353637383930zz"], "is not a hex digit"),
    (
        &["otp", "phonefactor://activate_account?code=1&url=x"],
        "I want to use a different authenticator app",
    ),
    (&["otp", "FIDO:/0123456789"], "passkey"),
    (&["otp", "8659632001234"], "serial-number barcode"),
    (
        &["otp", "https://aka.ms/mysecurityinfo"],
        "this is a https: link, not a TOTP seed",
    ),
    (&["otp", "otpauth://totp/x"], "no secret= parameter"),
    (
        &["otp", "otpauth://hotp/x?secret=2sk2tsmkjp7kdbck"],
        "no counter= parameter",
    ),
    (
        &["otp", "otpauth://xotp/x?secret=2sk2tsmkjp7kdbck"],
        "totp or hotp",
    ),
    (
        &["otp", "otpauth://totp/x?secret=2sk2tsmkjp7kdbck&digits=12"],
        "12 digits is not supported",
    ),
    (
        &[
            "otp",
            "otpauth://totp/x?secret=2sk2tsmkjp7kdbck&period=7200",
        ],
        "7200 s is not supported",
    ),
    (
        &[
            "otp",
            "otpauth://totp/x?secret=2sk2tsmkjp7kdbck&algorithm=MD5",
        ],
        "unknown algorithm",
    ),
    (
        &["otp", "otpauth-migration://offline?data=%%%"],
        "export is damaged",
    ),
    (
        &["otp", "--digits", "5", "2sk2tsmkjp7kdbck"],
        "5 digits is not supported",
    ),
    (
        &["otp", "--period", "0", "2sk2tsmkjp7kdbck"],
        "0 s is not supported",
    ),
    (
        &["otp", "--at", "tomorrow", "2sk2tsmkjp7kdbck"],
        "--at takes Unix seconds",
    ),
    (
        &["otp", "--at", "1969-01-01T00:00:00Z", "2sk2tsmkjp7kdbck"],
        "before 1970",
    ),
    (
        &["otp", "--t0", "100", "--at", "50", "2sk2tsmkjp7kdbck"],
        "before T0",
    ),
    (
        &["otp", "--future", "200000000", "2sk2tsmkjp7kdbck"],
        "must stay below",
    ),
    (&["seed", "show", "2sk2tsm0jp7kdbck"], "is not base32"),
    (&["drift", "2sk2tsm0jp7kdbck", "123456"], "is not base32"),
];

#[test]
fn malformed_input_is_explained() {
    for (args, phrase) in CASES {
        let o = tokendesk().args(*args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("tokendesk: error: "), "{args:?}: {err}");
        assert!(err.contains(phrase), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn errors_do_not_echo_the_secret() {
    // A 32-character secret with one bad character at the end: the message must not contain
    // any 8-character run of it.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1";
    let o = tokendesk().args(["otp", secret]).output().unwrap();
    let err = stderr(&o);
    for window in secret.as_bytes().windows(8) {
        let piece = std::str::from_utf8(window).unwrap();
        assert!(!err.to_uppercase().contains(piece), "{err}");
    }
    let uri = format!("otpauth://totp/x?secret={secret}");
    let err = stderr(&tokendesk().args(["otp", &uri]).output().unwrap());
    assert!(!err.contains(&secret[..16]), "{err}");
}

#[test]
fn stdin_must_hold_one_secret() {
    let o = tokendesk()
        .args(["otp", "-"])
        .write_stdin("2sk2tsmkjp7kdbck\nJBSWY3DPEHPK3PXP\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("more than one line"));
    let o = tokendesk()
        .args(["otp", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"));
}

#[test]
fn hostile_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1234);
    for _ in 0..200 {
        let len = rng.below(200) as usize;
        let bytes: Vec<u8> = rng.bytes(len).into_iter().filter(|b| *b != 0).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let o = tokendesk().args(["otp", "--", &text]).output().unwrap();
        assert!(matches!(o.status.code(), Some(0 | 2)), "{text:?}");
        assert!(!stderr(&o).contains("panicked"), "{text:?}");
    }
}
