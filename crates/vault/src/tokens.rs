//! Bearer secrets handed out once: session tokens (`tds_`), API tokens (`tdk_`), the setup token
//! (`tdsetup_`) and one-time passwords. Only their SHA-256 hashes are stored; the text lives in a
//! [`SecretString`] that wipes itself and prints as `<redacted>`.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Result;

/// A secret handed to the caller once (token or one-time password). Wiped on drop; `Debug`
/// shows only that it is redacted; no `Display`.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub(crate) fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text, to put in a cookie, print once or send to the user. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// Prefix of session tokens.
pub const SESSION_PREFIX: &str = "tds_";
/// Prefix of API tokens.
pub const API_KEY_PREFIX: &str = "tdk_";
/// Prefix of the first-admin setup token.
pub const SETUP_PREFIX: &str = "tdsetup_";

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).map_err(|_| tokendesk_crypto::CryptoError::Random)?;
    Ok(bytes)
}

/// A fresh token: `prefix` + 32 random bytes in base64url, and the hash to store.
pub(crate) fn new_token(prefix: &str) -> Result<(SecretString, Vec<u8>)> {
    let bytes = random_bytes::<32>()?;
    let text = format!(
        "{prefix}{}",
        data_encoding::BASE64URL_NOPAD.encode(bytes.as_ref())
    );
    let hash = token_hash(&text);
    Ok((SecretString::new(text), hash))
}

/// One byte of `alphabet` (at most 256 entries), uniformly at random.
pub(crate) fn random_pick(alphabet: &[u8]) -> Result<u8> {
    let n = alphabet.len().clamp(1, 256);
    let limit = 256 - 256 % n;
    loop {
        let [b] = *random_bytes::<1>()?;
        if usize::from(b) < limit {
            return Ok(alphabet.get(usize::from(b) % n).copied().unwrap_or(b'X'));
        }
    }
}

/// SHA-256 of the whole token text: what the database stores and looks up.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A one-time password: 20 random bytes as 32 lowercase base32 characters (160 bits).
pub(crate) fn one_time_password() -> Result<SecretString> {
    let bytes = random_bytes::<20>()?;
    let text = data_encoding::BASE32_NOPAD
        .encode(bytes.as_ref())
        .to_ascii_lowercase();
    Ok(SecretString::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_prefix_length_and_differ() {
        let (a, ha) = new_token(SESSION_PREFIX).unwrap();
        let (b, _) = new_token(SESSION_PREFIX).unwrap();
        assert!(a.expose().starts_with("tds_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(ha, token_hash(a.expose()));
        assert_eq!(ha.len(), 32);
    }

    #[test]
    fn debug_is_redacted() {
        let (t, _) = new_token(API_KEY_PREFIX).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.expose()), "{shown}");
        let p = one_time_password().unwrap();
        assert_eq!(p.expose().len(), 32);
        assert!(!format!("{p:?}").contains(p.expose()));
    }
}
