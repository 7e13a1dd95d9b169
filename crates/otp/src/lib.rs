//! tokendesk's OTP core: seeds, HOTP/TOTP codes, otpauth URIs and the classification of whatever
//! an operator pastes or a QR code holds.
//!
//! Invariants: no I/O and no clock (time is always an argument; the one system call is the
//! OS CSPRNG in [`Secret::generate`]); no panics on any input; secret bytes live only in
//! zeroizing types whose `Debug` is redacted, and no error message contains a secret or a code.

mod drift;
mod encoding;
mod error;
mod hotp;
mod input;
mod keyed_hmac;
mod migration;
mod otpauth;
mod secret;
mod totp;

pub use drift::{Drift, one_day_steps, search as drift_search};
pub use encoding::{MAX_SECRET_BYTES, MIN_SECRET_BYTES, decode_base32, decode_hex};
pub use error::{InputError, Malformed, ParamError, TimeError};
pub use hotp::{Digits, Hotp};
pub use input::{ParseOptions, SeedInput};
pub use keyed_hmac::Algorithm;
pub use migration::Migration;
pub use otpauth::{OtpAuth, OtpKind};
pub use secret::{Code, Secret};
pub use totp::{Period, Totp, TotpCode, TotpParams};
