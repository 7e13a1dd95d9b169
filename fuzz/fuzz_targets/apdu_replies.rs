//! Fuzzes the NFC burn protocol with whatever a token (or something pretending to be one) may
//! answer: the input is a list of replies, each a length byte and that many bytes, handed to
//! the burn, the clock sync and the info read in the order they ask. Nothing may panic, and no
//! error may name the seed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokendesk_nfc::apdu::{CommandApdu, Response};
use tokendesk_nfc::{
    BurnRequest, CardTransport, DeviceKey, Seed, TokenConfig, TransportError, burn,
    parse_config_tlv, parse_info, read_info, sync_time,
};

struct Replies<'a> {
    data: &'a [u8],
}

impl CardTransport for Replies<'_> {
    fn transmit(&mut self, _apdu: &CommandApdu) -> Result<Vec<u8>, TransportError> {
        let Some((len, rest)) = self.data.split_first() else {
            return Err(TransportError::Removed);
        };
        // 0xFF: the exchange fails (the card left, a reader timeout).
        if *len == 0xFF {
            self.data = rest;
            return Err(TransportError::Timeout);
        }
        let n = usize::from(*len).min(rest.len());
        let (reply, rest) = rest.split_at(n);
        self.data = rest;
        Ok(reply.to_vec())
    }
}

const SEED: [u8; 20] = *b"\x3a\x91fuzz-seed-bytes!\x07\x19";

fuzz_target!(|data: &[u8]| {
    let seed = Seed::new(&SEED).expect("a 20-byte seed");
    let key = DeviceKey::single_profile();
    let request = BurnRequest {
        seed: &seed,
        config: TokenConfig::default(),
        allow_unknown_model: data.first().is_some_and(|b| b & 1 == 1),
    };
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    let check = |text: String| {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains(&hex), "the seed is in: {text}");
    };
    match burn(&mut Replies { data }, &key, &request, &|| 1_700_000_000) {
        Ok(report) => check(format!("{report:?}")),
        Err(e) => check(format!("{e} {e:?}")),
    }
    match sync_time(&mut Replies { data }, &key, TokenConfig::default(), &|| 1_700_000_000) {
        Ok(report) => check(format!("{report:?}")),
        Err(e) => check(format!("{e} {e:?}")),
    }
    // The reply parsers on their own, on the whole input.
    let _ = parse_info(data);
    let _ = parse_config_tlv(data);
    if let Some(r) = Response::parse(data) {
        let _ = r.sw().meaning();
    }
    if let Ok(info) = read_info(&mut Replies { data }) {
        let _ = info.model();
        let _ = info.drift_secs(1_700_000_000);
    }
});
