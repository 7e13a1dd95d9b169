//! Command APDUs for single-profile tokens (design note §4), the response split, and what each
//! status word means (§6). Seed-bearing bodies never reach `Debug`.

use core::fmt;

use zeroize::Zeroizing;

use crate::config::ConfigTlv;
use crate::crypto::{self, DeviceKey, MAC_LEN};
use crate::seed::Seed;

/// Instruction bytes of the single-profile command set.
pub mod ins {
    /// GET INFO: serial and device clock, no authentication.
    pub const GET_INFO: u8 = 0x41;
    /// GET CHALLENGE: 8 random bytes for AUTH.
    pub const GET_CHALLENGE: u8 = 0x4B;
    /// AUTH: SM4-ECB of the challenge padded with zeros.
    pub const AUTH: u8 = 0xCE;
    /// WRITE CONFIG: display timeout, clock, HMAC, step (secure, MAC'd).
    pub const WRITE_CONFIG: u8 = 0xD4;
    /// WRITE SEED: SM4-ECB of the padded seed (secure, MAC'd).
    pub const WRITE_SEED: u8 = 0xC5;
}

/// Class byte of plain commands.
pub const CLA_PLAIN: u8 = 0x80;
/// Class byte of secure (MAC'd) commands. The MAC input still uses [`CLA_PLAIN`].
pub const CLA_SECURE: u8 = 0x84;

/// A command APDU ready for the transport. Bodies of AUTH and WRITE SEED are redacted in
/// `Debug` (under the public key they are as good as plaintext, §8), and the buffer is wiped
/// on drop.
pub struct CommandApdu {
    bytes: Zeroizing<Vec<u8>>,
}

impl CommandApdu {
    fn from_vec(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Wraps bytes built elsewhere (trace replays, fault-injection tests). `Debug` still
    /// redacts the body when the instruction byte is AUTH or WRITE SEED.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::from_vec(bytes)
    }

    /// The bytes to send. Do not log them: use `Debug`, which redacts secret bodies.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The instruction byte.
    pub fn ins(&self) -> u8 {
        self.bytes.get(1).copied().unwrap_or(0)
    }

    /// Whether the body carries key-derived or seed-derived bytes.
    pub fn is_secret_bearing(&self) -> bool {
        matches!(self.ins(), ins::AUTH | ins::WRITE_SEED)
    }
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.bytes.get(..5).unwrap_or(&self.bytes);
        write!(f, "CommandApdu(")?;
        for b in header {
            write!(f, "{b:02X}")?;
        }
        if self.is_secret_bearing() {
            write!(
                f,
                " <{} body bytes redacted>)",
                self.bytes.len().saturating_sub(5)
            )
        } else {
            write!(f, " ")?;
            for b in self.bytes.get(5..).unwrap_or(&[]) {
                write!(f, "{b:02X}")?;
            }
            write!(f, ")")
        }
    }
}

/// GET INFO, `80 41 00 00 02 02 11` (§4).
pub fn get_info() -> CommandApdu {
    CommandApdu::from_vec(vec![CLA_PLAIN, ins::GET_INFO, 0x00, 0x00, 0x02, 0x02, 0x11])
}

/// GET CHALLENGE in the vendor tool's form, `80 4B 08 00 01 00` (§4).
pub fn get_challenge() -> CommandApdu {
    CommandApdu::from_vec(vec![CLA_PLAIN, ins::GET_CHALLENGE, 0x08, 0x00, 0x01, 0x00])
}

/// AUTH, `80 CE 00 00 10` + SM4-ECB(K, challenge ‖ 8×00) (§4).
pub fn authenticate(key: &DeviceKey, challenge: &[u8; 8]) -> CommandApdu {
    let mut block = Zeroizing::new([0u8; 16]);
    for (b, c) in block.iter_mut().zip(challenge) {
        *b = *c;
    }
    crypto::ecb_encrypt(key, &mut block[..]);
    let mut bytes = vec![CLA_PLAIN, ins::AUTH, 0x00, 0x00, 0x10];
    bytes.extend_from_slice(&block[..]);
    CommandApdu::from_vec(bytes)
}

/// A secure command: `84 INS P1 P2 (Lc'+4) body MAC`, where the MAC covers
/// `80 INS P1 P2 Lc' body` (§3). `body` is at most 251 bytes by construction of the callers.
fn secure(key: &DeviceKey, ins: u8, p1: u8, p2: u8, body: &[u8]) -> CommandApdu {
    let lc = u8::try_from(body.len()).unwrap_or(u8::MAX);
    let mut mac_input = Zeroizing::new(Vec::with_capacity(body.len() + 5));
    mac_input.extend_from_slice(&[CLA_PLAIN, ins, p1, p2, lc]);
    mac_input.extend_from_slice(body);
    let mac = crypto::mac(key, &mac_input);
    let mut bytes = Vec::with_capacity(body.len() + 5 + MAC_LEN);
    bytes.extend_from_slice(&[CLA_SECURE, ins, p1, p2, lc.saturating_add(MAC_LEN as u8)]);
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(&mac);
    CommandApdu::from_vec(bytes)
}

/// WRITE CONFIG, `84 D4 00 00 17` + 19-byte TLV + MAC (§4.2). The TLV is not encrypted.
pub fn write_config(key: &DeviceKey, tlv: &ConfigTlv) -> CommandApdu {
    secure(key, ins::WRITE_CONFIG, 0x00, 0x00, tlv.as_bytes())
}

/// WRITE SEED, `84 C5 01 00 Lc` + SM4-ECB(K, padded seed) + MAC (§4, §5).
pub fn write_seed(key: &DeviceKey, seed: &Seed) -> CommandApdu {
    let mut body = seed.padded_for_wire();
    crypto::ecb_encrypt(key, &mut body);
    secure(key, ins::WRITE_SEED, 0x01, 0x00, &body)
}

/// A response APDU split into data and status word. Response bytes are untrusted.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    data: Vec<u8>,
    sw: StatusWord,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Response data is never secret on this token family (the seed is write-only), but a
        // challenge is still not worth printing; show only the length.
        write!(
            f,
            "Response({} data bytes, SW {})",
            self.data.len(),
            self.sw
        )
    }
}

impl Response {
    /// Splits raw bytes from the card; `None` if fewer than the two status bytes arrived.
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let split = raw.len().checked_sub(2)?;
        let (data, sw) = raw.split_at(split);
        let (&sw1, &sw2) = (sw.first()?, sw.get(1)?);
        Some(Self {
            data: data.to_vec(),
            sw: StatusWord(u16::from_be_bytes([sw1, sw2])),
        })
    }

    /// The data bytes before the status word.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The status word.
    pub fn sw(&self) -> StatusWord {
        self.sw
    }
}

/// An ISO 7816 status word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `90 00`.
    pub const OK: Self = Self(0x9000);
    /// `69 83`: authentication failed, or the key is locked.
    pub const AUTH_FAILED: Self = Self(0x6983);

    /// Whether this is `90 00`.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// What the word means for a single-profile token (§6), for operators.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6983 => "authentication failed or the token's key is locked",
            0x6982 => "security status not satisfied (not authenticated, or the MAC was rejected)",
            0x6988 => "secure messaging data incorrect (the MAC was rejected)",
            0x6700 => "wrong length",
            0x6A80 => "incorrect data (the token refused the field values or padding)",
            0x6D00 => "instruction not supported (is this a programmable Token2 token?)",
            0x6E00 => "class not supported (is this a programmable Token2 token?)",
            0x9060 => "accepted; waiting for a button press on the device",
            0x6A83 => "no such data",
            sw if sw & 0xFF00 == 0x6300 => "authentication failed; the low byte counts tries left",
            sw if sw & 0xFF00 == 0x6100 => "more response data is waiting (T=0 reader)",
            sw if sw & 0xFF00 == 0x6C00 => "wrong Le (T=0 reader)",
            _ => "unknown status word",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, DisplayTimeout, Period, TokenConfig};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    macro_rules! vector {
        ($name:ident, $apdu:expr, $expected:expr) => {
            #[test]
            fn $name() {
                assert_eq!($apdu.as_bytes(), &hex($expected)[..]);
            }
        };
    }

    vector!(get_info_bytes, get_info(), "80410000020211");
    vector!(get_challenge_bytes, get_challenge(), "804B08000100");
    // §9: AUTH answer for challenge 11 22 … 88.
    vector!(
        auth_vector,
        authenticate(
            &DeviceKey::single_profile(),
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        ),
        "80CE000010 8B7450F22721BC29985C2C460B65045D"
    );
    // §9: seed 01..14 (20 bytes).
    vector!(
        seed_20_vector,
        write_seed(
            &DeviceKey::single_profile(),
            &Seed::new(&(1u8..=0x14).collect::<Vec<_>>()).unwrap()
        ),
        "84C5010024 6EEAD21474BBF3A0A2B4C18F489E543CF48725A71EE9C3A65963E88BE9405E3D 5F6EA0C1"
    );
    // §9: seed 10..2F (32 bytes, a full padding block).
    vector!(
        seed_32_vector,
        write_seed(
            &DeviceKey::single_profile(),
            &Seed::new(&(0x10u8..=0x2F).collect::<Vec<_>>()).unwrap()
        ),
        "84C5010034 B830899CFE9DE292CD26D3C7439215CE18503D57AC31735AFA60EBA20F64D6F7\
         D219EFC9972FED9191DF027FD36A80B0 880D59FA"
    );
    // §9: config 60 s timeout, SHA-256, 60 s step, time 0x65432100.
    vector!(
        config_vector,
        write_config(
            &DeviceKey::single_profile(),
            &TokenConfig {
                display_timeout: DisplayTimeout::Secs60,
                algorithm: Algorithm::Sha256,
                period: Period::Secs60,
            }
            .to_tlv(0x6543_2100)
        ),
        "84D4000017 81111F01020F046543210086060A01020D013C 37A18BF9"
    );

    #[test]
    fn short_seed_is_zero_extended_to_20_before_padding() {
        let key = DeviceKey::single_profile();
        let ten = write_seed(&key, &Seed::new(&[0xAB; 10]).unwrap());
        let mut twenty = vec![0xAB; 10];
        twenty.extend_from_slice(&[0; 10]);
        let explicit = write_seed(&key, &Seed::new(&twenty).unwrap());
        assert_eq!(ten.as_bytes(), explicit.as_bytes());
        assert_eq!(ten.as_bytes()[4], 0x24);
    }

    #[test]
    fn seed_lengths_give_the_lc_of_section_5() {
        let key = DeviceKey::single_profile();
        for (len, lc) in [
            (1, 0x24),
            (31, 0x24),
            (32, 0x34),
            (47, 0x34),
            (49, 0x44),
            (63, 0x44),
        ] {
            let apdu = write_seed(&key, &Seed::new(&vec![0x5A; len]).unwrap());
            assert_eq!(apdu.as_bytes()[4], lc, "seed of {len} bytes");
            assert_eq!(apdu.as_bytes().len(), 5 + usize::from(lc));
        }
    }

    #[test]
    fn debug_redacts_seed_and_auth_bodies() {
        let key = DeviceKey::single_profile();
        let seed = write_seed(&key, &Seed::new(&(1u8..=0x14).collect::<Vec<_>>()).unwrap());
        let s = format!("{seed:?}");
        assert_eq!(s, "CommandApdu(84C5010024 <36 body bytes redacted>)");
        let auth = authenticate(&key, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        let s = format!("{auth:?}");
        assert!(!s.contains("8B74"), "{s}");
        assert!(format!("{:?}", get_info()).contains("0211"));
    }

    #[test]
    fn response_parse_handles_short_and_normal_input() {
        assert_eq!(Response::parse(&[]), None);
        assert_eq!(Response::parse(&[0x90]), None);
        let r = Response::parse(&[0x90, 0x00]).unwrap();
        assert!(r.sw().is_ok());
        assert!(r.data().is_empty());
        let r = Response::parse(&[1, 2, 3, 0x69, 0x83]).unwrap();
        assert_eq!(r.sw(), StatusWord::AUTH_FAILED);
        assert_eq!(r.data(), &[1, 2, 3]);
    }

    #[test]
    fn status_words_have_meanings() {
        assert_eq!(StatusWord(0x9000).meaning(), "success");
        assert!(StatusWord(0x6983).meaning().contains("locked"));
        assert!(StatusWord(0x63C2).meaning().contains("tries left"));
        assert_eq!(StatusWord(0x1234).meaning(), "unknown status word");
        assert_eq!(StatusWord(0x6A80).to_string(), "6A80");
    }

    proptest::proptest! {
        #[test]
        fn response_parse_never_panics(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Response::parse(&raw);
        }
    }
}
