//! The seed as the token takes it: 1–63 raw bytes, zero-extended to 20, padded (§5.2, §5.3).

use core::fmt;

use zeroize::Zeroizing;

use crate::crypto;

/// Longest seed a single-profile token stores.
pub const MAX_SEED_LEN: usize = 63;

/// Seeds shorter than this are zero-extended before encryption (§5.2). HMAC zero-pads keys
/// up to its 64-byte block anyway, so the codes do not change.
pub const MIN_WIRE_SEED_LEN: usize = 20;

/// Why a seed cannot be burnt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// No bytes at all.
    #[error("the seed is empty; give the base32 key shown under \"Can't scan image?\"")]
    Empty,
    /// More than the token stores.
    #[error("the seed has {len} bytes; single-profile tokens store at most 63")]
    TooLong {
        /// Seed length in bytes.
        len: usize,
    },
    /// Exactly 48 bytes: the vendor tool and the device model disagree on its padding.
    #[error(
        "48-byte seeds are refused: their on-wire padding is disputed between the vendor tool \
         and the device firmware, so the token could store a different seed; use a seed of \
         another length"
    )]
    Ambiguous48,
}

/// A seed ready for a token. Bytes are wiped on drop and never formatted.
pub struct Seed(Zeroizing<Vec<u8>>);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed(<{} bytes redacted>)", self.0.len())
    }
}

impl Seed {
    /// Checks the length rules of §5.2–§5.3 and copies the bytes into a wiped buffer.
    ///
    /// # Errors
    /// [`SeedError`] for empty, over-long (≥ 64) and 48-byte seeds.
    pub fn new(bytes: &[u8]) -> Result<Self, SeedError> {
        match bytes.len() {
            0 => Err(SeedError::Empty),
            48 => Err(SeedError::Ambiguous48),
            len if len > MAX_SEED_LEN => Err(SeedError::TooLong { len }),
            _ => Ok(Self(Zeroizing::new(bytes.to_vec()))),
        }
    }

    /// Length of the seed as given, in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `Seed` is never empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The plaintext block sequence for WRITE SEED: zero-extended to 20 bytes, then one `80`
    /// and zeros to a block boundary (strict ISO/IEC 9797-1 method 2; §5.3).
    pub(crate) fn padded_for_wire(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(64));
        v.extend_from_slice(&self.0);
        if v.len() < MIN_WIRE_SEED_LEN {
            v.resize(MIN_WIRE_SEED_LEN, 0);
        }
        crypto::pad_seed(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(Seed::new(&[]).unwrap_err(), SeedError::Empty);
        assert_eq!(Seed::new(&[1; 48]).unwrap_err(), SeedError::Ambiguous48);
        assert_eq!(
            Seed::new(&[1; 64]).unwrap_err(),
            SeedError::TooLong { len: 64 }
        );
        for len in [1, 10, 20, 32, 47, 49, 63] {
            assert_eq!(Seed::new(&vec![1; len]).unwrap().len(), len);
        }
    }

    #[test]
    fn wire_padding_lengths() {
        for (len, wire) in [
            (1, 32),
            (20, 32),
            (31, 32),
            (32, 48),
            (47, 48),
            (49, 64),
            (63, 64),
        ] {
            let padded = Seed::new(&vec![0xFF; len]).unwrap().padded_for_wire();
            assert_eq!(padded.len(), wire, "seed of {len} bytes");
            assert_eq!(padded[len.max(20)], 0x80);
        }
    }

    #[test]
    fn debug_and_errors_do_not_show_bytes() {
        let seed = Seed::new(&[0xAB; 10]).unwrap();
        let s = format!("{seed:?}");
        assert_eq!(s, "Seed(<10 bytes redacted>)");
        let e = Seed::new(&[0xAB; 70]).unwrap_err().to_string();
        assert!(
            !e.contains("AB") && !e.contains("ab") && !e.contains("171"),
            "{e}"
        );
    }
}
