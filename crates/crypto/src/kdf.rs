//! Argon2id: passphrase → master key. The parameters and salt are stored next to the vault (not
//! inside any ciphertext) so they can be raised later without a format change.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::keys::{KEY_LEN, MasterKey};

/// A passphrase typed by an administrator. Wiped on drop, never formatted.
pub struct Passphrase(Zeroizing<String>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Takes ownership of the text; the caller's buffer should itself be a `Zeroizing<String>`.
    pub fn new(text: Zeroizing<String>) -> Self {
        Self(text)
    }

    /// The passphrase bytes, for the KDF only.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Argon2id cost parameters and salt, stored in the vault's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Random salt (16 bytes when generated).
    pub salt: Vec<u8>,
}

impl KdfParams {
    /// OWASP-style defaults (19 MiB, 2 passes, 1 lane) with a fresh 16-byte salt.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no salt can be drawn.
    pub fn recommended() -> Result<Self, CryptoError> {
        Self::with_costs(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, 1)
    }

    /// Given costs with a fresh salt (tests use small costs).
    ///
    /// # Errors
    /// [`CryptoError::Random`] if no salt can be drawn.
    pub fn with_costs(m_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, CryptoError> {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| CryptoError::Random)?;
        Ok(Self {
            m_kib,
            t_cost,
            p_cost,
            salt,
        })
    }

    /// Derives the master key from `passphrase` with these parameters.
    ///
    /// # Errors
    /// [`CryptoError::KdfParams`] if the parameters or salt are out of Argon2's range.
    pub fn derive(&self, passphrase: &Passphrase) -> Result<MasterKey, CryptoError> {
        let params = Params::new(self.m_kib, self.t_cost, self.p_cost, Some(KEY_LEN))
            .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.expose_bytes(), &self.salt, out.as_mut())
            .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
        Ok(MasterKey::from_array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(Zeroizing::new(text.to_owned()))
    }

    #[test]
    fn same_passphrase_and_salt_give_same_key() {
        let params = KdfParams::with_costs(64, 1, 1).unwrap();
        let a = params.derive(&pass("correct horse")).unwrap();
        let b = params.derive(&pass("correct horse")).unwrap();
        assert_eq!(a.expose_bytes(), b.expose_bytes());
    }

    #[test]
    fn other_passphrase_or_salt_give_other_key() {
        let params = KdfParams::with_costs(64, 1, 1).unwrap();
        let a = params.derive(&pass("correct horse")).unwrap();
        let b = params.derive(&pass("correct horsf")).unwrap();
        let other_salt = KdfParams::with_costs(64, 1, 1).unwrap();
        let c = other_salt.derive(&pass("correct horse")).unwrap();
        assert_ne!(a.expose_bytes(), b.expose_bytes());
        assert_ne!(a.expose_bytes(), c.expose_bytes());
    }

    #[test]
    fn known_answer_pins_the_parameters() {
        // Pins algorithm (Argon2id v0x13) and output length: changing either would orphan vaults.
        let params = KdfParams {
            m_kib: 64,
            t_cost: 1,
            p_cost: 1,
            salt: b"saltsaltsaltsalt".to_vec(),
        };
        let key = params.derive(&pass("password")).unwrap();
        let hex: String = key
            .expose_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, KNOWN_ANSWER);
    }

    // From Debian's reference `argon2` tool: `echo -n password | argon2 saltsaltsaltsalt -id -t 1 -m 6 -p 1 -l 32 -r`.
    const KNOWN_ANSWER: &str = "59bf4338b29483094be5f8da77db5f08f534481028d0f118fdebc9461c2d511d";

    #[test]
    fn bad_parameters_are_an_error_not_a_panic() {
        let params = KdfParams {
            m_kib: 1,
            t_cost: 1,
            p_cost: 1,
            salt: b"saltsaltsaltsalt".to_vec(),
        };
        assert!(matches!(
            params.derive(&pass("x")),
            Err(CryptoError::KdfParams(_))
        ));
    }

    #[test]
    fn passphrase_debug_is_redacted() {
        assert!(!format!("{:?}", pass("hunter2")).contains("hunter2"));
    }
}
