//! `otpauth://` URIs (Google "Key Uri Format"): parsing as found in the wild and canonical
//! formatting for phone burner apps and exports.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::encoding::decode_base32;
use crate::error::{InputError, Malformed};
use crate::hotp::Digits;
use crate::keyed_hmac::Algorithm;
use crate::secret::Secret;
use crate::totp::{Period, TotpParams};

/// Characters left as they are in labels and parameter values: RFC 3986 unreserved.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Time-based or counter-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpKind {
    /// RFC 6238.
    Totp,
    /// RFC 4226, with the next counter value.
    Hotp {
        /// The `counter=` parameter.
        counter: u64,
    },
}

/// A parsed otpauth URI. The secret is a [`Secret`]; `Debug` never shows it.
pub struct OtpAuth {
    /// TOTP or HOTP.
    pub kind: OtpKind,
    /// The `issuer=` parameter, or the label's prefix before `:`.
    pub issuer: Option<String>,
    /// The label's account part (often the UPN).
    pub account: String,
    /// The seed.
    pub secret: Secret,
    /// HMAC hash.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Step length (TOTP; 30 s for HOTP, where it is unused).
    pub period: Period,
}

impl fmt::Debug for OtpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpAuth")
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("secret", &self.secret)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .finish()
    }
}

fn decode_component(raw: &str, plus_is_space: bool) -> Result<String, InputError> {
    let replaced;
    let raw = if plus_is_space {
        replaced = raw.replace('+', " ");
        replaced.as_str()
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| InputError::UriMalformed {
            reason: Malformed::PercentNotUtf8,
        })
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), InputError> {
    if slot.replace(value).is_some() {
        return Err(InputError::UriDuplicate { name });
    }
    Ok(())
}

fn number<T: std::str::FromStr>(value: &str, name: &'static str) -> Result<T, InputError> {
    value
        .trim()
        .parse()
        .map_err(|_| InputError::UriNumber { name })
}

impl OtpAuth {
    /// Parses `otpauth://TYPE/LABEL?PARAMS`. Scheme, type and parameter names are
    /// case-insensitive; unknown parameters are ignored; Microsoft's lowercase secrets work.
    ///
    /// # Errors
    /// Any problem with the structure, the secret or a parameter, as an [`InputError`] that
    /// never contains the secret.
    pub fn parse(uri: &str, allow_short: bool) -> Result<Self, InputError> {
        let uri = uri.trim();
        let rest = strip_prefix_ignore_case(uri, "otpauth://").ok_or(InputError::UriMalformed {
            reason: Malformed::NotOtpauth,
        })?;
        let rest = rest.split('#').next().unwrap_or(rest);
        let (kind_label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (kind, label) = kind_label.split_once('/').unwrap_or((kind_label, ""));
        let is_hotp = match kind.to_ascii_lowercase().as_str() {
            "totp" => false,
            "hotp" => true,
            _ => return Err(InputError::UriType),
        };
        let label = decode_component(label, false)?;
        let (label_issuer, account) = match label.split_once(':') {
            Some((i, a)) => (Some(i.trim().to_owned()), a.trim().to_owned()),
            None => (None, label.trim().to_owned()),
        };

        let mut secret_text: Option<Zeroizing<String>> = None;
        let (mut issuer, mut algorithm, mut digits, mut period, mut counter) =
            (None, None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name.to_ascii_lowercase().as_str() {
                "secret" => set_once(
                    &mut secret_text,
                    Zeroizing::new(decode_component(value, false)?),
                    "secret",
                )?,
                "issuer" => set_once(&mut issuer, decode_component(value, true)?, "issuer")?,
                "algorithm" => set_once(
                    &mut algorithm,
                    decode_component(value, false)?.parse::<Algorithm>()?,
                    "algorithm",
                )?,
                "digits" => set_once(
                    &mut digits,
                    Digits::new(number(value, "digits")?)?,
                    "digits",
                )?,
                "period" => set_once(
                    &mut period,
                    Period::new(number(value, "period")?)?,
                    "period",
                )?,
                "counter" => set_once(&mut counter, number::<u64>(value, "counter")?, "counter")?,
                _ => {}
            }
        }
        let secret_text = secret_text.ok_or(InputError::UriMissingSecret)?;
        let secret = decode_base32(&secret_text, allow_short)?;
        let kind = if is_hotp {
            OtpKind::Hotp {
                counter: counter.ok_or(InputError::UriMissingCounter)?,
            }
        } else {
            OtpKind::Totp
        };
        Ok(Self {
            kind,
            issuer: issuer.filter(|i| !i.is_empty()).or(label_issuer),
            account,
            secret,
            algorithm: algorithm.unwrap_or_default(),
            digits: digits.unwrap_or_default(),
            period: period.unwrap_or_default(),
        })
    }

    /// A TOTP URI with default parameters, as `seed show --issuer --account` builds it.
    pub fn new_totp(secret: Secret, issuer: Option<String>, account: String) -> Self {
        Self {
            kind: OtpKind::Totp,
            issuer,
            account,
            secret,
            algorithm: Algorithm::Sha1,
            digits: Digits::SIX,
            period: Period::THIRTY,
        }
    }

    /// The TOTP parameters (T0 = 0, as otpauth URIs have no T0).
    pub fn totp_params(&self) -> TotpParams {
        TotpParams {
            algorithm: self.algorithm,
            digits: self.digits,
            period: self.period,
            t0_unix_secs: 0,
        }
    }

    /// Canonical URI: label `issuer:account` percent-encoded, base32 secret without padding,
    /// and every parameter spelled out so burner apps need not guess defaults. It contains the
    /// secret: show it only to whoever may see the seed.
    pub fn to_uri(&self) -> Zeroizing<String> {
        let enc = |s: &str| utf8_percent_encode(s, ENCODE).to_string();
        let (kind, tail) = match self.kind {
            OtpKind::Totp => ("totp", format!("period={}", self.period.secs())),
            OtpKind::Hotp { counter } => ("hotp", format!("counter={counter}")),
        };
        let label = match &self.issuer {
            Some(i) => format!("{}:{}", enc(i), enc(&self.account)),
            None => enc(&self.account),
        };
        let issuer = self
            .issuer
            .as_deref()
            .map(|i| format!("&issuer={}", enc(i)))
            .unwrap_or_default();
        Zeroizing::new(format!(
            "otpauth://{kind}/{label}?secret={}{issuer}&algorithm={}&digits={}&{tail}",
            self.secret.to_base32().as_str(),
            self.algorithm,
            self.digits.get(),
        ))
    }
}

pub(crate) fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn microsofts_uri() {
        let u = OtpAuth::parse(
            "otpauth://totp/Microsoft%3Aalice%40contoso.com?secret=2sk2tsmkjp7kdbck&issuer=Microsoft",
            false,
        )
        .unwrap();
        assert_eq!(u.kind, OtpKind::Totp);
        assert_eq!(u.issuer.as_deref(), Some("Microsoft"));
        assert_eq!(u.account, "alice@contoso.com");
        assert_eq!(u.secret.to_base32().as_str(), "2SK2TSMKJP7KDBCK");
        assert_eq!(u.totp_params(), TotpParams::default());
        assert!(!format!("{u:?}").contains("2SK2"));
    }

    #[test]
    fn parameters_in_any_case_and_order() {
        let u = OtpAuth::parse(
            "OTPAUTH://TOTP/ACME%20Co:john.doe@email.com?Algorithm=sha256&DIGITS=8&Period=60&unknown=1&Secret=JBSWY3DPEHPK3PXP",
            false,
        )
        .unwrap();
        assert_eq!(u.issuer.as_deref(), Some("ACME Co"));
        assert_eq!(u.account, "john.doe@email.com");
        assert_eq!(u.algorithm, Algorithm::Sha256);
        assert_eq!(u.digits.get(), 8);
        assert_eq!(u.period.secs(), 60);
    }

    #[test]
    fn hotp_needs_a_counter() {
        let u =
            OtpAuth::parse("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=42", false).unwrap();
        assert_eq!(u.kind, OtpKind::Hotp { counter: 42 });
        assert_eq!(
            OtpAuth::parse("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP", false).unwrap_err(),
            InputError::UriMissingCounter
        );
    }

    #[test]
    fn malformed_uris_are_explained() {
        for (uri, expected) in [
            ("otpauth://totp/x", InputError::UriMissingSecret),
            (
                "otpauth://motp/x?secret=JBSWY3DPEHPK3PXP",
                InputError::UriType,
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP",
                InputError::UriDuplicate { name: "secret" },
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=seven",
                InputError::UriNumber { name: "digits" },
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5",
                InputError::Param(crate::ParamError::Digits { given: 5 }),
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
                InputError::Param(crate::ParamError::Period { given: 0 }),
            ),
            (
                "otpauth://totp/%FF?secret=JBSWY3DPEHPK3PXP",
                InputError::UriMalformed {
                    reason: Malformed::PercentNotUtf8,
                },
            ),
        ] {
            assert_eq!(OtpAuth::parse(uri, false).unwrap_err(), expected, "{uri}");
        }
        assert!(matches!(
            OtpAuth::parse("otpauth://totp/x?secret=JBSWY3D0EHPK3PXP", false),
            Err(InputError::NotBase32 { position: 8, .. })
        ));
        assert!(matches!(
            OtpAuth::parse(
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                false
            ),
            Err(InputError::Param(crate::ParamError::Algorithm { .. }))
        ));
    }

    #[test]
    fn a_mangled_link_does_not_echo_the_secret_in_the_algorithm_error() {
        // Found by fuzzing (seed_input, docs/fuzzing.md): a link whose `&` was lost runs the
        // next parameters, the secret among them, into the algorithm's value, which the error
        // quoted (16 characters of it).
        let err = OtpAuth::parse(
            "otpauth://totp/x?algorithm=SHA1secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("JBSWY3DP"), "{err}");
        assert!(err.contains("use SHA1, SHA256 or SHA512"), "{err}");
        let err = OtpAuth::parse(
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"MD5\""),
            "a plain wrong name is still named: {err}"
        );
    }

    #[test]
    fn canonical_form() {
        let u = OtpAuth::new_totp(
            Secret::from_bytes(b"12345678901234567890".to_vec()),
            Some("Contoso IT".into()),
            "alice@contoso.com".into(),
        );
        assert_eq!(
            u.to_uri().as_str(),
            "otpauth://totp/Contoso%20IT:alice%40contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Contoso%20IT&algorithm=SHA1&digits=6&period=30"
        );
    }

    fn arb_uri() -> impl Strategy<Value = OtpAuth> {
        (
            proptest::collection::vec(any::<u8>(), 10..64),
            proptest::option::of("[^:\u{0}]{1,20}"),
            "[^:]{0,30}",
            prop_oneof![
                Just(Algorithm::Sha1),
                Just(Algorithm::Sha256),
                Just(Algorithm::Sha512)
            ],
            6u32..=10,
            1u64..=3600,
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |(bytes, issuer, account, algorithm, digits, period, counter)| OtpAuth {
                    kind: counter.map_or(OtpKind::Totp, |counter| OtpKind::Hotp { counter }),
                    issuer: issuer
                        .map(|i| i.trim().to_owned())
                        .filter(|i| !i.is_empty()),
                    account: account.trim().to_owned(),
                    secret: Secret::from_bytes(bytes),
                    algorithm,
                    digits: Digits::new(digits).unwrap(),
                    period: if counter.is_some() {
                        Period::THIRTY
                    } else {
                        Period::new(period).unwrap()
                    },
                },
            )
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(u in arb_uri()) {
            let back = OtpAuth::parse(&u.to_uri(), false).unwrap();
            prop_assert_eq!(back.kind, u.kind);
            prop_assert_eq!(&back.issuer, &u.issuer);
            prop_assert_eq!(&back.account, &u.account);
            prop_assert!(back.secret.ct_eq(&u.secret));
            prop_assert_eq!(back.algorithm, u.algorithm);
            prop_assert_eq!(back.digits, u.digits);
            prop_assert_eq!(back.period, u.period);
        }

        #[test]
        fn parsing_never_panics(s in "otpauth://[a-zA-Z]{0,5}/.{0,40}") {
            let _ = OtpAuth::parse(&s, true);
        }
    }
}
