//! Writing PSKC: plain, or encrypted under a password (PBKDF2) with a MAC key.

use super::crypto::*;
use super::*;
use crate::xml::escape;
use data_encoding::BASE64;
use hmac::Mac;
use sha1::Sha1;
use tokendesk_otp::{Algorithm, Secret};
use zeroize::Zeroizing;

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
    let writer = Writer::new(protection)?;
    let mut out = Zeroizing::new(String::with_capacity(512 + keys.len() * 1024));
    out.push_str(writer.head());
    for k in keys {
        out.push_str(&writer.key(k)?);
    }
    out.push_str(DOCUMENT_END);
    Ok(out)
}

/// The document's end, after the last key.
pub const DOCUMENT_END: &str = "</KeyContainer>\n";

/// A PSKC document written key by key, for an export that streams: [`Writer::head`], then
/// [`Writer::key`] for each key, then [`DOCUMENT_END`]. The keys derived from the password (or the
/// plaintext choice) are fixed when it is made.
pub struct Writer {
    head: String,
    crypto: Option<ExportSecrets>,
}

impl Writer {
    /// Derives the export's keys (PBKDF2 with a fresh salt, a fresh MAC key) for `protection`.
    ///
    /// # Errors
    /// [`PskcError::Random`] if the OS random source fails.
    pub fn new(protection: &Protection<'_>) -> Result<Self> {
        let mut head = String::from(
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
            head.push_str(&format!(
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
        Ok(Self { head, crypto })
    }

    /// The document up to the first key.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// One key's `KeyPackage`, its seed encrypted and MAC'd (or in clear for
    /// [`Protection::InsecurePlaintext`]). The text is sized once, so a seed in clear is never
    /// left behind in a freed buffer.
    ///
    /// # Errors
    /// [`PskcError`] if encryption fails.
    pub fn key(&self, k: &ExportKey<'_>) -> Result<Zeroizing<String>> {
        let mut before = String::from("  <KeyPackage>\n    <DeviceInfo>\n");
        for (tag, v) in [
            ("Manufacturer", k.manufacturer),
            ("SerialNo", k.serial),
            ("Model", k.model),
        ] {
            if let Some(v) = v {
                before.push_str(&format!("      <{tag}>{}</{tag}>\n", escape(v)));
            }
        }
        before.push_str(&format!(
            "    </DeviceInfo>\n    <Key Id=\"{}\" Algorithm=\"{TOTP_URI}\">\n      <Issuer>{}</Issuer>\n      \
             <AlgorithmParameters>\n        <Suite>{}</Suite>\n        \
             <ResponseFormat Length=\"{}\" Encoding=\"DECIMAL\"/>\n      </AlgorithmParameters>\n      \
             <Data>\n        <Secret>\n",
            escape(k.id),
            escape(k.issuer),
            suite(k.algorithm),
            k.digits
        ));
        let after = format!(
            "        </Secret>\n        <Time><PlainValue>0</PlainValue></Time>\n        \
             <TimeInterval><PlainValue>{}</PlainValue></TimeInterval>\n      </Data>\n      \
             <UserId>{}</UserId>\n    </Key>\n  </KeyPackage>\n",
            k.period_secs,
            escape(k.upn)
        );
        let value = match &self.crypto {
            Some((enc, mac_key)) => {
                let ct = aes_encrypt(enc.as_ref(), k.secret.expose_bytes())?;
                let mut mac = hmac_sha1(mac_key.as_ref())?;
                mac.update(&ct);
                let tag = mac.finalize().into_bytes();
                Zeroizing::new(format!(
                    "          <EncryptedValue>\n            <xenc:EncryptionMethod Algorithm=\"{AES128_CBC}\"/>\n            \
                     <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>\n          \
                     </EncryptedValue>\n          <ValueMAC>{}</ValueMAC>\n",
                    BASE64.encode(&ct),
                    BASE64.encode(&tag)
                ))
            }
            None => {
                let plain = Zeroizing::new(BASE64.encode(k.secret.expose_bytes()));
                let mut value = Zeroizing::new(String::with_capacity(plain.len() + 40));
                value.push_str("          <PlainValue>");
                value.push_str(&plain);
                value.push_str("</PlainValue>\n");
                value
            }
        };
        let mut out = Zeroizing::new(String::with_capacity(
            before.len() + value.len() + after.len(),
        ));
        out.push_str(&before);
        out.push_str(&value);
        out.push_str(&after);
        Ok(out)
    }
}
