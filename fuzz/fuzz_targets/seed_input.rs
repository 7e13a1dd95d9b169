//! Fuzzes everything that reads operator- or QR-supplied text: classification, base32, hex,
//! otpauth and otpauth-migration parsing. Nothing may panic, and no error message may contain
//! a long run of the input (which could be a secret).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_otp::{OtpAuth, ParseOptions, SeedInput, decode_base32, decode_hex};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for options in [
        ParseOptions::default(),
        ParseOptions { allow_short: true, hex: false },
        ParseOptions { allow_short: true, hex: true },
    ] {
        if let Err(e) = SeedInput::parse_with(text, options) {
            let msg = e.to_string().to_ascii_uppercase();
            let upper = text.trim().to_ascii_uppercase();
            let trimmed = upper.as_str();
            // A 12-character base32-looking slice of the input in a message would be a leak
            // (messages themselves never hold such runs).
            if trimmed.len() >= 12 && trimmed.is_ascii() {
                for w in trimmed.as_bytes().windows(12) {
                    let piece = std::str::from_utf8(w).unwrap_or("");
                    let b32 = piece.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
                    assert!(!(b32 && msg.contains(piece)), "error echoes input: {msg}");
                }
            }
        }
    }
    let _ = OtpAuth::parse(text, true);
    let _ = decode_base32(text, true);
    let _ = decode_hex(text, true);
    let uri = format!("otpauth-migration://offline?data={text}");
    let _ = SeedInput::parse(&uri);
});
