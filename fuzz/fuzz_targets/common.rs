//! Checks shared by the import targets: parsing gives rows or row errors, never a panic, and no
//! seed a file held shows in the `Debug` output or in any message about the file.

use tokendesk_formats::{ImportFormat, Parsed, ReadError};

/// Upper-case letters and digits only, for a case-insensitive search.
fn squeeze(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Reads `bytes` as `format` and checks what comes back.
pub fn read_and_check(format: ImportFormat, bytes: &[u8]) {
    let normalise = |u: &str| {
        let u = u.trim();
        if u.is_empty() {
            Err("no user".to_owned())
        } else {
            Ok(u.to_ascii_lowercase())
        }
    };
    let creds = tokendesk_formats::pskc::Credentials {
        password: Some(b"fuzz"),
        preshared_key: Some(&[7; 16]),
    };
    let _ = tokendesk_formats::detect(bytes);
    match tokendesk_formats::read(format, bytes, &creds, &normalise) {
        Ok((parsed, _scheme)) => check_parsed(&parsed, bytes),
        Err(e) => check_error(&e),
    }
}

/// No seed shows more often than the file itself shows its text outside the seed's own field:
/// the fuzzer copies runs between fields (a user name that reads like a seed, as base32 or as
/// hex), which are rightly echoed as those fields. The base32 form is allowed one occurrence in
/// the file less (the seed's own field); the hex form as many as the file has (a seed given as
/// hex is still caught in its base32 form). Output is compared as written, upper-cased, not
/// squeezed: squeezed, the words of a message run together into seed-like text.
fn check_parsed(parsed: &Parsed, input: &[u8]) {
    let input = squeeze(&String::from_utf8_lossy(input));
    let shown = format!("{parsed:?}").to_ascii_uppercase();
    let said = parsed.errors.join("\n").to_ascii_uppercase();
    for row in &parsed.rows {
        assert!(row.digits >= 6 && row.digits <= 10, "digits {}", row.digits);
        assert!(row.period_secs > 0, "period 0");
        let b32 = row.secret.to_base32().to_ascii_uppercase();
        let grouped = row.secret.to_base32_grouped().to_ascii_uppercase();
        let hex = row.secret.to_hex().to_ascii_uppercase();
        // Short secrets are refused by the parsers; a 16-character run is a real seed.
        if b32.len() >= 16 {
            let allowed = input.matches(b32.as_str()).count().saturating_sub(1);
            for form in [&b32, &grouped] {
                let seen = shown.matches(form.as_str()).count();
                assert!(seen <= allowed, "a seed is in the Debug output");
                let seen = said.matches(form.as_str()).count();
                assert!(seen <= allowed, "a seed is in a row error");
            }
        }
        if hex.len() >= 32 {
            let allowed = input.matches(hex.as_str()).count();
            let seen = shown.matches(hex.as_str()).count();
            assert!(seen <= allowed, "a seed (hex) is in the Debug output");
        }
    }
}

fn check_error(e: &ReadError) {
    let text = e.to_string();
    assert!(!text.is_empty(), "an empty error message");
    assert!(text.len() < 4096, "an error message of {} bytes", text.len());
}
