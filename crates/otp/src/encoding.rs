//! Base32 (RFC 4648) and hex decoding of typed or pasted secrets, straight into zeroizing
//! buffers, with errors that point at the offending character (formats.md "Secrets").

use zeroize::Zeroizing;

use crate::error::InputError;
use crate::secret::Secret;

/// Shortest secret accepted without `allow_short` (formats.md: 80 bits).
pub const MIN_SECRET_BYTES: usize = 10;
/// Longest secret accepted at all; far above any real seed, it bounds work on hostile input.
pub const MAX_SECRET_BYTES: usize = 1024;

/// Separators people paste along with secrets: Microsoft groups by four with spaces, others
/// use hyphens.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == '-'
}

fn base32_value(c: char) -> Option<u8> {
    match c.to_ascii_uppercase() {
        // The ranges make the narrowing exact.
        u @ 'A'..='Z' => Some(u as u8 - b'A'),
        d @ '2'..='7' => Some(d as u8 - b'2' + 26),
        _ => None,
    }
}

/// Decodes base32 as people paste it: any case, spaces and hyphens anywhere, `=` padding at the
/// end or none. Bits past the last whole byte are ignored, as every common tool does.
///
/// # Errors
/// The first bad character and its 1-based position, misplaced padding, an impossible length
/// (mod 8 of 1, 3 or 6), or a length outside the accepted range.
pub fn decode_base32(text: &str, allow_short: bool) -> Result<Secret, InputError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8 + 1));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut chars = 0usize;
    let mut padding_at: Option<usize> = None;
    for (i, c) in text.chars().enumerate() {
        let position = i + 1;
        if is_separator(c) {
            continue;
        }
        if c == '=' {
            padding_at.get_or_insert(position);
            continue;
        }
        if let Some(at) = padding_at {
            return Err(InputError::MisplacedPadding { position: at });
        }
        let v = base32_value(c).ok_or(InputError::NotBase32 {
            position,
            character: c,
        })?;
        chars += 1;
        acc = ((acc << 5) | u32::from(v)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            // Masked to one byte.
            out.push(((acc >> bits) & 0xff) as u8);
            if out.len() > MAX_SECRET_BYTES {
                return Err(InputError::TooLong {
                    bytes: chars * 5 / 8,
                    max: MAX_SECRET_BYTES,
                });
            }
        }
    }
    zeroize::Zeroize::zeroize(&mut acc);
    if chars == 0 {
        return Err(InputError::Empty);
    }
    if matches!(chars % 8, 1 | 3 | 6) {
        return Err(InputError::Base32Length { chars });
    }
    check_length(out.len(), allow_short)?;
    Ok(Secret::from_bytes(std::mem::take(&mut *out)))
}

/// Decodes hex (either case; spaces, hyphens and colons between bytes are ignored).
///
/// # Errors
/// The first bad character and its 1-based position, an odd digit count, or a length outside
/// the accepted range.
pub fn decode_hex(text: &str, allow_short: bool) -> Result<Secret, InputError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    let mut high: Option<u8> = None;
    let mut digits = 0usize;
    for (i, c) in text.chars().enumerate() {
        if is_separator(c) || c == ':' {
            continue;
        }
        let v = c.to_digit(16).ok_or(InputError::NotHex {
            position: i + 1,
            character: c,
        })?;
        digits += 1;
        // A hex digit is below 16.
        let v = v as u8;
        match high.take() {
            None => high = Some(v),
            Some(h) => {
                out.push((h << 4) | v);
                if out.len() > MAX_SECRET_BYTES {
                    return Err(InputError::TooLong {
                        bytes: digits / 2,
                        max: MAX_SECRET_BYTES,
                    });
                }
            }
        }
    }
    if digits == 0 {
        return Err(InputError::Empty);
    }
    if high.is_some() {
        return Err(InputError::HexOddLength { digits });
    }
    check_length(out.len(), allow_short)?;
    Ok(Secret::from_bytes(std::mem::take(&mut *out)))
}

pub(crate) fn check_length(bytes: usize, allow_short: bool) -> Result<(), InputError> {
    if bytes == 0 {
        return Err(InputError::Empty);
    }
    if bytes < MIN_SECRET_BYTES && !allow_short {
        return Err(InputError::TooShort { bits: bytes * 8 });
    }
    if bytes > MAX_SECRET_BYTES {
        return Err(InputError::TooLong {
            bytes,
            max: MAX_SECRET_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn b32(s: &str) -> Result<String, InputError> {
        decode_base32(s, false).map(|s| s.to_base32().to_string())
    }

    #[test]
    fn accepts_the_forms_people_paste() {
        for s in [
            "2sk2tsmkjp7kdbck",
            "2SK2TSMKJP7KDBCK",
            "2sk2 tsmk jp7k dbck",
            " 2sk2-tsmk-jp7k-dbck\n",
            "2SK2TSMKJP7KDBCK====",
            "2sk2\ttsmk\u{a0}jp7k dbck",
        ] {
            assert_eq!(b32(s).unwrap(), "2SK2TSMKJP7KDBCK", "{s:?}");
        }
    }

    #[test]
    fn names_the_bad_character_and_its_position() {
        let err = b32("2sk2 ts0k").unwrap_err();
        assert_eq!(
            err,
            InputError::NotBase32 {
                position: 8,
                character: '0'
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("character 8"), "{msg}");
        assert!(msg.contains("letter O"), "{msg}");
        assert!(matches!(
            b32("ABCDEFGH1"),
            Err(InputError::NotBase32 { position: 9, .. })
        ));
    }

    #[test]
    fn rejects_impossible_lengths() {
        // 17, 19 and 22 characters leave 1, 3 and 6 characters in the last group.
        for (s, chars) in [
            ("2SK2TSMKJP7KDBCKA", 17),
            ("2SK2TSMKJP7KDBCKABC", 19),
            ("2SK2TSMKJP7KDBCKABCDEF", 22),
        ] {
            assert_eq!(b32(s).unwrap_err(), InputError::Base32Length { chars });
        }
    }

    #[test]
    fn padding_only_at_the_end() {
        assert_eq!(
            b32("2SK2TSMK==JP7KDBCK").unwrap_err(),
            InputError::MisplacedPadding { position: 9 }
        );
    }

    #[test]
    fn empty_and_short_and_long() {
        assert_eq!(b32("  - ").unwrap_err(), InputError::Empty);
        assert_eq!(b32("").unwrap_err(), InputError::Empty);
        assert_eq!(
            b32("JBSWY3DP").unwrap_err(),
            InputError::TooShort { bits: 40 }
        );
        assert_eq!(decode_base32("JBSWY3DP", true).unwrap().len(), 5);
        let long = "A".repeat(MAX_SECRET_BYTES * 2);
        assert!(matches!(b32(&long), Err(InputError::TooLong { .. })));
    }

    #[test]
    fn hex_decoding() {
        let s = decode_hex("3132 3334:3536-3738 3930", false).unwrap();
        assert_eq!(s.expose_bytes(), b"1234567890");
        assert_eq!(
            decode_hex("313", true).unwrap_err(),
            InputError::HexOddLength { digits: 3 }
        );
        assert_eq!(
            decode_hex("31g2", true).unwrap_err(),
            InputError::NotHex {
                position: 3,
                character: 'g'
            }
        );
    }

    #[test]
    fn errors_never_echo_the_secret() {
        let input = "JBSWY3DPEHPK3PXP1";
        let msg = decode_base32(input, false).unwrap_err().to_string();
        assert!(!msg.contains("JBSWY3DP"), "{msg}");
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 10..200)) {
            let s = Secret::from_bytes(bytes.clone());
            let text = s.to_base32();
            let back = decode_base32(&text, false).unwrap();
            prop_assert_eq!(back.expose_bytes(), &bytes[..]);
            // Lowercase, grouped by four with spaces, padded: still the same secret.
            let grouped: String = text.to_lowercase().as_bytes().chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
            let padded = format!("{grouped}{}", "=".repeat((8 - text.len() % 8) % 8));
            let back = decode_base32(&padded, false).unwrap();
            prop_assert_eq!(back.expose_bytes(), &bytes[..]);
        }

        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 10..200)) {
            let s = Secret::from_bytes(bytes.clone());
            let lower = decode_hex(&s.to_hex(), false).unwrap();
            let upper = decode_hex(&s.to_hex().to_uppercase(), false).unwrap();
            prop_assert_eq!(lower.expose_bytes(), &bytes[..]);
            prop_assert_eq!(upper.expose_bytes(), &bytes[..]);
        }

        #[test]
        fn decoding_never_panics(text in ".{0,80}") {
            let _ = decode_base32(&text, false);
            let _ = decode_hex(&text, true);
        }
    }
}
