//! PSKC protection: base64 values, AES-128-CBC, the HMAC-SHA1 `ValueMAC` checked before any
//! decryption, and the container keys (pre-shared or PBKDF2-derived).

use super::*;
use crate::xml::Element;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit};
use sha1::Sha1;
use zeroize::Zeroizing;

pub(super) fn b64(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let clean: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    BASE64
        .decode(clean.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| PskcError::Malformed(format!("{what} is not valid base64 ({e})")))
}

pub(super) fn aes_decrypt(key: &[u8], data: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let (iv, body) = data
        .split_at_checked(16)
        .ok_or_else(|| PskcError::Malformed(format!("{what}: the cipher value is too short")))?;
    if body.is_empty() || body.len() % 16 != 0 {
        return Err(PskcError::Malformed(format!(
            "{what}: the cipher value is not whole AES blocks"
        )));
    }
    let dec = cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
        .map_err(|_| PskcError::Unsupported("only AES-128 keys (16 bytes) are supported".into()))?;
    dec.decrypt_padded_vec::<Pkcs7>(body)
        .map(Zeroizing::new)
        .map_err(|_| PskcError::WrongKey(format!("{what} does not decrypt")))
}

pub(super) fn aes_encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv).map_err(|_| PskcError::Random)?;
    let enc = cbc::Encryptor::<Aes128>::new_from_slices(key, &iv)
        .map_err(|_| PskcError::Unsupported("only AES-128 keys (16 bytes) are supported".into()))?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&enc.encrypt_padded_vec::<Pkcs7>(plain));
    Ok(out)
}

pub(super) fn hmac_sha1(key: &[u8]) -> Result<Hmac<Sha1>> {
    <Hmac<Sha1> as KeyInit>::new_from_slice(key)
        .map_err(|_| PskcError::Malformed("the MAC key is empty".into()))
}

/// `EncryptionMethod` + `CipherData/CipherValue` → raw cipher value (IV ‖ ciphertext).
pub(super) fn cipher_value(el: &Element, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let method = el
        .child("EncryptionMethod")
        .and_then(|m| m.attr("Algorithm"))
        .unwrap_or(AES128_CBC);
    if method != AES128_CBC {
        return Err(PskcError::Unsupported(format!(
            "{what} is encrypted with {method}; only AES-128-CBC ({AES128_CBC}) is supported"
        )));
    }
    let text = el
        .path(&["CipherData", "CipherValue"])
        .map(|c| c.text.as_str())
        .ok_or_else(|| PskcError::Malformed(format!("{what} has no CipherData/CipherValue")))?;
    b64(text, what)
}

pub(super) fn container_keys(root: &Element, creds: &Credentials<'_>) -> Result<Keys> {
    let (encryption, scheme) = match root.child("EncryptionKey") {
        None => (None, Scheme::Plain),
        Some(ek) => {
            if let Some(dk) = ek.child("DerivedKey") {
                let name = dk.child_text("MasterKeyName").unwrap_or("").to_owned();
                let password = creds
                    .password
                    .ok_or_else(|| PskcError::NeedPassword(name.clone()))?;
                (Some(derive_key(dk, password)?), Scheme::Password)
            } else if ek.child("X509Data").is_some() {
                return Err(PskcError::Unsupported(
                    "asymmetric key transport (X.509, RFC 6030 §6.3); ask the vendor for a \
                     password- or pre-shared-key-protected file"
                        .into(),
                ));
            } else {
                let name = ek.child_text("KeyName").unwrap_or("").to_owned();
                let key = creds
                    .preshared_key
                    .ok_or_else(|| PskcError::NeedKey(name.clone()))?;
                if key.len() != 16 {
                    return Err(PskcError::Unsupported(format!(
                        "the pre-shared key has {} bytes; AES-128 needs 16 (32 hex digits)",
                        key.len()
                    )));
                }
                (Some(Zeroizing::new(key.to_vec())), Scheme::PreSharedKey)
            }
        }
    };
    let mac = match root.child("MACMethod") {
        None => None,
        Some(m) => {
            let alg = m.attr("Algorithm").unwrap_or("");
            if alg != HMAC_SHA1 {
                return Err(PskcError::Unsupported(format!(
                    "MAC algorithm {alg:?}; only HMAC-SHA1 ({HMAC_SHA1}) is supported"
                )));
            }
            let mk = m.child("MACKey").ok_or_else(|| {
                PskcError::Unsupported("a MACMethod without MACKey (key reference)".into())
            })?;
            let enc = encryption.as_ref().ok_or_else(|| {
                PskcError::Malformed(
                    "the MAC key is encrypted but no EncryptionKey is given".into(),
                )
            })?;
            let raw = cipher_value(mk, "the MAC key")?;
            Some(aes_decrypt(enc, &raw, "the MAC key")?)
        }
    };
    Ok(Keys {
        encryption,
        mac,
        scheme,
    })
}

pub(super) fn derive_key(dk: &Element, password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let method = dk
        .child("KeyDerivationMethod")
        .ok_or_else(|| PskcError::Malformed("DerivedKey without KeyDerivationMethod".into()))?;
    let alg = method.attr("Algorithm").unwrap_or("");
    if alg != PBKDF2_URI {
        return Err(PskcError::Unsupported(format!(
            "key derivation {alg:?}; only PBKDF2 is supported"
        )));
    }
    let params = method
        .child("PBKDF2-params")
        .ok_or_else(|| PskcError::Malformed("PBKDF2 without PBKDF2-params".into()))?;
    let salt = params
        .path(&["Salt", "Specified"])
        .map(|s| s.text.as_str())
        .ok_or_else(|| PskcError::Malformed("PBKDF2-params without Salt/Specified".into()))?;
    let salt = b64(salt, "the PBKDF2 salt")?;
    let iterations: u32 = params
        .child_text("IterationCount")
        .and_then(|t| t.parse().ok())
        .filter(|n| (1..=MAX_IMPORT_ITERATIONS).contains(n))
        .ok_or_else(|| {
            PskcError::Malformed(format!(
                "the PBKDF2 IterationCount must be a number from 1 to {MAX_IMPORT_ITERATIONS}"
            ))
        })?;
    let len: usize = params
        .child_text("KeyLength")
        .map(|t| t.parse().unwrap_or(0))
        .unwrap_or(16);
    if len != 16 {
        return Err(PskcError::Unsupported(format!(
            "a derived key of {len} bytes; only AES-128 (16) is supported"
        )));
    }
    if let Some(prf) = params.child("PRF").and_then(|p| p.attr("Algorithm"))
        && !prf.ends_with("hmacWithSHA1")
        && prf != HMAC_SHA1
    {
        return Err(PskcError::Unsupported(format!(
            "PBKDF2 PRF {prf:?}; only HMAC-SHA1 is supported"
        )));
    }
    let mut key = Zeroizing::new(vec![0u8; 16]);
    pbkdf2::pbkdf2_hmac::<Sha1>(password, &salt, iterations, &mut key);
    Ok(key)
}
