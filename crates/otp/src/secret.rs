//! The seed (`Secret`) and one-time code (`Code`) types: bytes wiped on drop, never formatted.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A TOTP/HOTP seed. Its bytes are wiped on drop and never formatted: `Debug` shows only the
/// length, and there is no `Display`, `Serialize` or `PartialEq` (compare with [`Secret::ct_eq`]).
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps raw seed bytes. The vector is moved, so no unzeroized copy is left behind.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random seed of `len` bytes from the operating system's CSPRNG (the only system
    /// call this crate makes).
    ///
    /// # Errors
    /// When the operating system cannot provide randomness.
    pub fn generate(len: usize) -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The raw bytes, for HMAC, sealing and burning only. Do not log or store them.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a zero-length seed (never produced by the parsers, which refuse empty input).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bits, as shown to operators ("80-bit Microsoft seed").
    pub fn bits(&self) -> usize {
        self.0.len() * 8
    }

    /// Canonical base32: uppercase, no spaces, no padding (formats.md).
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }

    /// Canonical base32 in groups of four (`2SK2 TSMK JP7K DBCK`), as Microsoft shows it and
    /// as people read it out.
    pub fn to_base32_grouped(&self) -> Zeroizing<String> {
        let b32 = self.to_base32();
        let mut out = Zeroizing::new(String::with_capacity(b32.len() * 5 / 4));
        for (i, c) in b32.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// Lowercase hex, for tools that want it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::HEXLOWER.encode(&self.0))
    }

    /// Constant-time equality, so comparing seeds leaks nothing through timing.
    pub fn ct_eq(&self, other: &Secret) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }

    /// A copy with its own zeroizing buffer (explicit, so copies are visible in review).
    pub fn duplicate(&self) -> Self {
        Self(Zeroizing::new(self.0.to_vec()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// Most digits a code can have (RFC 4226 allows 6 to 10 for a 31-bit value).
pub(crate) const MAX_DIGITS: usize = 10;

/// A one-time code: ASCII digits in a fixed buffer (no allocation in bulk loops), wiped on
/// drop, redacted in `Debug`, compared in constant time.
#[derive(Clone)]
pub struct Code {
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl Code {
    /// Formats `value` zero-padded to `len` digits (`len` is 6..=10, checked by `Digits`).
    pub(crate) fn from_value(value: u32, len: u8) -> Self {
        let mut digits = [b'0'; MAX_DIGITS];
        let mut v = value;
        let n = usize::from(len).min(MAX_DIGITS);
        for slot in digits.iter_mut().take(n).rev() {
            // `v % 10` is below 10, so the narrowing is exact.
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        Self {
            digits,
            len: n as u8,
        }
    }

    /// The digits, for showing to an authorised operator or comparing. Do not log them.
    pub fn expose(&self) -> &str {
        let bytes = self.digits.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only ASCII digits are ever written into the buffer.
        std::str::from_utf8(bytes).unwrap_or("")
    }

    /// Constant-time comparison with digits typed by a person (spaces already removed).
    pub fn ct_eq_str(&self, typed: &str) -> bool {
        let mine = self.expose().as_bytes();
        let theirs = typed.as_bytes();
        // Length is not secret (it is the configured digit count).
        mine.len() == theirs.len() && bool::from(mine.ct_eq(theirs))
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code(<{} digits redacted>)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_bytes() {
        let s = Secret::from_bytes(b"12345678901234567890".to_vec());
        let dbg = format!("{s:?}");
        assert_eq!(dbg, "Secret(<20 bytes redacted>)");
        assert!(!dbg.contains(s.to_base32().as_str()));
        assert!(!dbg.contains(s.to_hex().as_str()));
    }

    #[test]
    fn grouped_base32() {
        let s = Secret::from_bytes(vec![
            0xd4, 0x95, 0xa9, 0xc9, 0x8a, 0x4b, 0xfe, 0xa1, 0x84, 0x4a,
        ]);
        assert_eq!(s.to_base32_grouped().as_str(), "2SK2 TSMK JP7K DBCK");
        let odd = Secret::from_bytes(vec![0; 11]);
        assert_eq!(odd.to_base32_grouped().as_str(), "AAAA AAAA AAAA AAAA AA");
    }

    #[test]
    fn debug_never_shows_code_digits() {
        let c = Code::from_value(755_224, 6);
        assert_eq!(c.expose(), "755224");
        assert!(!format!("{c:?}").contains("755224"));
    }

    #[test]
    fn code_pads_with_leading_zeros() {
        assert_eq!(Code::from_value(42, 6).expose(), "000042");
        assert_eq!(Code::from_value(2_147_483_647, 10).expose(), "2147483647");
    }

    #[test]
    fn code_compares_exactly() {
        let c = Code::from_value(123_456, 6);
        assert!(c.ct_eq_str("123456"));
        assert!(!c.ct_eq_str("123457"));
        assert!(!c.ct_eq_str("1234567"));
        assert!(!c.ct_eq_str(""));
    }

    #[test]
    fn generated_secrets_differ_and_have_the_asked_length() {
        let a = Secret::generate(20).unwrap();
        let b = Secret::generate(20).unwrap();
        assert_eq!(a.len(), 20);
        assert!(!a.ct_eq(&b));
        assert!(a.ct_eq(&a.duplicate()));
    }
}
