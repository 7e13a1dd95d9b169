//! GET INFO response (§4.1) and the serial-prefix → model table (§1, §4.3).

use core::fmt;

/// Serial number and device clock read from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The serial, ASCII digits.
    pub serial: String,
    /// The token's clock, Unix seconds (u32 on the wire).
    pub device_unix_secs: u32,
}

impl TokenInfo {
    /// The model this serial prefix names, if it is a known programmable model.
    pub fn model(&self) -> Option<Model> {
        Model::from_serial(&self.serial)
    }

    /// Device clock minus host clock, in seconds (positive: the token runs ahead).
    pub fn drift_secs(&self, host_unix_secs: u64) -> i64 {
        let host = i64::try_from(host_unix_secs).unwrap_or(i64::MAX);
        i64::from(self.device_unix_secs).saturating_sub(host)
    }
}

/// Why a GET INFO reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoParseError {
    /// Too short for the header, serial length and clock.
    #[error("token info reply has {len} bytes, too short for a serial and a clock")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// The serial is empty or not ASCII digits.
    #[error("token info reply holds no readable serial (expected ASCII digits)")]
    BadSerial,
}

/// Offset of the serial-length byte.
const SERIAL_LEN_AT: usize = 3;

/// Parses the GET INFO data (status word already removed): 3 unknown header bytes, serial
/// length N, N ASCII digits, 2 unknown bytes, 4-byte big-endian clock. Unknown bytes are not
/// checked; nothing beyond the clock is read.
///
/// # Errors
/// [`InfoParseError`] when the reply is too short or the serial is not digits.
pub fn parse_info(data: &[u8]) -> Result<TokenInfo, InfoParseError> {
    let truncated = InfoParseError::Truncated { len: data.len() };
    let n = usize::from(*data.get(SERIAL_LEN_AT).ok_or(truncated.clone())?);
    let serial_start = SERIAL_LEN_AT + 1;
    let serial = data
        .get(serial_start..serial_start + n)
        .ok_or(truncated.clone())?;
    let clock_start = serial_start + n + 2;
    let clock: [u8; 4] = data
        .get(clock_start..clock_start + 4)
        .and_then(|c| c.try_into().ok())
        .ok_or(truncated)?;
    if serial.is_empty() || !serial.iter().all(u8::is_ascii_digit) {
        return Err(InfoParseError::BadSerial);
    }
    Ok(TokenInfo {
        serial: serial.iter().map(|b| char::from(*b)).collect(),
        device_unix_secs: u32::from_be_bytes(clock),
    })
}

/// Builds a GET INFO reply in the §4.1 layout (for the emulator and tests). The header and
/// separator bytes are this crate's guess (`tag 02`, `tag 11`); hosts do not check them.
pub fn encode_info(serial: &str, device_unix_secs: u32) -> Vec<u8> {
    let n = u8::try_from(serial.len()).unwrap_or(u8::MAX);
    let mut v = vec![0x02, n.saturating_add(1), 0x02, n];
    v.extend(serial.bytes().take(usize::from(n)));
    v.extend_from_slice(&[0x11, 0x04]);
    v.extend_from_slice(&device_unix_secs.to_be_bytes());
    v
}

/// Whether writing the config (the clock) erases the seed (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSync {
    /// The seed is wiped by every config write: set time only together with a new seed.
    Restricted,
    /// The seed survives a config write, so the clock can be re-synced alone.
    Unrestricted,
}

/// Programmable single-profile models, by serial prefix (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Model {
    /// OTPC-P1-i, prefix 8659612.
    OtpcP1,
    /// OTPC-P2-i, prefix 8659622.
    OtpcP2,
    /// OTPC-P2-i-NB, prefix 8659621.
    OtpcP2Nb,
    /// miniOTP-2-i, prefix 8659600.
    MiniOtp2,
    /// miniOTP-3-i, prefix 8659601.
    MiniOtp3,
    /// miniOTP-3-i-NB, prefix 8659609.
    MiniOtp3Nb,
    /// C301-i, prefix 8659610.
    C301,
    /// C302-i, prefix 8659632.
    C302,
}

/// Every supported model (for tests and `--help` text).
pub const MODELS: [Model; 8] = [
    Model::OtpcP1,
    Model::OtpcP2,
    Model::OtpcP2Nb,
    Model::MiniOtp2,
    Model::MiniOtp3,
    Model::MiniOtp3Nb,
    Model::C301,
    Model::C302,
];

impl Model {
    /// The 7-digit serial prefix.
    pub fn serial_prefix(self) -> &'static str {
        match self {
            Self::OtpcP1 => "8659612",
            Self::OtpcP2 => "8659622",
            Self::OtpcP2Nb => "8659621",
            Self::MiniOtp2 => "8659600",
            Self::MiniOtp3 => "8659601",
            Self::MiniOtp3Nb => "8659609",
            Self::C301 => "8659610",
            Self::C302 => "8659632",
        }
    }

    /// The vendor's product name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OtpcP1 => "OTPC-P1-i",
            Self::OtpcP2 => "OTPC-P2-i",
            Self::OtpcP2Nb => "OTPC-P2-i-NB",
            Self::MiniOtp2 => "miniOTP-2-i",
            Self::MiniOtp3 => "miniOTP-3-i",
            Self::MiniOtp3Nb => "miniOTP-3-i-NB",
            Self::C301 => "C301-i",
            Self::C302 => "C302-i",
        }
    }

    /// Whether a config write wipes the seed. Unrestricted: miniOTP-2, OTPC-P1, C302 (§4.3).
    pub fn time_sync(self) -> TimeSync {
        match self {
            Self::MiniOtp2 | Self::OtpcP1 | Self::C302 => TimeSync::Unrestricted,
            _ => TimeSync::Restricted,
        }
    }

    /// The model for a serial, by its first seven digits.
    pub fn from_serial(serial: &str) -> Option<Self> {
        let prefix = serial.get(..7)?;
        MODELS.into_iter().find(|m| m.serial_prefix() == prefix)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_thirteen_digit_serial() {
        let raw = encode_info("8659622000001", 0x6543_2100);
        let info = parse_info(&raw).unwrap();
        assert_eq!(info.serial, "8659622000001");
        assert_eq!(info.device_unix_secs, 0x6543_2100);
        assert_eq!(info.model(), Some(Model::OtpcP2));
    }

    #[test]
    fn ignores_unknown_header_and_trailing_bytes() {
        let mut raw = vec![
            0xAA, 0xBB, 0xCC, 3, b'1', b'2', b'3', 0xEE, 0xFF, 0, 0, 1, 0,
        ];
        raw.extend_from_slice(&[9, 9, 9]);
        let info = parse_info(&raw).unwrap();
        assert_eq!(info.serial, "123");
        assert_eq!(info.device_unix_secs, 256);
    }

    #[test]
    fn rejects_truncated_and_non_digit() {
        assert_eq!(parse_info(&[]), Err(InfoParseError::Truncated { len: 0 }));
        assert_eq!(
            parse_info(&[0, 0, 0, 200, b'1']),
            Err(InfoParseError::Truncated { len: 5 })
        );
        let raw = encode_info("86596x2", 1);
        assert_eq!(parse_info(&raw), Err(InfoParseError::BadSerial));
        let raw = encode_info("", 1);
        assert_eq!(parse_info(&raw), Err(InfoParseError::BadSerial));
    }

    #[test]
    fn model_table_and_time_sync() {
        let unrestricted: Vec<_> = MODELS
            .into_iter()
            .filter(|m| m.time_sync() == TimeSync::Unrestricted)
            .map(Model::serial_prefix)
            .collect();
        assert_eq!(unrestricted, ["8659612", "8659600", "8659632"]);
        assert_eq!(Model::from_serial("8659623000001"), None);
        assert_eq!(Model::from_serial("865962"), None);
        assert_eq!(Model::from_serial("8659610123"), Some(Model::C301));
        for m in MODELS {
            assert_eq!(
                Model::from_serial(&format!("{}000042", m.serial_prefix())),
                Some(m)
            );
        }
    }

    #[test]
    fn drift_is_device_minus_host() {
        let info = TokenInfo {
            serial: "1".into(),
            device_unix_secs: 100,
        };
        assert_eq!(info.drift_secs(90), 10);
        assert_eq!(info.drift_secs(130), -30);
        assert_eq!(info.drift_secs(u64::MAX), 100 - i64::MAX);
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_info(&raw);
        }

        #[test]
        fn encode_parse_round_trip(serial in "[0-9]{1,20}", t in any::<u32>()) {
            let info = parse_info(&encode_info(&serial, t)).unwrap();
            prop_assert_eq!(info, TokenInfo { serial, device_unix_secs: t });
        }
    }
}
