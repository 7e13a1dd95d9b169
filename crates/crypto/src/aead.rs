//! XChaCha20-Poly1305 sealing. A sealed blob is `format (1) || nonce (24) || ciphertext || tag
//! (16)`; the random 24-byte nonce needs no counter, so concurrent writers are safe.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::CryptoError;

/// Length in bytes of every symmetric key here (XChaCha20-Poly1305 and HMAC-SHA-256 keys).
pub const KEY_LEN: usize = 32;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Bytes a sealed blob adds to its plaintext (format byte, nonce, tag).
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

/// Seals `plaintext` under `key`, authenticating `aad`.
///
/// # Errors
/// [`CryptoError::Random`] if the nonce cannot be drawn.
pub fn seal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let body = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::OpenFailed)?;
    let mut out = Vec::with_capacity(SEALED_OVERHEAD + plaintext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a blob from [`seal`]; the plaintext comes back in a wiping buffer.
///
/// # Errors
/// [`CryptoError::Malformed`] for a short blob or unknown format, [`CryptoError::OpenFailed`]
/// when the key, the blob or `aad` differ from sealing.
pub fn open(
    key: &[u8; KEY_LEN],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let malformed = || CryptoError::Malformed {
        len: sealed.len(),
        format: sealed.first().copied().unwrap_or(0),
    };
    let (format, rest) = sealed.split_first().ok_or_else(malformed)?;
    if *format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(malformed());
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| malformed())?;
    cipher(key)
        .decrypt(&nonce, Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::OpenFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn round_trip() {
        let sealed = seal(&KEY, SEED, b"ctx").unwrap();
        assert_eq!(sealed.len(), SEED.len() + SEALED_OVERHEAD);
        assert_eq!(open(&KEY, &sealed, b"ctx").unwrap().as_slice(), SEED);
    }

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(
            seal(&KEY, SEED, b"").unwrap(),
            seal(&KEY, SEED, b"").unwrap()
        );
    }

    #[test]
    fn plaintext_is_not_visible_in_blob() {
        let sealed = seal(&KEY, SEED, b"").unwrap();
        assert!(!sealed.windows(SEED.len()).any(|w| w == SEED));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = seal(&KEY, SEED, b"ctx").unwrap();
        assert_eq!(
            open(&[8; KEY_LEN], &sealed, b"ctx").unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn aad_mismatch_fails() {
        let sealed = seal(&KEY, SEED, b"record-a").unwrap();
        assert_eq!(
            open(&KEY, &sealed, b"record-b").unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn every_tampered_byte_fails() {
        let sealed = seal(&KEY, SEED, b"ctx").unwrap();
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&KEY, &bad, b"ctx").unwrap_err(),
                CryptoError::OpenFailed,
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_blobs_are_reported_without_content() {
        for blob in [&[][..], &[1u8; 10][..], &[9u8; 60][..]] {
            let err = open(&KEY, blob, b"").unwrap_err();
            assert!(matches!(err, CryptoError::Malformed { .. }), "{err:?}");
        }
    }
}
