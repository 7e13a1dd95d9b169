//! PSKC (RFC 6030) key containers: plain values, AES-128-CBC under a pre-shared key (§6.1) or a
//! PBKDF2-derived key (§6.2), each encrypted value checked against its HMAC-SHA1 `ValueMAC`
//! (constant time) before it is decrypted. Export writes the §6.2 form.
//!
//! A wrong password or key, a bad MAC or an unsupported protection fails the whole document:
//! nothing from it may be imported. Structural problems of one key package (HOTP where TOTP is
//! needed, no user, odd digits) are per-key errors, reported like CSV row errors.

use aes::Aes128;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use tokendesk_otp::{Algorithm, Secret};
use zeroize::Zeroizing;

use crate::xml::{self, Element, escape};
use crate::{NormaliseUpn, Parsed, TokenRow};

/// Largest PSKC file accepted (bytes).
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Highest PBKDF2 iteration count accepted on import (a file cannot make us spin for hours).
pub const MAX_IMPORT_ITERATIONS: u32 = 10_000_000;
/// PBKDF2-HMAC-SHA1 iterations written on export.
pub const EXPORT_ITERATIONS: u32 = 600_000;

const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
const PBKDF2_URI: &str = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2";
const TOTP_URI: &str = "urn:ietf:params:xml:ns:keyprov:pskc:totp";

/// Why a whole PSKC document is refused. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum PskcError {
    /// Over [`MAX_INPUT_BYTES`].
    #[error("the file is larger than {} MiB; split it", MAX_INPUT_BYTES / (1024 * 1024))]
    TooLarge,
    /// Not UTF-8, not well-formed, a DTD, or not a KeyContainer.
    #[error("not a usable PSKC file: {0}")]
    Malformed(String),
    /// PBKDF2-protected and no password given.
    #[error("the file is protected with a password (PBKDF2, key name {0:?}); give the password")]
    NeedPassword(String),
    /// Pre-shared-key protected and no key given.
    #[error("the file is encrypted with a pre-shared AES-128 key (key name {0:?}); give the key")]
    NeedKey(String),
    /// Decryption or MAC check failed.
    #[error("the password or key is wrong, or the file was altered: {0}")]
    WrongKey(String),
    /// A protection scheme this build does not implement.
    #[error("unsupported PSKC protection: {0}")]
    Unsupported(String),
    /// The OS random source failed (export).
    #[error("cannot read random bytes from the operating system")]
    Random,
}

type Result<T> = std::result::Result<T, PskcError>;

/// What the importer was given to open protected files.
#[derive(Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// Password for PBKDF2 (§6.2).
    pub password: Option<&'a [u8]>,
    /// Pre-shared AES-128 key (§6.1), 16 bytes.
    pub preshared_key: Option<&'a [u8]>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .finish()
    }
}

/// Counter-based or time-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RFC 4226.
    Hotp,
    /// RFC 6238.
    Totp,
}

/// One key package, decrypted and MAC-checked.
pub struct PskcKey {
    /// 1-based position of its KeyPackage.
    pub package: usize,
    /// `Key@Id`.
    pub id: Option<String>,
    /// HOTP or TOTP (from `Key@Algorithm`).
    pub kind: KeyKind,
    /// `DeviceInfo/SerialNo`.
    pub serial: Option<String>,
    /// `DeviceInfo/Manufacturer`.
    pub manufacturer: Option<String>,
    /// `DeviceInfo/Model`.
    pub model: Option<String>,
    /// `Key/Issuer`.
    pub issuer: Option<String>,
    /// `Key/UserId`, else `DeviceInfo/UserId`.
    pub user_id: Option<String>,
    /// From `AlgorithmParameters/Suite` (SHA-1 when absent).
    pub algorithm: Algorithm,
    /// `ResponseFormat@Length` (6 when absent).
    pub digits: u32,
    /// `Data/TimeInterval` (TOTP step).
    pub period_secs: Option<u64>,
    /// `Data/Time` (TOTP start).
    pub time: Option<u64>,
    /// `Data/Counter` (HOTP).
    pub counter: Option<u64>,
    /// The seed.
    pub secret: Secret,
}

impl std::fmt::Debug for PskcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskcKey")
            .field("package", &self.package)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("serial", &self.serial)
            .field("user_id", &self.user_id)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// A read document: its keys and the per-key problems (`key N: …`).
#[derive(Debug, Default)]
pub struct Document {
    /// Keys that parsed.
    pub keys: Vec<PskcKey>,
    /// One message per key package that did not.
    pub errors: Vec<String>,
    /// How the file was protected.
    pub scheme: Scheme,
}

struct Keys {
    encryption: Option<Zeroizing<Vec<u8>>>,
    mac: Option<Zeroizing<Vec<u8>>>,
    /// What protects the file, for messages.
    scheme: Scheme,
}

/// How a read document was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// Plain values.
    #[default]
    Plain,
    /// PBKDF2-derived key (§6.2).
    Password,
    /// Pre-shared AES-128 key (§6.1).
    PreSharedKey,
}

fn b64(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let clean: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
    BASE64
        .decode(clean.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| PskcError::Malformed(format!("{what} is not valid base64 ({e})")))
}

fn aes_decrypt(key: &[u8], data: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
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

fn aes_encrypt(key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv).map_err(|_| PskcError::Random)?;
    let enc = cbc::Encryptor::<Aes128>::new_from_slices(key, &iv)
        .map_err(|_| PskcError::Unsupported("only AES-128 keys (16 bytes) are supported".into()))?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&enc.encrypt_padded_vec::<Pkcs7>(plain));
    Ok(out)
}

fn hmac_sha1(key: &[u8]) -> Result<Hmac<Sha1>> {
    <Hmac<Sha1> as KeyInit>::new_from_slice(key)
        .map_err(|_| PskcError::Malformed("the MAC key is empty".into()))
}

/// `EncryptionMethod` + `CipherData/CipherValue` → raw cipher value (IV ‖ ciphertext).
fn cipher_value(el: &Element, what: &str) -> Result<Zeroizing<Vec<u8>>> {
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

fn container_keys(root: &Element, creds: &Credentials<'_>) -> Result<Keys> {
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

fn derive_key(dk: &Element, password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
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

/// The bytes of a `Secret`/`Counter`/… element: `PlainValue` as given (decoded by the caller), or
/// `EncryptedValue` MAC-checked then decrypted.
enum Value {
    Plain(Zeroizing<String>),
    Decrypted(Zeroizing<Vec<u8>>),
}

fn value(el: &Element, keys: &Keys, what: &str) -> Result<Option<Value>> {
    if let Some(p) = el.child("PlainValue") {
        return Ok(Some(Value::Plain(Zeroizing::new(p.text.trim().to_owned()))));
    }
    let Some(ev) = el.child("EncryptedValue") else {
        return Ok(None);
    };
    let enc = keys.encryption.as_ref().ok_or_else(|| {
        PskcError::Malformed(format!(
            "{what} is encrypted but the file names no EncryptionKey"
        ))
    })?;
    let raw = cipher_value(ev, what)?;
    let mac_key = keys.mac.as_ref().ok_or_else(|| {
        PskcError::Unsupported(format!(
            "{what} is encrypted without a MACMethod, so its integrity cannot be checked"
        ))
    })?;
    let given = el
        .child("ValueMAC")
        .map(|m| m.text.as_str())
        .ok_or_else(|| PskcError::WrongKey(format!("{what} has no ValueMAC")))?;
    let given = b64(given, "a ValueMAC")?;
    let mut mac = hmac_sha1(mac_key)?;
    mac.update(&raw);
    mac.verify_slice(&given)
        .map_err(|_| PskcError::WrongKey(format!("the MAC of {what} does not match")))?;
    Ok(Some(Value::Decrypted(aes_decrypt(enc, &raw, what)?)))
}

fn int_value(
    data: &Element,
    name: &str,
    keys: &Keys,
    pkg: usize,
) -> Result<std::result::Result<Option<u64>, String>> {
    let Some(el) = data.child(name) else {
        return Ok(Ok(None));
    };
    let what = format!("{name} of key {pkg}");
    Ok(match value(el, keys, &what)? {
        None => Ok(None),
        Some(Value::Plain(t)) => t
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("<{name}> is not a whole number")),
        Some(Value::Decrypted(bytes)) if bytes.len() <= 8 => Ok(Some(
            bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )),
        Some(Value::Decrypted(_)) => Err(format!("<{name}> is longer than 8 bytes")),
    })
}

fn algorithm_of(suite: Option<&str>) -> std::result::Result<Algorithm, String> {
    let Some(s) = suite else {
        return Ok(Algorithm::Sha1);
    };
    let s = s.to_ascii_uppercase().replace(['-', '_'], "");
    if s.contains("SHA512") {
        Ok(Algorithm::Sha512)
    } else if s.contains("SHA256") {
        Ok(Algorithm::Sha256)
    } else if s.contains("SHA1") {
        Ok(Algorithm::Sha1)
    } else {
        Err("the Suite names no SHA1, SHA256 or SHA512 hash".into())
    }
}

fn key_kind(uri: &str) -> std::result::Result<KeyKind, String> {
    let lower = uri.to_ascii_lowercase();
    if lower.ends_with(":totp") || lower.ends_with("#totp") {
        Ok(KeyKind::Totp)
    } else if lower.ends_with(":hotp") || lower.ends_with("#hotp") {
        Ok(KeyKind::Hotp)
    } else {
        Err(format!("algorithm {uri:?} is neither HOTP nor TOTP"))
    }
}

fn read_package(
    pkg: &Element,
    n: usize,
    keys: &Keys,
) -> Result<std::result::Result<PskcKey, String>> {
    let device = pkg.child("DeviceInfo");
    let dev = |name: &str| device.and_then(|d| d.child_text(name)).map(str::to_owned);
    let Some(key) = pkg.child("Key") else {
        return Ok(Err("the KeyPackage has no Key".into()));
    };
    let kind = match key_kind(key.attr("Algorithm").unwrap_or("")) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let params = key.child("AlgorithmParameters");
    let algorithm = match algorithm_of(params.and_then(|p| p.child_text("Suite"))) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let format = params.and_then(|p| p.child("ResponseFormat"));
    if let Some(enc) = format.and_then(|f| f.attr("Encoding"))
        && enc != "DECIMAL"
    {
        return Ok(Err(format!(
            "ResponseFormat Encoding {enc:?} is not supported (only DECIMAL codes)"
        )));
    }
    let digits = match format.and_then(|f| f.attr("Length")) {
        None => 6,
        Some(l) => match l.trim().parse::<u32>() {
            Ok(d) if (6..=10).contains(&d) => d,
            _ => return Ok(Err(format!("ResponseFormat Length {l:?} is not 6 to 10"))),
        },
    };
    let Some(data) = key.child("Data") else {
        return Ok(Err("the Key has no Data".into()));
    };
    let Some(secret_el) = data.child("Secret") else {
        return Ok(Err("the Key has no Secret".into()));
    };
    let secret = match value(secret_el, keys, &format!("the Secret of key {n}"))? {
        None => {
            return Ok(Err(
                "the Secret has neither PlainValue nor EncryptedValue".into()
            ));
        }
        Some(Value::Plain(t)) => match b64(&t, "the PlainValue") {
            Ok(b) => Secret::from_bytes(b.to_vec()),
            Err(_) => return Ok(Err("the Secret's PlainValue is not base64".into())),
        },
        Some(Value::Decrypted(b)) => Secret::from_bytes(b.to_vec()),
    };
    if secret.is_empty() {
        return Ok(Err("the Secret is empty".into()));
    }
    let mut ints = [None; 3];
    for (slot, name) in ints.iter_mut().zip(["Counter", "Time", "TimeInterval"]) {
        match int_value(data, name, keys, n)? {
            Ok(v) => *slot = v,
            Err(e) => return Ok(Err(e)),
        }
    }
    let [counter, time, period_secs] = ints;
    Ok(Ok(PskcKey {
        package: n,
        id: key.attr("Id").map(str::to_owned),
        kind,
        serial: dev("SerialNo"),
        manufacturer: dev("Manufacturer"),
        model: dev("Model"),
        issuer: key.child_text("Issuer").map(str::to_owned),
        user_id: key
            .child_text("UserId")
            .map(str::to_owned)
            .or_else(|| dev("UserId")),
        algorithm,
        digits,
        period_secs,
        time,
        counter,
        secret,
    }))
}

/// Reads a PSKC document. Every encrypted value is MAC-checked before it is decrypted.
///
/// # Errors
/// [`PskcError`] for the whole document: too large, malformed (including any DTD), a missing or
/// wrong password/key, a MAC mismatch, or an unsupported protection.
pub fn read(bytes: &[u8], creds: &Credentials<'_>) -> Result<Document> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(PskcError::TooLarge);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| PskcError::Malformed(format!("not UTF-8 text ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = xml::parse(text).map_err(PskcError::Malformed)?;
    if root.name != "KeyContainer" {
        return Err(PskcError::Malformed(format!(
            "the root element is <{}>, not <KeyContainer>",
            root.name
        )));
    }
    let keys = container_keys(&root, creds)?;
    let mut doc = Document {
        scheme: keys.scheme,
        ..Document::default()
    };
    for (i, pkg) in root.children_named("KeyPackage").enumerate() {
        let n = i + 1;
        match read_package(pkg, n, &keys)? {
            Ok(k) => doc.keys.push(k),
            Err(e) => doc.errors.push(format!("key {n}: {e}")),
        }
    }
    if doc.keys.is_empty() && doc.errors.is_empty() {
        return Err(PskcError::Malformed(
            "the container holds no KeyPackage".into(),
        ));
    }
    Ok(doc)
}

/// Turns keys into vault rows: TOTP only, a user (UPN) from `UserId`, T0 = 0.
pub fn to_rows(doc: Document, normalise: NormaliseUpn<'_>) -> Parsed {
    let mut parsed = Parsed {
        rows: Vec::new(),
        errors: doc.errors,
    };
    let mut seen = std::collections::HashMap::new();
    for k in doc.keys {
        let n = k.package;
        let label = match &k.serial {
            Some(s) => format!("key {n} (serial {s})"),
            None => format!("key {n}"),
        };
        if k.kind == KeyKind::Hotp {
            parsed.errors.push(format!(
                "{label}: an HOTP (counter-based) token; tokendesk keeps TOTP seeds only"
            ));
            continue;
        }
        if k.time.is_some_and(|t| t != 0) {
            parsed.errors.push(format!(
                "{label}: <Time> (start time T0) is not 0; such tokens are not supported"
            ));
            continue;
        }
        let period = k.period_secs.unwrap_or(30);
        let Ok(period_secs) = u32::try_from(period) else {
            parsed
                .errors
                .push(format!("{label}: TimeInterval {period} is too large"));
            continue;
        };
        let Some(user) = &k.user_id else {
            parsed.errors.push(format!(
                "{label}: no <UserId> naming the user; add <UserId>upn</UserId> to the Key"
            ));
            continue;
        };
        let upn = match normalise(user) {
            Ok(u) => u,
            Err(e) => {
                parsed.errors.push(format!("{label}: {e}"));
                continue;
            }
        };
        parsed.push_unique(
            &mut seen,
            "key",
            TokenRow {
                line: n,
                upn,
                serial: k.serial,
                manufacturer: k.manufacturer,
                model: k.model,
                algorithm: k.algorithm,
                digits: k.digits,
                period_secs,
                secret: k.secret,
            },
        );
    }
    parsed
}

/// One token to export.
pub struct ExportKey<'a> {
    /// Key@Id (the record id).
    pub id: &'a str,
    /// UserId.
    pub upn: &'a str,
    /// Issuer.
    pub issuer: &'a str,
    /// DeviceInfo/SerialNo.
    pub serial: Option<&'a str>,
    /// DeviceInfo/Manufacturer.
    pub manufacturer: Option<&'a str>,
    /// DeviceInfo/Model.
    pub model: Option<&'a str>,
    /// Hash.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u32,
    /// Time step.
    pub period_secs: u32,
    /// Seed.
    pub secret: &'a Secret,
}

/// How an export is protected.
pub enum Protection<'a> {
    /// PBKDF2-HMAC-SHA1 → AES-128-CBC, HMAC-SHA1 MAC (RFC 6030 §6.2).
    Password {
        /// The password.
        password: &'a [u8],
        /// PBKDF2 iterations (normally [`EXPORT_ITERATIONS`]).
        iterations: u32,
    },
    /// Seeds in clear (the caller must have been told so explicitly).
    InsecurePlaintext,
}

fn suite(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Sha1 => "HMAC-SHA1",
        Algorithm::Sha256 => "HMAC-SHA256",
        Algorithm::Sha512 => "HMAC-SHA512",
    }
}

/// The export's encryption key and MAC key.
type ExportSecrets = (Zeroizing<[u8; 16]>, Zeroizing<[u8; 20]>);

/// Writes a PSKC document of TOTP keys.
///
/// # Errors
/// [`PskcError::Random`] if the OS random source fails.
pub fn write(keys: &[ExportKey<'_>], protection: &Protection<'_>) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(512 + keys.len() * 1024));
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<KeyContainer Version=\"1.0\" \
         xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\" \
         xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" \
         xmlns:xenc11=\"http://www.w3.org/2009/xmlenc11#\" \
         xmlns:pkcs5=\"http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#\">\n",
    );
    let mut crypto: Option<ExportSecrets> = None;
    if let Protection::Password {
        password,
        iterations,
    } = protection
    {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| PskcError::Random)?;
        let mut enc = Zeroizing::new([0u8; 16]);
        pbkdf2::pbkdf2_hmac::<Sha1>(password, &salt, *iterations, enc.as_mut());
        let mut mac = Zeroizing::new([0u8; 20]);
        getrandom::fill(mac.as_mut()).map_err(|_| PskcError::Random)?;
        let mac_ct = aes_encrypt(enc.as_ref(), mac.as_ref())?;
        out.push_str(&format!(
            "  <EncryptionKey>\n    <xenc11:DerivedKey>\n      <xenc11:KeyDerivationMethod \
             Algorithm=\"{PBKDF2_URI}\">\n        <pkcs5:PBKDF2-params>\n          \
             <Salt><Specified>{}</Specified></Salt>\n          <IterationCount>{iterations}</IterationCount>\n          \
             <KeyLength>16</KeyLength>\n          <PRF/>\n        </pkcs5:PBKDF2-params>\n      \
             </xenc11:KeyDerivationMethod>\n      <xenc11:MasterKeyName>tokendesk export</xenc11:MasterKeyName>\n    \
             </xenc11:DerivedKey>\n  </EncryptionKey>\n  <MACMethod Algorithm=\"{HMAC_SHA1}\">\n    <MACKey>\n      \
             <xenc:EncryptionMethod Algorithm=\"{AES128_CBC}\"/>\n      <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\n    \
             </MACKey>\n  </MACMethod>\n",
            BASE64.encode(&salt),
            BASE64.encode(&mac_ct)
        ));
        crypto = Some((enc, mac));
    }
    for k in keys {
        out.push_str("  <KeyPackage>\n    <DeviceInfo>\n");
        for (tag, v) in [
            ("Manufacturer", k.manufacturer),
            ("SerialNo", k.serial),
            ("Model", k.model),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("      <{tag}>{}</{tag}>\n", escape(v)));
            }
        }
        out.push_str(&format!(
            "    </DeviceInfo>\n    <Key Id=\"{}\" Algorithm=\"{TOTP_URI}\">\n      <Issuer>{}</Issuer>\n      \
             <AlgorithmParameters>\n        <Suite>{}</Suite>\n        \
             <ResponseFormat Length=\"{}\" Encoding=\"DECIMAL\"/>\n      </AlgorithmParameters>\n      \
             <Data>\n        <Secret>\n",
            escape(k.id),
            escape(k.issuer),
            suite(k.algorithm),
            k.digits
        ));
        match &crypto {
            Some((enc, mac_key)) => {
                let ct = aes_encrypt(enc.as_ref(), k.secret.expose_bytes())?;
                let mut mac = hmac_sha1(mac_key.as_ref())?;
                mac.update(&ct);
                let tag = mac.finalize().into_bytes();
                out.push_str(&format!(
                    "          <EncryptedValue>\n            <xenc:EncryptionMethod Algorithm=\"{AES128_CBC}\"/>\n            \
                     <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\n          \
                     </EncryptedValue>\n          <ValueMAC>{}</ValueMAC>\n",
                    BASE64.encode(&ct),
                    BASE64.encode(&tag)
                ));
            }
            None => {
                let plain = Zeroizing::new(BASE64.encode(k.secret.expose_bytes()));
                out.push_str("          <PlainValue>");
                out.push_str(&plain);
                out.push_str("</PlainValue>\n");
            }
        }
        out.push_str(&format!(
            "        </Secret>\n        <Time><PlainValue>0</PlainValue></Time>\n        \
             <TimeInterval><PlainValue>{}</PlainValue></TimeInterval>\n      </Data>\n      \
             <UserId>{}</UserId>\n    </Key>\n  </KeyPackage>\n",
            k.period_secs,
            escape(k.upn)
        ));
    }
    out.push_str("</KeyContainer>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = include_str!("../tests/fixtures/rfc6030_plain_minimal.xml");
    const FULL: &str = include_str!("../tests/fixtures/rfc6030_plain_full.xml");
    const PRESHARED: &str = include_str!("../tests/fixtures/rfc6030_s6_1_preshared_key.xml");
    const PBKDF2: &str = include_str!("../tests/fixtures/rfc6030_s6_2_pbkdf2.xml");
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn psk() -> Vec<u8> {
        data_encoding::HEXLOWER
            .decode(b"12345678901234567890123456789012")
            .unwrap()
    }

    fn upn(text: &str) -> std::result::Result<String, String> {
        let t = text.trim().to_lowercase();
        if t.matches('@').count() == 1 {
            Ok(t)
        } else {
            Err(format!("the user {t:?} is not a UPN"))
        }
    }

    #[test]
    fn rfc6030_plain_examples() {
        let doc = read(MINIMAL.as_bytes(), &Credentials::default()).unwrap();
        assert_eq!(doc.scheme, Scheme::Plain);
        let k = &doc.keys[0];
        assert_eq!(k.kind, KeyKind::Hotp);
        assert_eq!(k.issuer.as_deref(), Some("Issuer-A"));
        assert_eq!(k.secret.expose_bytes(), b"1234");

        let doc = read(FULL.as_bytes(), &Credentials::default()).unwrap();
        let k = &doc.keys[0];
        assert_eq!(k.id.as_deref(), Some("12345678"));
        assert_eq!(k.serial.as_deref(), Some("987654321"));
        assert_eq!(k.manufacturer.as_deref(), Some("Manufacturer"));
        assert_eq!(k.digits, 8);
        assert_eq!(k.counter, Some(0));
        assert_eq!(
            k.user_id.as_deref(),
            Some("UID=jsmith,DC=example-bank,DC=net")
        );
        assert_eq!(k.secret.expose_bytes(), RFC_SECRET);
    }

    #[test]
    fn rfc6030_preshared_key_example() {
        let key = psk();
        let creds = Credentials {
            preshared_key: Some(&key),
            ..Credentials::default()
        };
        let doc = read(PRESHARED.as_bytes(), &creds).unwrap();
        assert_eq!(doc.scheme, Scheme::PreSharedKey);
        assert_eq!(doc.keys[0].secret.expose_bytes(), RFC_SECRET);
        assert_eq!(doc.keys[0].digits, 8);

        let err = read(PRESHARED.as_bytes(), &Credentials::default()).unwrap_err();
        assert!(
            matches!(err, PskcError::NeedKey(ref n) if n == "Pre-shared-key"),
            "{err}"
        );
        let mut wrong = key.clone();
        wrong[0] ^= 1;
        let creds = Credentials {
            preshared_key: Some(&wrong),
            ..Credentials::default()
        };
        let err = read(PRESHARED.as_bytes(), &creds).unwrap_err();
        assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
    }

    #[test]
    fn rfc6030_pbkdf2_example() {
        let creds = Credentials {
            password: Some(b"qwerty"),
            ..Credentials::default()
        };
        let doc = read(PBKDF2.as_bytes(), &creds).unwrap();
        assert_eq!(doc.scheme, Scheme::Password);
        let k = &doc.keys[0];
        assert_eq!(k.secret.expose_bytes(), RFC_SECRET);
        assert_eq!(k.manufacturer.as_deref(), Some("TokenVendorAcme"));
        assert_eq!(k.id.as_deref(), Some("123456"));

        let err = read(PBKDF2.as_bytes(), &Credentials::default()).unwrap_err();
        assert!(
            matches!(err, PskcError::NeedPassword(ref n) if n == "My Password 1"),
            "{err}"
        );
        let creds = Credentials {
            password: Some(b"qwertz"),
            ..Credentials::default()
        };
        let err = read(PBKDF2.as_bytes(), &creds).unwrap_err();
        assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
        assert!(err.to_string().contains("wrong"), "{err}");
    }

    #[test]
    fn altered_mac_or_ciphertext_is_refused() {
        let creds = Credentials {
            password: Some(b"qwerty"),
            ..Credentials::default()
        };
        let bad_mac = PBKDF2.replace(
            "LP6xMvjtypbfT9PdkJhBZ+D6O4w=",
            "LP6xMvjtypbfT9PdkJhBZ+D6O4x=",
        );
        let err = read(bad_mac.as_bytes(), &creds).unwrap_err();
        assert!(err.to_string().contains("MAC"), "{err}");
        // One ciphertext byte changed (a base64 character in the last block).
        let bad_ct = PBKDF2.replace("032yCr4f", "032yCr4g");
        let err = read(bad_ct.as_bytes(), &creds).unwrap_err();
        assert!(matches!(err, PskcError::WrongKey(_)), "{err}");
        let no_mac = PBKDF2.replace(
            "<pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=\n                    </pskc:ValueMAC>",
            "",
        );
        let err = read(no_mac.as_bytes(), &creds).unwrap_err();
        assert!(err.to_string().contains("ValueMAC"), "{err}");
    }

    #[test]
    fn totp_fields_and_hash_suites() {
        let doc = format!(
            r#"<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
              <KeyPackage><DeviceInfo><Manufacturer>Token2</Manufacturer><SerialNo>60234567</SerialNo><Model>C202</Model></DeviceInfo>
                <Key Id="a" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
                  <AlgorithmParameters><Suite>HMAC-SHA256</Suite><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
                  <Data><Secret><PlainValue>{}</PlainValue></Secret><Time><PlainValue>0</PlainValue></Time>
                    <TimeInterval><PlainValue>60</PlainValue></TimeInterval></Data>
                  <UserId>Alice@Contoso.com</UserId></Key></KeyPackage>
              <KeyPackage><Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
                  <AlgorithmParameters><ResponseFormat Length="6" Encoding="ALPHANUMERIC"/></AlgorithmParameters>
                  <Data><Secret><PlainValue>MTIzNA==</PlainValue></Secret></Data></Key></KeyPackage>
            </KeyContainer>"#,
            BASE64.encode(RFC_SECRET)
        );
        let doc = read(doc.as_bytes(), &Credentials::default()).unwrap();
        assert_eq!(
            doc.errors,
            [
                "key 2: ResponseFormat Encoding \"ALPHANUMERIC\" is not supported (only DECIMAL codes)"
            ]
        );
        let k = &doc.keys[0];
        assert_eq!(k.kind, KeyKind::Totp);
        assert_eq!(k.algorithm, Algorithm::Sha256);
        assert_eq!((k.digits, k.period_secs, k.time), (8, Some(60), Some(0)));
        let parsed = to_rows(doc, &upn);
        assert_eq!(parsed.rows.len(), 1);
        let r = &parsed.rows[0];
        assert_eq!(r.upn, "alice@contoso.com");
        assert_eq!(
            (r.period_secs, r.digits, r.algorithm),
            (60, 8, Algorithm::Sha256)
        );
        assert_eq!(r.model.as_deref(), Some("C202"));
    }

    #[test]
    fn rows_need_totp_and_a_user() {
        let doc = read(FULL.as_bytes(), &Credentials::default()).unwrap();
        let parsed = to_rows(doc, &upn);
        assert!(parsed.rows.is_empty());
        assert!(parsed.errors[0].contains("HOTP"), "{:?}", parsed.errors);
        let totp = MINIMAL.replace(":hotp", ":totp");
        let parsed = to_rows(
            read(totp.as_bytes(), &Credentials::default()).unwrap(),
            &upn,
        );
        assert!(parsed.errors[0].contains("UserId"), "{:?}", parsed.errors);
    }

    fn sample_keys(secrets: &[Secret]) -> Vec<ExportKey<'_>> {
        secrets
            .iter()
            .enumerate()
            .map(|(i, s)| ExportKey {
                id: "rec-1",
                upn: if i == 0 {
                    "a&b@contoso.com"
                } else {
                    "c@contoso.com"
                },
                issuer: "tokendesk",
                serial: Some("6023<4567>"),
                manufacturer: Some("Token2"),
                model: None,
                algorithm: if i == 0 {
                    Algorithm::Sha1
                } else {
                    Algorithm::Sha512
                },
                digits: 6 + 2 * u32::try_from(i).unwrap(),
                period_secs: 30 * (1 + u32::try_from(i).unwrap()),
                secret: s,
            })
            .collect()
    }

    #[test]
    fn password_export_round_trips_and_hides_the_seed() {
        let secrets = [
            Secret::from_bytes(RFC_SECRET.to_vec()),
            Secret::from_bytes((0u8..32).collect()),
        ];
        let keys = sample_keys(&secrets);
        let text = write(
            &keys,
            &Protection::Password {
                password: b"correct horse",
                iterations: 1000,
            },
        )
        .unwrap();
        assert!(!text.contains(&BASE64.encode(RFC_SECRET)));
        let creds = Credentials {
            password: Some(b"correct horse"),
            ..Credentials::default()
        };
        let doc = read(text.as_bytes(), &creds).unwrap();
        assert_eq!(doc.scheme, Scheme::Password);
        let parsed = to_rows(doc, &upn);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        for (row, (key, secret)) in parsed.rows.iter().zip(keys.iter().zip(&secrets)) {
            assert_eq!(row.upn, key.upn);
            assert_eq!(row.serial.as_deref(), key.serial);
            assert_eq!(row.algorithm, key.algorithm);
            assert_eq!(row.digits, key.digits);
            assert_eq!(row.period_secs, key.period_secs);
            assert!(row.secret.ct_eq(secret));
        }
        let creds = Credentials {
            password: Some(b"wrong horse"),
            ..Credentials::default()
        };
        assert!(matches!(
            read(text.as_bytes(), &creds),
            Err(PskcError::WrongKey(_))
        ));
    }

    #[test]
    fn plaintext_export_round_trips() {
        let secrets = [Secret::from_bytes(RFC_SECRET.to_vec())];
        let text = write(&sample_keys(&secrets), &Protection::InsecurePlaintext).unwrap();
        assert!(text.contains("<PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue>"));
        let doc = read(text.as_bytes(), &Credentials::default()).unwrap();
        assert!(doc.keys[0].secret.ct_eq(&secrets[0]));
    }

    #[test]
    fn debug_never_shows_seeds_or_credentials() {
        let creds = Credentials {
            password: Some(b"qwerty"),
            ..Credentials::default()
        };
        assert!(!format!("{creds:?}").contains("qwerty"));
        let doc = read(PBKDF2.as_bytes(), &creds).unwrap();
        let shown = format!("{doc:?}");
        assert!(!shown.contains("1234567890"), "{shown}");
        assert!(!shown.contains("MTIzNDU2"), "{shown}");
    }

    #[test]
    fn oversized_input_and_dtds_are_refused() {
        let big = vec![b' '; MAX_INPUT_BYTES + 1];
        assert!(matches!(
            read(&big, &Credentials::default()),
            Err(PskcError::TooLarge)
        ));
        let dtd = format!("<!DOCTYPE KeyContainer [<!ENTITY x \"y\">]>{MINIMAL}");
        let err = read(dtd.as_bytes(), &Credentials::default()).unwrap_err();
        assert!(err.to_string().contains("DTD"), "{err}");
        let huge_iter = PBKDF2.replace(">1000<", ">4000000000<");
        let creds = Credentials {
            password: Some(b"qwerty"),
            ..Credentials::default()
        };
        let err = read(huge_iter.as_bytes(), &creds).unwrap_err();
        assert!(err.to_string().contains("IterationCount"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn reading_never_panics(text in "\\PC{0,300}") {
            let _ = read(text.as_bytes(), &Credentials { password: Some(b"x"), preshared_key: Some(&[0; 16]) });
        }

        #[test]
        fn mutated_fixtures_never_panic(pos in 0usize..2000, byte in proptest::num::u8::ANY) {
            let mut bytes = PBKDF2.as_bytes().to_vec();
            let i = pos % bytes.len();
            bytes[i] = byte;
            let _ = read(&bytes, &Credentials { password: Some(b"qwerty"), preshared_key: None });
        }
    }
}
