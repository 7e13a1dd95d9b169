//! Keyed MACs (HMAC-SHA-256) for the audit chain and for seed fingerprints, and constant-time
//! comparison.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::KEY_LEN;

/// Length in bytes of a MAC tag.
pub const MAC_LEN: usize = 32;

/// A key for HMAC-SHA-256. Derived from the vault secret, never stored in the clear.
pub struct MacKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    pub(crate) fn from_array(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }

    /// HMAC over the concatenation of `parts`, each prefixed with its length as 8 bytes
    /// big-endian so that `["ab", "c"]` and `["a", "bc"]` give different tags.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        // HMAC zero-pads keys shorter than the 64-byte block, so padding here is the same
        // function as keying with the 32 bytes, without a fallible constructor.
        let mut block = Zeroizing::new([0u8; 64]);
        for (dst, src) in block.iter_mut().zip(self.0.iter()) {
            *dst = *src;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Checks `tag` against the MAC of `parts` in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        ct_eq(&self.mac(parts), tag)
    }
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MacKey {
        MacKey::from_array(Zeroizing::new([byte; KEY_LEN]))
    }

    #[test]
    fn matches_rfc_4231_style_hmac() {
        // HMAC-SHA-256 of one framed part equals plain HMAC over (len || part).
        let mut framed = 3u64.to_be_bytes().to_vec();
        framed.extend_from_slice(b"abc");
        let mut plain = <Hmac<Sha256> as KeyInit>::new_from_slice(&[5u8; KEY_LEN]).unwrap();
        plain.update(&framed);
        let expected: [u8; 32] = plain.finalize().into_bytes().into();
        assert_eq!(key(5).mac(&[b"abc"]), expected);
    }

    #[test]
    fn framing_separates_parts() {
        assert_ne!(key(1).mac(&[b"ab", b"c"]), key(1).mac(&[b"a", b"bc"]));
    }

    #[test]
    fn verify_rejects_other_key_and_data() {
        let tag = key(1).mac(&[b"seed"]);
        assert!(key(1).verify(&[b"seed"], &tag));
        assert!(!key(2).verify(&[b"seed"], &tag));
        assert!(!key(1).verify(&[b"seeD"], &tag));
        assert!(!key(1).verify(&[b"seed"], &tag[..31]));
    }

    #[test]
    fn ct_eq_cases() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
