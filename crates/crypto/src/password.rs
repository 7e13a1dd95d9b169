//! Argon2id password hashing for staff passwords and caller passphrases, stored as PHC strings
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), so the cost can be raised later and old hashes keep
//! verifying with the parameters written in them.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::error::CryptoError;

/// Argon2id costs for new password hashes. Verification always uses the costs in the stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl PasswordParams {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane. The production setting.
    pub const PRODUCTION: Self = Self {
        m_kib: 19_456,
        t_cost: 2,
        p_cost: 1,
    };

    /// Deliberately cheap costs (64 KiB, 1 pass) for tests that hash many passwords. Never use in
    /// a deployment.
    pub const INSECURE_TEST_ONLY: Self = Self {
        m_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn hasher(self) -> Result<Argon2<'static>, CryptoError> {
        let params = Params::new(self.m_kib, self.t_cost, self.p_cost, None)
            .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::PRODUCTION
    }
}

/// Hashes `password` with a fresh 16-byte salt into a PHC string.
///
/// # Errors
/// [`CryptoError::Random`] if no salt can be drawn; [`CryptoError::KdfParams`] for costs out of
/// Argon2's range.
pub fn hash_password(params: PasswordParams, password: &[u8]) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| CryptoError::Random)?;
    let hash = params
        .hasher()?
        .hash_password_with_salt(password, &salt)
        .map_err(|e| CryptoError::KdfParams(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc` (the output comparison is constant-time).
///
/// # Errors
/// [`CryptoError::PasswordHash`] when `phc` is not a well-formed Argon2 PHC string (a corrupt
/// stored value, never a wrong password).
pub fn verify_password(password: &[u8], phc: &str) -> Result<bool, CryptoError> {
    let hash = argon2::PasswordHash::new(phc).map_err(|_| CryptoError::PasswordHash)?;
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(CryptoError::PasswordHash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordParams = PasswordParams::INSECURE_TEST_ONLY;

    #[test]
    fn right_password_verifies_wrong_does_not() {
        let phc = hash_password(CHEAP, b"correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(verify_password(b"correct horse battery", &phc).unwrap());
        assert!(!verify_password(b"correct horse batterz", &phc).unwrap());
        assert!(!verify_password(b"", &phc).unwrap());
    }

    #[test]
    fn salts_differ_and_the_password_is_not_in_the_string() {
        let a = hash_password(CHEAP, b"hunter2hunter2").unwrap();
        let b = hash_password(CHEAP, b"hunter2hunter2").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("hunter2"));
    }

    #[test]
    fn production_params_are_owasp_and_verify() {
        assert_eq!(
            (
                PasswordParams::default().m_kib,
                PasswordParams::default().t_cost,
                PasswordParams::default().p_cost
            ),
            (19_456, 2, 1)
        );
        let phc = hash_password(PasswordParams::PRODUCTION, b"pw").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(b"pw", &phc).unwrap());
    }

    #[test]
    fn known_phc_string_from_the_reference_tool_verifies() {
        // `echo -n password | argon2 saltsaltsaltsalt -id -t 1 -m 6 -p 1 -l 32 -e` (Debian argon2).
        let phc = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$Wb9DOLKUgwlL5fjad9tfCPU0SBAo0PEY/evJRhwtUR0";
        assert!(verify_password(b"password", phc).unwrap());
        assert!(!verify_password(b"passwore", phc).unwrap());
    }

    #[test]
    fn malformed_hash_is_an_error_not_a_panic() {
        for bad in [
            "",
            "plain",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$!!$!!",
        ] {
            assert_eq!(
                verify_password(b"x", bad).unwrap_err(),
                CryptoError::PasswordHash
            );
        }
    }

    #[test]
    fn bad_costs_are_an_error() {
        let bad = PasswordParams {
            m_kib: 1,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(matches!(
            hash_password(bad, b"x"),
            Err(CryptoError::KdfParams(_))
        ));
    }
}
