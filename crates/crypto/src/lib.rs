//! Envelope encryption for the seed vault: key newtypes, XChaCha20-Poly1305 sealing with
//! associated data, data-key wrapping, keyed fingerprints and MACs, and Argon2id for passphrases.
//!
//! Invariant: this crate performs no I/O, reads no clock and never formats key material; every key
//! type wipes itself on drop and prints as `<redacted>`.

mod aead;
mod error;
mod kdf;
mod keys;
mod mac;
mod password;

pub use aead::{SEALED_OVERHEAD, open, seal};
pub use error::CryptoError;
pub use kdf::{KdfParams, Passphrase};
pub use keys::{DataKey, KEY_LEN, MasterKey, WrappedKey};
pub use mac::{MAC_LEN, MacKey, ct_eq};
pub use password::{PasswordParams, hash_password, verify_password};
