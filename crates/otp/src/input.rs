//! What a pasted text or a decoded QR payload is: a bare secret, an otpauth URI, a Google export,
//! or one of the look-alikes that must be explained rather than guessed at.

use crate::encoding::{decode_base32, decode_hex};
use crate::error::InputError;
use crate::migration::Migration;
use crate::otpauth::{OtpAuth, strip_prefix_ignore_case};
use crate::secret::Secret;

/// How to read ambiguous input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept secrets shorter than 80 bits.
    pub allow_short: bool,
    /// Read a bare secret as hex (a text valid as both is base32 unless told otherwise).
    pub hex: bool,
}

/// A seed as given by an operator or a QR code.
#[derive(Debug)]
pub enum SeedInput {
    /// A bare secret (base32, or hex when asked for), with no parameters of its own.
    Secret(Secret),
    /// An otpauth URI, carrying its own parameters.
    OtpAuth(OtpAuth),
    /// A Google Authenticator export of one or more accounts.
    Migration(Migration),
}

impl SeedInput {
    /// Classifies and decodes `text` with default options (base32, at least 80 bits).
    ///
    /// # Errors
    /// See [`SeedInput::parse_with`].
    pub fn parse(text: &str) -> Result<Self, InputError> {
        Self::parse_with(text, ParseOptions::default())
    }

    /// Classifies and decodes `text`: `otpauth://`, `otpauth-migration://`, `hex:…`, or a bare
    /// base32 secret. Look-alikes get their own plain-language error: `phonefactor://`
    /// (Microsoft Authenticator), `FIDO:/` (passkey), digits-only serial barcodes, other URLs.
    ///
    /// # Errors
    /// An [`InputError`] that names the problem without repeating the secret.
    pub fn parse_with(text: &str, options: ParseOptions) -> Result<Self, InputError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(InputError::Empty);
        }
        if strip_prefix_ignore_case(text, "otpauth://").is_some() {
            return OtpAuth::parse(text, options.allow_short).map(Self::OtpAuth);
        }
        if strip_prefix_ignore_case(text, "otpauth-migration://").is_some() {
            return Migration::parse(text, options.allow_short).map(Self::Migration);
        }
        if strip_prefix_ignore_case(text, "phonefactor://").is_some() {
            return Err(InputError::MicrosoftPushQr);
        }
        if strip_prefix_ignore_case(text, "fido:/").is_some() {
            return Err(InputError::Passkey);
        }
        if let Some(hex) = strip_prefix_ignore_case(text, "hex:") {
            return decode_hex(hex, options.allow_short).map(Self::Secret);
        }
        if options.hex {
            return decode_hex(text, options.allow_short).map(Self::Secret);
        }
        if let Some(scheme) = url_scheme(text) {
            return Err(InputError::OtherUrl { scheme });
        }
        let digits = text.chars().filter(|c| !c.is_whitespace() && *c != '-');
        if digits.clone().all(|c| c.is_ascii_digit()) {
            return Err(InputError::SerialBarcode {
                digits: digits.count(),
            });
        }
        decode_base32(text, options.allow_short).map(Self::Secret)
    }

    /// The secret of a single-account input: the bare secret or the URI's. A multi-account
    /// export has no single secret and yields `None`.
    pub fn into_single(self) -> Option<(Secret, Option<OtpAuth>)> {
        match self {
            Self::Secret(s) => Some((s, None)),
            Self::OtpAuth(u) => {
                let s = u.secret.duplicate();
                Some((s, Some(u)))
            }
            Self::Migration(_) => None,
        }
    }
}

/// Schemes named in messages. Anything else is called "another kind of link": echoing an
/// unknown prefix could echo a secret pasted with a stray colon (`JBSWY3DPEHPK3PXP:`).
const KNOWN_SCHEMES: &[&str] = &[
    "http", "https", "mailto", "tel", "sms", "smsto", "mms", "data", "file", "ftp", "wifi",
    "begin", "mecard", "geo", "market", "intent", "msteams", "ms-word", "ms-excel", "bitcoin",
    "upi", "whatsapp", "skype", "sip", "zoommtg", "webcal", "urn",
];

/// `scheme` of `scheme:…` text, when the text is a URL (RFC 3986 scheme syntax). Base32 has
/// no colon, so nothing with a valid scheme prefix can be a secret.
fn url_scheme(text: &str) -> Option<String> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return None;
    }
    let lower = scheme.to_ascii_lowercase();
    Some(if KNOWN_SCHEMES.contains(&lower.as_str()) {
        lower
    } else {
        "another kind of".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kind(text: &str) -> &'static str {
        match SeedInput::parse(text) {
            Ok(SeedInput::Secret(_)) => "secret",
            Ok(SeedInput::OtpAuth(_)) => "otpauth",
            Ok(SeedInput::Migration(_)) => "migration",
            Err(InputError::MicrosoftPushQr) => "phonefactor",
            Err(InputError::Passkey) => "fido",
            Err(InputError::SerialBarcode { .. }) => "serial",
            Err(InputError::OtherUrl { .. }) => "url",
            Err(_) => "error",
        }
    }

    #[test]
    fn classifies_what_screens_and_people_bring() {
        for (text, expected) in [
            ("2sk2 tsmk jp7k dbck", "secret"),
            ("hex:3132333435363738393031323334353637383930", "secret"),
            (
                "otpauth://totp/Microsoft%3Aalice%40contoso.com?secret=2sk2tsmkjp7kdbck&issuer=Microsoft",
                "otpauth",
            ),
            (
                &crate::migration::tests::export_uri(&[(
                    b"12345678901234567890",
                    "a",
                    "",
                    1,
                    1,
                    2,
                )]),
                "migration",
            ),
            (
                "phonefactor://activate_account?code=123456789&url=https://mobileappcommunicator.auth.microsoft.com/activate/123/WEU",
                "phonefactor",
            ),
            ("PHONEFACTOR://x", "phonefactor"),
            ("FIDO:/1234567890123456789012345678901234567890", "fido"),
            ("8659632000123", "serial"),
            ("8659 6320 0012 3", "serial"),
            ("https://aka.ms/mfasetup", "url"),
            ("mailto:helpdesk@contoso.com", "url"),
            ("not a secret!", "error"),
        ] {
            assert_eq!(kind(text), expected, "{text}");
        }
    }

    #[test]
    fn phonefactor_message_tells_what_to_click() {
        let msg = SeedInput::parse("phonefactor://x").unwrap_err().to_string();
        assert!(
            msg.contains("I want to use a different authenticator app"),
            "{msg}"
        );
    }

    #[test]
    fn hex_is_only_read_when_asked_for() {
        // Valid as both: base32 by default.
        let both = "ABCDEF2345ABCDEF2345";
        let b32 = SeedInput::parse(both).unwrap().into_single().unwrap().0;
        assert_eq!(b32.len(), 12);
        let opts = ParseOptions {
            hex: true,
            ..ParseOptions::default()
        };
        let hex = SeedInput::parse_with(both, opts)
            .unwrap()
            .into_single()
            .unwrap()
            .0;
        assert_eq!(hex.len(), 10);
    }

    #[test]
    fn unknown_schemes_are_not_echoed() {
        // Found by fuzzing: a secret pasted with a trailing colon must not come back in the error.
        let err = SeedInput::parse("JBSWY3DPEHPK3PXP:").unwrap_err();
        assert_eq!(
            err,
            InputError::OtherUrl {
                scheme: "another kind of".into()
            }
        );
        assert!(!err.to_string().to_uppercase().contains("JBSWY3DP"));
    }

    #[test]
    fn url_scheme_is_sanitised() {
        let err = SeedInput::parse("data:text/plain,xx").unwrap_err();
        assert_eq!(
            err,
            InputError::OtherUrl {
                scheme: "data".into()
            }
        );
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,120}") {
            let _ = SeedInput::parse(&text);
            let _ = SeedInput::parse_with(&text, ParseOptions { allow_short: true, hex: true });
        }
    }
}
