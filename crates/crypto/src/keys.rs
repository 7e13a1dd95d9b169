//! Key newtypes: the master key (KEK) that never enters the database, and per-record data keys
//! (DEKs) that are stored only wrapped under it.

use std::fmt;

use zeroize::Zeroizing;

use crate::aead::{open, seal};
use crate::error::CryptoError;
use crate::mac::MacKey;

pub use crate::aead::KEY_LEN;

fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

fn key_from_slice(bytes: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::KeyLength {
            expected: KEY_LEN,
            got: bytes.len(),
        });
    }
    key.copy_from_slice(bytes);
    Ok(key)
}

/// The key-encryption key. It comes from a key file, the environment or a passphrase, and is
/// never stored in the database; losing it makes every seed unrecoverable.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A fresh random master key from the OS CSPRNG.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        random_key().map(Self)
    }

    /// Takes exactly [`KEY_LEN`] bytes (for example read from a key file).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        key_from_slice(bytes).map(Self)
    }

    pub(crate) fn from_array(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }

    /// The raw key, for writing the key file only. Do not log or store it in the database.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A short public identifier of this key (16 hex digits of an HMAC of a fixed label), so an
    /// error can say which key a vault expects without revealing anything about it.
    pub fn key_id(&self) -> String {
        let tag = MacKey::from_array(Zeroizing::new(*self.0)).mac(&[b"tokendesk key id v1"]);
        tag.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Wraps (encrypts) a data key; `context` is authenticated and must be given again to unwrap
    /// (the vault passes the record id and key version, so a wrapped key cannot be moved).
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no nonce can be drawn.
    pub fn wrap(&self, dek: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        seal(&self.0, dek.0.as_ref(), context).map(WrappedKey)
    }

    /// Unwraps a data key sealed by [`MasterKey::wrap`] with the same `context`.
    ///
    /// # Errors
    /// [`CryptoError::OpenFailed`] for a wrong master key, a tampered blob or another context.
    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, CryptoError> {
        let plain = open(&self.0, wrapped, context)?;
        key_from_slice(&plain).map(DataKey)
    }
}

/// A wrapped (encrypted) data key as stored in the database; safe to store, not secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(pub Vec<u8>);

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

/// A per-record data key. Deleting its wrapped form deletes the seed (crypto-shredding).
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A fresh random data key.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if the OS generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        random_key().map(Self)
    }

    /// Seals `plaintext` under this key, authenticating `aad` (record id, UPN, key version).
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no nonce can be drawn.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal(&self.0, plaintext, aad)
    }

    /// Opens a blob sealed by [`DataKey::seal`] with the same `aad`.
    ///
    /// # Errors
    /// [`CryptoError::OpenFailed`] for a wrong key, tampered blob or different `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.0, sealed, aad)
    }

    /// Derives an independent MAC key for `label` (HMAC-SHA-256 used as a PRF), so one stored
    /// vault secret yields the audit-chain key and the fingerprint key.
    pub fn derive_mac_key(&self, label: &[u8]) -> MacKey {
        let key = MacKey::from_array(Zeroizing::new(*self.0));
        MacKey::from_array(Zeroizing::new(key.mac(&[b"tokendesk derive v1", label])))
    }

    /// Derives an independent sealing key for `label` (HMAC-SHA-256 as a PRF, domain-separated
    /// from [`DataKey::derive_mac_key`]), for data sealed under the vault secret rather than the
    /// master key, so it survives key rotation.
    pub fn derive_data_key(&self, label: &[u8]) -> DataKey {
        let key = MacKey::from_array(Zeroizing::new(*self.0));
        DataKey(Zeroizing::new(
            key.mac(&[b"tokendesk derive data key v1", label]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let kek = MasterKey::from_bytes(&[0xAB; KEY_LEN]).unwrap();
        let dek = DataKey::generate().unwrap();
        for text in [format!("{kek:?}"), format!("{dek:?}")] {
            assert!(text.contains("redacted"), "{text}");
            assert!(!text.to_lowercase().contains("ab"), "{text}");
        }
    }

    #[test]
    fn wrap_round_trip_and_context_binding() {
        let kek = MasterKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let wrapped = kek.wrap(&dek, b"record-1|v1").unwrap();
        let back = kek.unwrap(&wrapped.0, b"record-1|v1").unwrap();
        assert_eq!(back.0.as_ref(), dek.0.as_ref());
        assert_eq!(
            kek.unwrap(&wrapped.0, b"record-2|v1").unwrap_err(),
            CryptoError::OpenFailed
        );
        let other = MasterKey::generate().unwrap();
        assert_eq!(
            other.unwrap(&wrapped.0, b"record-1|v1").unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn key_id_is_stable_and_distinguishes_keys() {
        let a = MasterKey::from_bytes(&[1; KEY_LEN]).unwrap();
        let a2 = MasterKey::from_bytes(&[1; KEY_LEN]).unwrap();
        let b = MasterKey::from_bytes(&[2; KEY_LEN]).unwrap();
        assert_eq!(a.key_id(), a2.key_id());
        assert_ne!(a.key_id(), b.key_id());
        assert_eq!(a.key_id().len(), 16);
    }

    #[test]
    fn wrong_key_length_is_rejected() {
        assert_eq!(
            MasterKey::from_bytes(&[0; 31]).unwrap_err(),
            CryptoError::KeyLength {
                expected: 32,
                got: 31
            }
        );
    }

    #[test]
    fn derived_mac_keys_differ_per_label() {
        let dek = DataKey::generate().unwrap();
        let a = dek.derive_mac_key(b"audit").mac(&[b"x"]);
        let b = dek.derive_mac_key(b"fingerprint").mac(&[b"x"]);
        assert_ne!(a, b);
    }
}
