//! Burning TOTP seeds onto Token2 single-profile programmable tokens over NFC.
//!
//! Owns the wire protocol (APDU builders and parsers, SM4 session crypto, the config TLV, the
//! serial → model table) and the burn state machine over a [`CardTransport`]. The protocol
//! part performs no I/O and reads no clock: the host's time is passed in. The PC/SC transport
//! is behind the `pcsc` feature.
//!
//! Invariant: seed bytes and seed-bearing APDUs never appear in `Debug`, errors or panics, and
//! nothing panics on any card reply.
//!
//! ```
//! use tokendesk_nfc::{DeviceKey, Seed, apdu};
//! let seed = Seed::new(b"12345678901234567890")?;
//! let command = apdu::write_seed(&DeviceKey::single_profile(), &seed);
//! // 20 bytes + the 80 marker pad to 32 bytes of ciphertext, plus the 4-byte MAC.
//! assert_eq!(command.as_bytes()[..5], [0x84, 0xC5, 0x01, 0x00, 0x24]);
//! assert_eq!(format!("{command:?}"), "CommandApdu(84C5010024 <36 body bytes redacted>)");
//! # Ok::<(), tokendesk_nfc::SeedError>(())
//! ```

pub mod apdu;
mod config;
mod crypto;
mod info;
mod seed;

pub use config::{
    Algorithm, CONFIG_TLV_LEN, ConfigParseError, ConfigTlv, DisplayTimeout, ParsedConfig, Period,
    TokenConfig, parse_config_tlv,
};
pub use crypto::{BLOCK_LEN, DeviceKey, MAC_LEN, ecb_decrypt, mac, pad_mac_input, pad_seed};
pub use info::{InfoParseError, MODELS, Model, TimeSync, TokenInfo, encode_info, parse_info};
pub use seed::{MAX_SEED_LEN, MIN_WIRE_SEED_LEN, Seed, SeedError};
mod burn;
#[cfg(feature = "pcsc")]
mod pcsc_transport;

pub use burn::{
    BurnError, BurnReport, BurnRequest, CardTransport, Step, TransportError, burn, read_info,
    sync_time,
};
#[cfg(feature = "pcsc")]
pub use pcsc_transport::{Pcsc, PcscCard, PcscError, ReaderStatus, SERVICE_HELP};
