//! A Token2 single-profile token played over the vpcd socket protocol (design note §12), for
//! end-to-end tests through real pcscd. It implements the token side from the protocol
//! description: its own SM4 ECB/CBC-MAC on the `sm4` crate (not the crate under test),
//! authentication with lock-out, MAC verification, seed decryption and unpadding, and the seed
//! wipe on config writes for restricted models. Faults can be injected.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sm4::Sm4;
use sm4::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// The test's turn on vpcd slot 0, which serves one card at a time: an in-process mutex for
/// test threads plus an exclusive file lock for other test binaries and for other checkouts
/// testing on the same machine (one pcscd, one vpcd per machine).
pub struct ReaderTurn {
    _file: std::fs::File,
    _thread: MutexGuard<'static, ()>,
}

static SLOT0: Mutex<()> = Mutex::new(());

/// Waits for the turn on vpcd slot 0.
pub fn reader_turn() -> ReaderTurn {
    let thread = SLOT0.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join("tokendesk-vpcd-slot0.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock().unwrap();
    ReaderTurn {
        _file: file,
        _thread: thread,
    }
}

/// vpcd slot 0 (server mode, `/etc/reader.conf.d/vpcd`).
pub const VPCD_ADDR: &str = "127.0.0.1:35963";
/// The ATR of an ISO 14443-4 card without historical bytes.
const ATR: [u8; 5] = [0x3B, 0x80, 0x80, 0x01, 0x01];

/// The published single-profile key (§3), restated here so the emulator does not trust the
/// crate under test for it.
pub const TOKEN2_KEY: [u8; 16] = [
    0x8A, 0xD2, 0x06, 0x88, 0x3C, 0xA3, 0x69, 0x48, 0x2A, 0xB2, 0x71, 0x82, 0xB6, 0xE8, 0x32, 0x24,
];

/// Faults the token can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// Close the connection (leave the field) when a seed write arrives, without answering.
    DropOnSeedWrite,
}

/// How the emulated token is built.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub serial: String,
    pub key: [u8; 16],
    /// Config writes wipe the seed (§4.3).
    pub restricted: bool,
    /// Failed authentications before the key locks for good.
    pub lock_after: u32,
    /// Token clock at insertion.
    pub clock_unix_secs: u32,
    pub fault: Fault,
    /// A seed already on the token before the test.
    pub initial_seed: Option<Vec<u8>>,
}

impl TokenSpec {
    pub fn new(serial: &str, restricted: bool) -> Self {
        Self {
            serial: serial.to_owned(),
            key: TOKEN2_KEY,
            restricted,
            lock_after: 3,
            clock_unix_secs: 1_600_000_000,
            fault: Fault::None,
            initial_seed: None,
        }
    }
}

/// What the token holds and has seen. Tests read it after the host is done.
#[derive(Debug, Default)]
pub struct TokenState {
    /// The seed as the token unpadded it (trailing zeros stripped, marker removed).
    pub seed: Option<Vec<u8>>,
    /// Raw config TLV last accepted.
    pub config_tlv: Option<Vec<u8>>,
    /// Clock value last set, and the host instant it was set at.
    pub clock: Option<(u32, Instant)>,
    pub failed_auths: u32,
    pub locked: bool,
    /// Every APDU's INS byte, in order.
    pub ins_log: Vec<u8>,
    /// Every status word sent, in order.
    pub sw_log: Vec<u16>,
    authenticated: bool,
    challenge: Option<[u8; 8]>,
}

impl TokenState {
    /// The token's clock now.
    pub fn clock_now(&self, initial: u32) -> u64 {
        match self.clock {
            Some((t, at)) => u64::from(t) + at.elapsed().as_secs(),
            None => u64::from(initial),
        }
    }
}

/// A running emulated token, inserted in vpcd slot 0 while it lives.
pub struct Emulator {
    pub spec: TokenSpec,
    state: Arc<Mutex<TokenState>>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Connects to vpcd (retrying until `timeout`) and serves APDUs on a thread.
    pub fn insert(spec: TokenSpec, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match TcpStream::connect(VPCD_ADDR) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!(
                    "cannot reach vpcd at {VPCD_ADDR}: {e}; install vsmartcard-vpcd and start \
                     pcscd after it (scripts/test does both)"
                ),
            }
        };
        stream.set_nodelay(true).unwrap();
        let state = Arc::new(Mutex::new(TokenState {
            seed: spec.initial_seed.clone(),
            ..TokenState::default()
        }));
        let thread = {
            let spec = spec.clone();
            let state = Arc::clone(&state);
            let stream = stream.try_clone().unwrap();
            std::thread::spawn(move || serve(stream, &spec, &state))
        };
        Self {
            spec,
            state,
            stream,
            thread: Some(thread),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the serving thread has ended (the token left the field).
    pub fn is_gone(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, spec: &TokenSpec, state: &Mutex<TokenState>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        let reply = {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            match msg.as_slice() {
                // Power off, power on, reset: authentication lives in RAM and is lost.
                [0] | [1] | [2] => {
                    st.authenticated = false;
                    st.challenge = None;
                    None
                }
                [4] => Some(ATR.to_vec()),
                [_] => None,
                apdu => {
                    if apdu.get(1) == Some(&0xC5) && spec.fault == Fault::DropOnSeedWrite {
                        st.ins_log.push(0xC5);
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                    let (data, sw) = handle(apdu, spec, &mut st);
                    st.sw_log.push(sw);
                    let mut r = data;
                    r.extend_from_slice(&sw.to_be_bytes());
                    Some(r)
                }
            }
        };
        if let Some(r) = reply {
            let mut framed = (r.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&r);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

fn handle(apdu: &[u8], spec: &TokenSpec, st: &mut TokenState) -> (Vec<u8>, u16) {
    let [cla, ins, p1, p2, rest @ ..] = apdu else {
        return (vec![], 0x6700);
    };
    st.ins_log.push(*ins);
    match (*cla, *ins) {
        (0x80, 0x41) => {
            if rest != [0x02, 0x02, 0x11] {
                return (vec![], 0x6700);
            }
            let clock = st.clock_now(spec.clock_unix_secs) as u32;
            (tokendesk_nfc::encode_info(&spec.serial, clock), 0x9000)
        }
        (0x80, 0x4B) => {
            if *p1 != 0x08 || !(rest == [0x01, 0x00] || rest == [0x00]) {
                return (vec![], 0x6A86);
            }
            let mut h = RandomState::new().build_hasher();
            h.write_u64(u64::from(st.failed_auths));
            let challenge = h.finish().to_be_bytes();
            st.challenge = Some(challenge);
            st.authenticated = false;
            (challenge.to_vec(), 0x9000)
        }
        (0x80, 0xCE) => (vec![], authenticate(rest, spec, st)),
        (0x84, 0xD4 | 0xC5) => (vec![], secure(*ins, *p1, *p2, rest, spec, st)),
        (0x80 | 0x84, _) => (vec![], 0x6D00),
        _ => (vec![], 0x6E00),
    }
}

fn authenticate(rest: &[u8], spec: &TokenSpec, st: &mut TokenState) -> u16 {
    let challenge = st.challenge.take();
    if st.locked {
        return 0x6983;
    }
    let ok = match (rest, challenge) {
        ([0x10, body @ ..], Some(challenge)) if body.len() == 16 => {
            let mut block = body.to_vec();
            ecb(&spec.key, &mut block, false);
            block[..8] == challenge && block[8..].iter().all(|b| *b == 0)
        }
        _ => false,
    };
    if ok {
        st.authenticated = true;
        st.failed_auths = 0;
        0x9000
    } else {
        st.failed_auths += 1;
        if st.failed_auths >= spec.lock_after {
            st.locked = true;
        }
        0x6983
    }
}

fn secure(ins: u8, p1: u8, p2: u8, rest: &[u8], spec: &TokenSpec, st: &mut TokenState) -> u16 {
    let Some((&lc, body_mac)) = rest.split_first() else {
        return 0x6700;
    };
    if usize::from(lc) != body_mac.len() || body_mac.len() < 4 {
        return 0x6700;
    }
    if !st.authenticated {
        return 0x6982;
    }
    let (body, mac) = body_mac.split_at(body_mac.len() - 4);
    let mut mac_input = vec![0x80, ins, p1, p2, lc - 4];
    mac_input.extend_from_slice(body);
    if cbc_mac(&spec.key, &mac_input) != mac {
        return 0x6988;
    }
    match (ins, p1, p2) {
        (0xD4, 0x00, 0x00) => match tokendesk_nfc::parse_config_tlv(body) {
            Ok(parsed) => {
                st.config_tlv = Some(body.to_vec());
                st.clock = Some((parsed.unix_secs, Instant::now()));
                if spec.restricted {
                    st.seed = None;
                }
                0x9000
            }
            Err(_) => 0x6A80,
        },
        (0xC5, 0x01, 0x00) => {
            if body.is_empty() || !body.len().is_multiple_of(16) || body.len() > 64 {
                return 0x6700;
            }
            let mut plain = body.to_vec();
            ecb(&spec.key, &mut plain, false);
            // Strip trailing zeros, then require exactly one 80 marker (ISO 9797-1 method 2).
            while plain.last() == Some(&0) {
                plain.pop();
            }
            if plain.pop() != Some(0x80) || plain.is_empty() {
                return 0x6A80;
            }
            st.seed = Some(plain);
            0x9000
        }
        _ => 0x6A86,
    }
}

fn ecb(key: &[u8; 16], data: &mut [u8], encrypt: bool) {
    let cipher = Sm4::new(&Array::from(*key));
    for chunk in data.chunks_exact_mut(16) {
        let mut block = Array::default();
        block.copy_from_slice(chunk);
        if encrypt {
            cipher.encrypt_block(&mut block);
        } else {
            cipher.decrypt_block(&mut block);
        }
        chunk.copy_from_slice(&block);
    }
}

/// ISO 9797-1 MAC algorithm 1 with SM4, zero IV, pad-only-if-unaligned, truncated to 4 bytes.
fn cbc_mac(key: &[u8; 16], input: &[u8]) -> [u8; 4] {
    let mut data = input.to_vec();
    if !data.len().is_multiple_of(16) {
        data.push(0x80);
        data.resize(data.len().div_ceil(16) * 16, 0);
    }
    let mut iv = [0u8; 16];
    for chunk in data.chunks_exact(16) {
        let mut block: [u8; 16] = chunk.try_into().unwrap();
        for (b, v) in block.iter_mut().zip(iv) {
            *b ^= v;
        }
        ecb(key, &mut block, true);
        iv = block;
    }
    [iv[0], iv[1], iv[2], iv[3]]
}
