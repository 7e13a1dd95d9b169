//! The 19-byte config TLV of WRITE CONFIG (§4.2): display timeout, clock, HMAC, time step.
//! All four are always sent together; there is no time-only command on these tokens.

use core::fmt;

/// How long the token's display stays on after a button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisplayTimeout {
    /// 15 seconds (wire value 00).
    Secs15,
    /// 30 seconds (wire value 01), the vendor default.
    #[default]
    Secs30,
    /// 60 seconds (wire value 02).
    Secs60,
    /// 120 seconds (wire value 03).
    Secs120,
}

impl DisplayTimeout {
    /// From seconds; `None` unless 15, 30, 60 or 120.
    pub fn from_secs(secs: u32) -> Option<Self> {
        match secs {
            15 => Some(Self::Secs15),
            30 => Some(Self::Secs30),
            60 => Some(Self::Secs60),
            120 => Some(Self::Secs120),
            _ => None,
        }
    }

    /// The timeout in seconds.
    pub fn secs(self) -> u32 {
        match self {
            Self::Secs15 => 15,
            Self::Secs30 => 30,
            Self::Secs60 => 60,
            Self::Secs120 => 120,
        }
    }

    fn wire(self) -> u8 {
        match self {
            Self::Secs15 => 0,
            Self::Secs30 => 1,
            Self::Secs60 => 2,
            Self::Secs120 => 3,
        }
    }

    fn from_wire(b: u8) -> Option<Self> {
        [Self::Secs15, Self::Secs30, Self::Secs60, Self::Secs120]
            .into_iter()
            .find(|t| t.wire() == b)
    }
}

/// HMAC used for the TOTP. Single-profile tokens support SHA-1 and SHA-256 and show 6 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1 (wire value 01).
    #[default]
    Sha1,
    /// HMAC-SHA-256 (wire value 02).
    Sha256,
}

impl Algorithm {
    fn wire(self) -> u8 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
        }
    }

    fn from_wire(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Sha1),
            2 => Some(Self::Sha256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
        })
    }
}

/// TOTP time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Period {
    /// 30 seconds (wire `1E`).
    #[default]
    Secs30,
    /// 60 seconds (wire `3C`).
    Secs60,
}

impl Period {
    /// From seconds; `None` unless 30 or 60.
    pub fn from_secs(secs: u32) -> Option<Self> {
        match secs {
            30 => Some(Self::Secs30),
            60 => Some(Self::Secs60),
            _ => None,
        }
    }

    /// The step in seconds (also the wire byte: `1E` / `3C`).
    pub fn secs(self) -> u8 {
        match self {
            Self::Secs30 => 30,
            Self::Secs60 => 60,
        }
    }
}

/// What WRITE CONFIG sets, apart from the clock, which is taken at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenConfig {
    /// Display timeout.
    pub display_timeout: DisplayTimeout,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Time step.
    pub period: Period,
}

/// Length of the config TLV.
pub const CONFIG_TLV_LEN: usize = 19;

/// The encoded config TLV (not secret; sent in the clear, protected by the MAC).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigTlv([u8; CONFIG_TLV_LEN]);

impl fmt::Debug for ConfigTlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigTlv(")?;
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        write!(f, ")")
    }
}

impl ConfigTlv {
    /// The 19 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A config TLV read back by a token (the emulator, or a trace decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedConfig {
    /// The settings.
    pub config: TokenConfig,
    /// The clock value, u32 Unix seconds.
    pub unix_secs: u32,
}

/// Why bytes are not a single-profile config TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigParseError {
    /// Not 19 bytes.
    #[error("config TLV has {len} bytes, expected 19")]
    Length {
        /// Length seen.
        len: usize,
    },
    /// A tag or length byte is not where §4.2 puts it.
    #[error("config TLV byte {offset} is not the expected tag or length")]
    Layout {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// A value outside the defined set.
    #[error("config TLV value at byte {offset} is not defined")]
    Value {
        /// Offset of the bad value.
        offset: usize,
    },
}

impl TokenConfig {
    /// Encodes the TLV with the clock set to `unix_secs`:
    /// `81 11 | 1F 01 tt | 0F 04 tttttttt | 86 06 | 0A 01 hh | 0D 01 ss`.
    pub fn to_tlv(&self, unix_secs: u32) -> ConfigTlv {
        let t = unix_secs.to_be_bytes();
        ConfigTlv([
            0x81,
            0x11,
            0x1F,
            0x01,
            self.display_timeout.wire(),
            0x0F,
            0x04,
            t[0],
            t[1],
            t[2],
            t[3],
            0x86,
            0x06,
            0x0A,
            0x01,
            self.algorithm.wire(),
            0x0D,
            0x01,
            self.period.secs(),
        ])
    }
}

/// Parses a config TLV in exactly the layout [`TokenConfig::to_tlv`] writes.
///
/// # Errors
/// [`ConfigParseError`] when the length, a tag or a value differs from §4.2.
pub fn parse_config_tlv(bytes: &[u8]) -> Result<ParsedConfig, ConfigParseError> {
    let b: &[u8; CONFIG_TLV_LEN] = bytes
        .try_into()
        .map_err(|_| ConfigParseError::Length { len: bytes.len() })?;
    const FIXED: [(usize, u8); 12] = [
        (0, 0x81),
        (1, 0x11),
        (2, 0x1F),
        (3, 0x01),
        (5, 0x0F),
        (6, 0x04),
        (11, 0x86),
        (12, 0x06),
        (13, 0x0A),
        (14, 0x01),
        (16, 0x0D),
        (17, 0x01),
    ];
    for (offset, want) in FIXED {
        if b.get(offset) != Some(&want) {
            return Err(ConfigParseError::Layout { offset });
        }
    }
    let [
        _,
        _,
        _,
        _,
        timeout,
        _,
        _,
        t0,
        t1,
        t2,
        t3,
        _,
        _,
        _,
        _,
        algo,
        _,
        _,
        step,
    ] = *b;
    let display_timeout =
        DisplayTimeout::from_wire(timeout).ok_or(ConfigParseError::Value { offset: 4 })?;
    let algorithm = Algorithm::from_wire(algo).ok_or(ConfigParseError::Value { offset: 15 })?;
    let period =
        Period::from_secs(u32::from(step)).ok_or(ConfigParseError::Value { offset: 18 })?;
    Ok(ParsedConfig {
        config: TokenConfig {
            display_timeout,
            algorithm,
            period,
        },
        unix_secs: u32::from_be_bytes([t0, t1, t2, t3]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn section_9_config_tlv() {
        let tlv = TokenConfig {
            display_timeout: DisplayTimeout::Secs60,
            algorithm: Algorithm::Sha256,
            period: Period::Secs60,
        }
        .to_tlv(0x6543_2100);
        assert_eq!(
            tlv.as_bytes(),
            &[
                0x81, 0x11, 0x1F, 0x01, 0x02, 0x0F, 0x04, 0x65, 0x43, 0x21, 0x00, 0x86, 0x06, 0x0A,
                0x01, 0x02, 0x0D, 0x01, 0x3C
            ]
        );
    }

    #[test]
    fn timeout_and_period_from_secs() {
        assert_eq!(DisplayTimeout::from_secs(15), Some(DisplayTimeout::Secs15));
        assert_eq!(
            DisplayTimeout::from_secs(120),
            Some(DisplayTimeout::Secs120)
        );
        assert_eq!(DisplayTimeout::from_secs(45), None);
        assert_eq!(Period::from_secs(60), Some(Period::Secs60));
        assert_eq!(Period::from_secs(90), None);
        assert_eq!(Period::Secs30.secs(), 0x1E);
    }

    #[test]
    fn parse_rejects_bad_layouts() {
        let good = TokenConfig::default().to_tlv(1);
        assert_eq!(
            parse_config_tlv(&good.as_bytes()[..18]),
            Err(ConfigParseError::Length { len: 18 })
        );
        let mut bad = good.as_bytes().to_vec();
        bad[13] = 0x0B;
        assert_eq!(
            parse_config_tlv(&bad),
            Err(ConfigParseError::Layout { offset: 13 })
        );
        let mut bad = good.as_bytes().to_vec();
        bad[18] = 0x3D;
        assert_eq!(
            parse_config_tlv(&bad),
            Err(ConfigParseError::Value { offset: 18 })
        );
        let mut bad = good.as_bytes().to_vec();
        bad[4] = 4;
        assert_eq!(
            parse_config_tlv(&bad),
            Err(ConfigParseError::Value { offset: 4 })
        );
    }

    fn any_config() -> impl Strategy<Value = TokenConfig> {
        (0u8..4, any::<bool>(), any::<bool>()).prop_map(|(t, sha256, sixty)| TokenConfig {
            display_timeout: DisplayTimeout::from_wire(t).unwrap(),
            algorithm: if sha256 {
                Algorithm::Sha256
            } else {
                Algorithm::Sha1
            },
            period: if sixty {
                Period::Secs60
            } else {
                Period::Secs30
            },
        })
    }

    proptest! {
        #[test]
        fn tlv_round_trips(config in any_config(), t in any::<u32>()) {
            let parsed = parse_config_tlv(config.to_tlv(t).as_bytes()).unwrap();
            prop_assert_eq!(parsed, ParsedConfig { config, unix_secs: t });
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_config_tlv(&bytes);
        }
    }
}
