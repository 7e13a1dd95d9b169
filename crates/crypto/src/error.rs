//! The one error type of the crypto crate.

/// Why a cryptographic operation failed. Messages never contain key or plaintext bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Decryption failed: wrong key, tampered ciphertext or associated data that does not match.
    #[error(
        "the ciphertext does not open with this key and context (wrong key, tampered data or moved ciphertext)"
    )]
    OpenFailed,
    /// The sealed blob is too short or has an unknown format byte.
    #[error("the ciphertext is malformed ({len} bytes, format byte {format})")]
    Malformed {
        /// Length of the blob.
        len: usize,
        /// First byte of the blob (0 when empty).
        format: u8,
    },
    /// A key had the wrong length.
    #[error("a key must be {expected} bytes, got {got}")]
    KeyLength {
        /// Required length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed; check /dev/urandom")]
    Random,
    /// Argon2id parameters are out of range.
    #[error("invalid Argon2id parameters: {0}")]
    KdfParams(String),
    /// A stored password hash is not a well-formed Argon2 PHC string.
    #[error("a stored password hash is malformed (not an Argon2 PHC string); reset that password")]
    PasswordHash,
}
