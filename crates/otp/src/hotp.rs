//! HOTP (RFC 4226): algorithm and digit-count parameters, and the keyed generator.

use std::fmt;

use crate::error::ParamError;
use crate::keyed_hmac::{Algorithm, KeyedHmac};
use crate::secret::{Code, Secret};

/// Number of code digits, 6 to 10 (RFC 4226 §5.3 truncates to 31 bits, so 10 is the most).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// The usual six digits.
    pub const SIX: Digits = Digits(6);

    /// # Errors
    /// [`ParamError::Digits`] outside 6..=10.
    pub fn new(n: u32) -> Result<Self, ParamError> {
        match u8::try_from(n) {
            Ok(d @ 6..=10) => Ok(Self(d)),
            _ => Err(ParamError::Digits { given: n }),
        }
    }

    /// The count as a number.
    pub fn get(self) -> u8 {
        self.0
    }

    fn modulus(self) -> u64 {
        10u64.pow(u32::from(self.0))
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

/// A HOTP generator for one secret: the HMAC states are computed once here, so each code
/// afterwards costs two hash-block compressions.
#[derive(Clone)]
pub struct Hotp {
    mac: KeyedHmac,
    algorithm: Algorithm,
    digits: Digits,
}

impl fmt::Debug for Hotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotp")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits.0)
            .finish_non_exhaustive()
    }
}

impl Hotp {
    /// Keys a generator. Any key length works (HMAC hashes keys longer than a block).
    pub fn new(secret: &Secret, algorithm: Algorithm, digits: Digits) -> Self {
        Self {
            mac: KeyedHmac::new(algorithm, secret.expose_bytes()),
            algorithm,
            digits,
        }
    }

    /// The code's numeric value for `counter` (RFC 4226 §5.3 `HOTP(K, C) mod 10^Digit`). Bulk
    /// paths use this to avoid building `Code`s.
    pub fn value(&self, counter: u64) -> u32 {
        // The truncated value is below 2^31 and the result below it, so it fits a u32.
        (u64::from(self.mac.truncated(counter)) % self.digits.modulus()) as u32
    }

    /// The code for `counter`, zero-padded to the digit count.
    pub fn code(&self, counter: u64) -> Code {
        Code::from_value(self.value(counter), self.digits.0)
    }

    /// The hash in use.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digit count in use.
    pub fn digits(&self) -> Digits {
        self.digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: secret "12345678901234567890", counters 0..=9.
    const RFC4226: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    #[test]
    fn rfc4226_appendix_d() {
        let hotp = Hotp::new(
            &Secret::from_bytes(b"12345678901234567890".to_vec()),
            Algorithm::Sha1,
            Digits::SIX,
        );
        for (counter, expected) in RFC4226.iter().enumerate() {
            assert_eq!(hotp.code(counter as u64).expose(), *expected);
        }
    }

    #[test]
    fn digits_range_is_six_to_ten() {
        for n in [0, 5, 11, 255, 256, u32::MAX] {
            assert!(Digits::new(n).is_err(), "{n}");
        }
        for n in 6..=10 {
            assert_eq!(Digits::new(n).unwrap().get() as u32, n);
        }
    }

    #[test]
    fn algorithm_spellings() {
        for (s, a) in [
            ("SHA1", Algorithm::Sha1),
            ("sha1", Algorithm::Sha1),
            ("SHA-256", Algorithm::Sha256),
            ("hmacsha256", Algorithm::Sha256),
            ("Sha512", Algorithm::Sha512),
        ] {
            assert_eq!(s.parse::<Algorithm>().unwrap(), a);
        }
        assert!("md5".parse::<Algorithm>().is_err());
    }

    #[test]
    fn ten_digit_codes_keep_leading_zeros() {
        let hotp = Hotp::new(
            &Secret::from_bytes(b"12345678901234567890".to_vec()),
            Algorithm::Sha1,
            Digits::new(10).unwrap(),
        );
        // RFC 4226 Appendix D lists the truncated value for counter 0 as 1284755224.
        assert_eq!(hotp.code(0).expose(), "1284755224");
        assert_eq!(hotp.code(u64::MAX).expose().len(), 10);
    }
}
