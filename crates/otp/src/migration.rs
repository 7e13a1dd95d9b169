//! Google Authenticator exports (`otpauth-migration://offline?data=…`): base64 protobuf holding
//! one or more accounts, possibly one batch of several QR codes (formats.md).

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::encoding::check_length;
use crate::error::{InputError, Malformed};
use crate::hotp::Digits;
use crate::keyed_hmac::Algorithm;
use crate::otpauth::{OtpAuth, OtpKind};
use crate::secret::Secret;
use crate::totp::Period;

/// Largest `data=` payload accepted (a full batch of ten accounts is about 1 KiB).
const MAX_DATA_CHARS: usize = 64 * 1024;

/// The wire message, hand-written so no `protoc` is needed. `Debug` is redacted by hand.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
struct MigrationPayload {
    #[prost(message, repeated, tag = "1")]
    otp_parameters: Vec<OtpParameters>,
    #[prost(int32, tag = "2")]
    version: i32,
    #[prost(int32, tag = "3")]
    batch_size: i32,
    #[prost(int32, tag = "4")]
    batch_index: i32,
    #[prost(int32, tag = "5")]
    batch_id: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
struct OtpParameters {
    #[prost(bytes = "vec", tag = "1")]
    secret: Vec<u8>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    issuer: String,
    /// 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5.
    #[prost(int32, tag = "4")]
    algorithm: i32,
    /// 0 unspecified, 1 six, 2 eight.
    #[prost(int32, tag = "5")]
    digits: i32,
    /// 0 unspecified, 1 HOTP, 2 TOTP.
    #[prost(int32, tag = "6")]
    otp_type: i32,
    #[prost(int64, tag = "7")]
    counter: i64,
}

impl Drop for OtpParameters {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for MigrationPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MigrationPayload({} accounts)",
            self.otp_parameters.len()
        )
    }
}

impl fmt::Debug for OtpParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpParameters(<redacted>)")
    }
}

/// The accounts of one export QR code and its place in a batch.
#[derive(Debug)]
pub struct Migration {
    /// Every account, in export order.
    pub accounts: Vec<OtpAuth>,
    /// Number of QR codes in the batch (1 when not split).
    pub batch_size: u32,
    /// 0-based index of this QR code in the batch.
    pub batch_index: u32,
    /// Identifies the batch, so the codes of one export can be grouped.
    pub batch_id: i32,
}

impl Migration {
    /// Decodes the text after `otpauth-migration://`.
    ///
    /// # Errors
    /// Damaged base64 or protobuf, no accounts, MD5 accounts, or secrets outside the accepted
    /// length (all as [`InputError`], without secret material).
    pub fn parse(uri: &str, allow_short: bool) -> Result<Self, InputError> {
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
        let data = query
            .split('&')
            .find_map(|p| p.strip_prefix("data="))
            .ok_or(InputError::MigrationData {
                reason: Malformed::NoData,
            })?;
        if data.len() > MAX_DATA_CHARS {
            return Err(InputError::MigrationData {
                reason: Malformed::DataTooLarge,
            });
        }
        let b64 = Zeroizing::new(
            percent_encoding::percent_decode_str(data)
                .decode_utf8()
                .map_err(|_| InputError::MigrationData {
                    reason: Malformed::DataNotText,
                })?
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect::<String>(),
        );
        let bytes = Zeroizing::new(data_encoding::BASE64_NOPAD.decode(b64.as_bytes()).map_err(
            |_| InputError::MigrationData {
                reason: Malformed::DataNotBase64,
            },
        )?);
        let payload =
            <MigrationPayload as prost::Message>::decode(bytes.as_slice()).map_err(|_| {
                InputError::MigrationData {
                    reason: Malformed::NotExportMessage,
                }
            })?;
        Self::from_payload(payload, allow_short)
    }

    fn from_payload(mut payload: MigrationPayload, allow_short: bool) -> Result<Self, InputError> {
        if payload.otp_parameters.is_empty() {
            return Err(InputError::MigrationEmpty);
        }
        let mut accounts = Vec::with_capacity(payload.otp_parameters.len());
        for (i, p) in payload.otp_parameters.iter_mut().enumerate() {
            accounts.push(account(p, i + 1, allow_short)?);
        }
        Ok(Self {
            accounts,
            batch_size: u32::try_from(payload.batch_size).unwrap_or(0).max(1),
            batch_index: u32::try_from(payload.batch_index).unwrap_or(0),
            batch_id: payload.batch_id,
        })
    }
}

fn account(p: &mut OtpParameters, index: usize, allow_short: bool) -> Result<OtpAuth, InputError> {
    let algorithm = match p.algorithm {
        0 | 1 => Algorithm::Sha1,
        2 => Algorithm::Sha256,
        3 => Algorithm::Sha512,
        4 => return Err(InputError::MigrationMd5 { index }),
        _ => {
            return Err(InputError::MigrationData {
                reason: Malformed::AccountAlgorithm,
            });
        }
    };
    let digits = match p.digits {
        0 | 1 => Digits::SIX,
        2 => Digits::new(8)?,
        _ => {
            return Err(InputError::MigrationData {
                reason: Malformed::AccountDigits,
            });
        }
    };
    let kind = match p.otp_type {
        1 => OtpKind::Hotp {
            counter: u64::try_from(p.counter).map_err(|_| InputError::MigrationData {
                reason: Malformed::AccountCounter,
            })?,
        },
        0 | 2 => OtpKind::Totp,
        _ => {
            return Err(InputError::MigrationData {
                reason: Malformed::AccountType,
            });
        }
    };
    check_length(p.secret.len(), allow_short)?;
    // Google puts "issuer:account" into name when the original URI label had both.
    let name = std::mem::take(&mut p.name);
    let (label_issuer, account) = match name.split_once(':') {
        Some((i, a)) => (Some(i.trim().to_owned()), a.trim().to_owned()),
        None => (None, name.trim().to_owned()),
    };
    let issuer = Some(std::mem::take(&mut p.issuer))
        .filter(|i| !i.is_empty())
        .or(label_issuer);
    Ok(OtpAuth {
        kind,
        issuer,
        account,
        secret: Secret::from_bytes(std::mem::take(&mut p.secret)),
        algorithm,
        digits,
        period: Period::THIRTY,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use prost::Message;

    use super::*;

    /// (secret, name, issuer, algorithm, digits, type) as the protobuf numbers them.
    pub(crate) type Account<'a> = (&'a [u8], &'a str, &'a str, i32, i32, i32);

    /// Builds an export URI the way Google Authenticator does, for tests.
    pub(crate) fn export_uri(accounts: &[Account<'_>]) -> String {
        let payload = MigrationPayload {
            otp_parameters: accounts
                .iter()
                .map(
                    |(secret, name, issuer, algorithm, digits, otp_type)| OtpParameters {
                        secret: secret.to_vec(),
                        name: (*name).into(),
                        issuer: (*issuer).into(),
                        algorithm: *algorithm,
                        digits: *digits,
                        otp_type: *otp_type,
                        counter: 0,
                    },
                )
                .collect(),
            version: 1,
            batch_size: 2,
            batch_index: 1,
            batch_id: -12345,
        };
        let data = data_encoding::BASE64.encode(&payload.encode_to_vec());
        let data = percent_encoding::utf8_percent_encode(&data, percent_encoding::NON_ALPHANUMERIC);
        format!("otpauth-migration://offline?data={data}")
    }

    #[test]
    fn decodes_several_accounts_of_a_batch() {
        let uri = export_uri(&[
            (
                b"12345678901234567890",
                "alice@contoso.com",
                "Microsoft",
                1,
                1,
                2,
            ),
            (b"abcdefghijabcdefghij", "Okta:bob", "", 2, 2, 1),
        ]);
        let m = Migration::parse(&uri, false).unwrap();
        assert_eq!((m.batch_size, m.batch_index, m.batch_id), (2, 1, -12345));
        assert_eq!(m.accounts.len(), 2);
        let a = &m.accounts[0];
        assert_eq!(a.issuer.as_deref(), Some("Microsoft"));
        assert_eq!(a.account, "alice@contoso.com");
        assert_eq!(a.secret.expose_bytes(), b"12345678901234567890");
        assert_eq!(a.kind, OtpKind::Totp);
        let b = &m.accounts[1];
        assert_eq!(b.issuer.as_deref(), Some("Okta"));
        assert_eq!(b.account, "bob");
        assert_eq!(b.algorithm, Algorithm::Sha256);
        assert_eq!(b.digits.get(), 8);
        assert_eq!(b.kind, OtpKind::Hotp { counter: 0 });
    }

    #[test]
    fn refuses_md5_and_damage() {
        let uri = export_uri(&[
            (b"12345678901234567890", "a", "", 1, 1, 2),
            (b"12345678901234567890", "b", "", 4, 1, 2),
        ]);
        assert_eq!(
            Migration::parse(&uri, false).unwrap_err(),
            InputError::MigrationMd5 { index: 2 }
        );
        assert_eq!(
            Migration::parse(&export_uri(&[]), false).unwrap_err(),
            InputError::MigrationEmpty
        );
        for bad in [
            "otpauth-migration://offline",
            "otpauth-migration://offline?data=!!!!",
            "otpauth-migration://offline?data=AAAA",
        ] {
            assert!(
                matches!(
                    Migration::parse(bad, false),
                    Err(InputError::MigrationData { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let uri = export_uri(&[(b"12345678901234567890", "a", "", 1, 1, 2)]);
        let m = Migration::parse(&uri, false).unwrap();
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("GEZDGNBV"), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
    }
}
