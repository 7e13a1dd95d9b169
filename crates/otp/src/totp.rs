//! TOTP (RFC 6238): time steps, codes and their validity windows.

use std::fmt;

use crate::error::{ParamError, TimeError};
use crate::hotp::{Digits, Hotp};
use crate::keyed_hmac::Algorithm;
use crate::secret::{Code, Secret};

/// Length of a time step in seconds, 1 s to 1 h. Tokens use 30 or 60.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period(u32);

impl Period {
    /// The usual 30 seconds.
    pub const THIRTY: Period = Period(30);

    /// # Errors
    /// [`ParamError::Period`] outside 1..=3600 seconds.
    pub fn new(secs: u64) -> Result<Self, ParamError> {
        match u32::try_from(secs) {
            Ok(s @ 1..=3600) => Ok(Self(s)),
            _ => Err(ParamError::Period { given: secs }),
        }
    }

    /// Seconds per step.
    pub fn secs(self) -> u64 {
        u64::from(self.0)
    }
}

impl Default for Period {
    fn default() -> Self {
        Self::THIRTY
    }
}

/// Everything but the secret that decides a TOTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TotpParams {
    /// HMAC hash.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Step length.
    pub period: Period,
    /// Unix time of step 0 (RFC 6238 `T0`, almost always 0).
    pub t0_unix_secs: u64,
}

/// A code with the step it belongs to and the window in which it is current.
#[derive(Clone, Debug)]
pub struct TotpCode {
    /// The digits (redacted in `Debug`).
    pub code: Code,
    /// RFC 6238 counter: `floor((t - T0) / period)`.
    pub step: u64,
    /// First second at which this code is current (`T0 + step * period`).
    pub valid_from: u64,
    /// First second at which it is no longer current; saturates at `u64::MAX`.
    pub valid_until: u64,
    /// Seconds from the asked time until `valid_until` (0 for past steps).
    pub secs_left: u64,
}

/// A TOTP generator for one secret; HMAC states are precomputed once (see [`Hotp`]).
#[derive(Clone)]
pub struct Totp {
    hotp: Hotp,
    params: TotpParams,
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Totp {
    /// Keys a generator for `secret` with `params`.
    pub fn new(secret: &Secret, params: TotpParams) -> Self {
        Self {
            hotp: Hotp::new(secret, params.algorithm, params.digits),
            params,
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The underlying HOTP generator (step → code), for bulk loops.
    pub fn hotp(&self) -> &Hotp {
        &self.hotp
    }

    /// The step containing `unix_secs`.
    ///
    /// # Errors
    /// [`TimeError::BeforeT0`] when the time is before `T0`.
    pub fn step_at(&self, unix_secs: u64) -> Result<u64, TimeError> {
        let since = unix_secs
            .checked_sub(self.params.t0_unix_secs)
            .ok_or(TimeError::BeforeT0)?;
        Ok(since / self.params.period.secs())
    }

    /// The code current at `unix_secs`, its step and validity window. Time is passed in so
    /// tests, "future code" requests and drift checks share one path.
    ///
    /// # Errors
    /// [`TimeError::BeforeT0`] when the time is before `T0`.
    ///
    /// ```
    /// use tokendesk_otp::{Algorithm, Digits, Secret, Totp, TotpParams};
    /// let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
    /// let params = TotpParams { digits: Digits::new(8)?, ..TotpParams::default() };
    /// let c = Totp::new(&secret, params).at(59)?;
    /// assert_eq!((c.code.expose(), c.step, c.valid_from, c.valid_until, c.secs_left),
    ///            ("94287082", 1, 30, 60, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn at(&self, unix_secs: u64) -> Result<TotpCode, TimeError> {
        self.at_offset(unix_secs, 0)
    }

    /// The code `offset` steps before (negative) or after (positive) the one current at
    /// `unix_secs`; `secs_left` is still measured from `unix_secs`.
    ///
    /// # Errors
    /// [`TimeError::BeforeT0`] for a time before `T0`; [`TimeError::OutOfRange`] when the
    /// shifted step is negative or beyond `u64`.
    pub fn at_offset(&self, unix_secs: u64, offset: i64) -> Result<TotpCode, TimeError> {
        let step = self
            .step_at(unix_secs)?
            .checked_add_signed(offset)
            .ok_or(TimeError::OutOfRange)?;
        let (valid_from, valid_until) = self.window(step)?;
        Ok(TotpCode {
            code: self.hotp.code(step),
            step,
            valid_from,
            valid_until,
            secs_left: valid_until.saturating_sub(unix_secs),
        })
    }

    /// `[valid_from, valid_until)` of `step`.
    ///
    /// # Errors
    /// [`TimeError::OutOfRange`] when the step starts beyond `u64` seconds.
    pub fn window(&self, step: u64) -> Result<(u64, u64), TimeError> {
        let from = step
            .checked_mul(self.params.period.secs())
            .and_then(|s| s.checked_add(self.params.t0_unix_secs))
            .ok_or(TimeError::OutOfRange)?;
        Ok((from, from.saturating_add(self.params.period.secs())))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rfc6238(algorithm: Algorithm) -> Totp {
        let key: &[u8] = match algorithm {
            Algorithm::Sha1 => b"12345678901234567890",
            Algorithm::Sha256 => b"12345678901234567890123456789012",
            Algorithm::Sha512 => {
                b"1234567890123456789012345678901234567890123456789012345678901234"
            }
        };
        let params = TotpParams {
            algorithm,
            digits: Digits::new(8).unwrap(),
            ..TotpParams::default()
        };
        Totp::new(&Secret::from_bytes(key.to_vec()), params)
    }

    /// RFC 6238 Appendix B, all 18 rows.
    const APPENDIX_B: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b() {
        for (t, sha1, sha256, sha512) in APPENDIX_B {
            assert_eq!(rfc6238(Algorithm::Sha1).at(t).unwrap().code.expose(), sha1);
            assert_eq!(
                rfc6238(Algorithm::Sha256).at(t).unwrap().code.expose(),
                sha256
            );
            assert_eq!(
                rfc6238(Algorithm::Sha512).at(t).unwrap().code.expose(),
                sha512
            );
        }
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let totp = rfc6238(Algorithm::Sha1);
        let c = totp.at(u64::MAX).unwrap();
        assert_eq!(c.valid_until, u64::MAX);
        assert_eq!(c.valid_from, u64::MAX - u64::MAX % 30);
        assert!(totp.at_offset(u64::MAX, i64::MAX).is_err());
        assert!(totp.at_offset(0, -1).is_err());
        assert!(totp.at_offset(0, i64::MIN).is_err());
        let later = Totp::new(
            &Secret::from_bytes(vec![1; 20]),
            TotpParams {
                t0_unix_secs: 100,
                ..TotpParams::default()
            },
        );
        assert_eq!(later.at(99).unwrap_err(), TimeError::BeforeT0);
        assert_eq!(later.at(100).unwrap().step, 0);
    }

    #[test]
    fn period_range_is_one_second_to_one_hour() {
        assert!(Period::new(0).is_err());
        assert!(Period::new(3601).is_err());
        assert!(Period::new(u64::MAX).is_err());
        assert_eq!(Period::new(1).unwrap().secs(), 1);
        assert_eq!(Period::new(3600).unwrap().secs(), 3600);
    }

    proptest! {
        #[test]
        fn window_contains_the_time(t in any::<u64>(), period in 1u64..=3600, t0 in 0u64..1_000_000) {
            let params = TotpParams { period: Period::new(period).unwrap(), t0_unix_secs: t0, ..TotpParams::default() };
            let totp = Totp::new(&Secret::from_bytes(vec![7; 10]), params);
            match totp.at(t) {
                Ok(c) => {
                    prop_assert!(c.valid_from <= t);
                    prop_assert!(t < c.valid_until || c.valid_until == u64::MAX);
                    prop_assert!(c.valid_until - c.valid_from <= period);
                    prop_assert_eq!(c.secs_left, c.valid_until - t);
                    prop_assert!(c.secs_left >= 1 || c.valid_until == u64::MAX);
                    prop_assert_eq!(c.valid_from, t0 + c.step * period);
                    if c.valid_until < u64::MAX {
                        // The next second after the window starts the next step.
                        prop_assert_eq!(totp.at(c.valid_until).unwrap().step, c.step + 1);
                    }
                }
                Err(e) => prop_assert!(t < t0 && e == TimeError::BeforeT0),
            }
        }

        #[test]
        fn offsets_move_whole_steps(t in 0u64..4_000_000_000, off in -1000i64..1000) {
            let totp = Totp::new(&Secret::from_bytes(vec![9; 20]), TotpParams::default());
            let base = totp.at(t).unwrap();
            match totp.at_offset(t, off) {
                Ok(c) => {
                    prop_assert_eq!(c.step as i128, base.step as i128 + off as i128);
                    let direct = totp.hotp().code(c.step);
                    prop_assert_eq!(c.code.expose(), direct.expose());
                }
                Err(_) => prop_assert!((base.step as i128) + (off as i128) < 0),
            }
        }
    }
}
