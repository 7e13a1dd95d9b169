//! PSKC (RFC 6030) key containers: plain values, AES-128-CBC under a pre-shared key (§6.1) or a
//! PBKDF2-derived key (§6.2), each encrypted value checked against its HMAC-SHA1 `ValueMAC`
//! (constant time) before it is decrypted. Export writes the §6.2 form.
//!
//! A wrong password or key, a bad MAC or an unsupported protection fails the whole document:
//! nothing from it may be imported. Structural problems of one key package (HOTP where TOTP is
//! needed, no user, odd digits) are per-key errors, reported like CSV row errors.

use aes::Aes128;

use crate::xml::{self, Element};
use crate::{NormaliseUpn, Parsed, TokenRow};
use hmac::Mac;
use tokendesk_otp::{Algorithm, Secret};
use zeroize::Zeroizing;

mod crypto;
#[cfg(test)]
mod tests;
mod write;

use crypto::{aes_decrypt, b64, cipher_value, container_keys, hmac_sha1};
pub use write::{DOCUMENT_END, ExportKey, Protection, Writer, write};

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
        errors: doc.errors,
        ..Parsed::default()
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
