//! SM4 for the burn session: ECB over whole blocks, the truncated CBC-MAC on secure (`84`)
//! commands, and the two padding rules, which differ and must not be mixed up
//! (design note §3 and §5.3).

use core::fmt;

use sm4::Sm4;
use sm4::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, Zeroizing};

/// SM4 block size in bytes.
pub const BLOCK_LEN: usize = 16;

/// Length of the MAC appended to secure commands.
pub const MAC_LEN: usize = 4;

/// The fixed access key shared by every single-profile token (OTPC-P1/P2, miniOTP-2/3,
/// C301/C302). It is public (published by the vendor); authentication with it proves nothing
/// about the operator, but it is still key material, so it is kept out of `Debug`.
const SINGLE_PROFILE_KEY: [u8; 16] = [
    0x8A, 0xD2, 0x06, 0x88, 0x3C, 0xA3, 0x69, 0x48, 0x2A, 0xB2, 0x71, 0x82, 0xB6, 0xE8, 0x32, 0x24,
];

/// An SM4 access key. Its bytes are wiped on drop and never formatted.
#[derive(Clone)]
pub struct DeviceKey(Zeroizing<[u8; 16]>);

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(<redacted>)")
    }
}

impl DeviceKey {
    /// The published key of single-profile tokens.
    pub fn single_profile() -> Self {
        Self(Zeroizing::new(SINGLE_PROFILE_KEY))
    }

    /// A key from raw bytes (tests use this to play a token with a different key).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The SM4 key schedule. `Sm4` zeroizes its round keys on drop (feature `zeroize`).
    pub(crate) fn cipher(&self) -> Sm4 {
        Sm4::new(&Array::from(*self.0))
    }
}

/// Applies `f` (one SM4 block operation) to every whole block of `data`, in place, wiping the
/// working block.
fn each_block(data: &mut [u8], f: impl Fn(&mut Array<u8, sm4::cipher::consts::U16>)) {
    for chunk in data.chunks_exact_mut(BLOCK_LEN) {
        let mut block = Array::default();
        block.copy_from_slice(chunk);
        f(&mut block);
        chunk.copy_from_slice(&block);
        block.zeroize();
    }
}

/// Encrypts `data` in place with SM4-ECB. `data.len()` must be a multiple of [`BLOCK_LEN`];
/// callers pad first. A trailing partial block (which callers never pass) is left untouched.
pub(crate) fn ecb_encrypt(key: &DeviceKey, data: &mut [u8]) {
    let cipher = key.cipher();
    each_block(data, |block| cipher.encrypt_block(block));
}

/// Decrypts `data` in place with SM4-ECB (whole blocks only, like [`ecb_encrypt`]).
pub fn ecb_decrypt(key: &DeviceKey, data: &mut [u8]) {
    let cipher = key.cipher();
    each_block(data, |block| cipher.decrypt_block(block));
}

/// MAC padding (§3 step 2): append `80 00…` up to a block boundary **only if** the input is
/// not already aligned. An aligned input gets nothing.
pub fn pad_mac_input(input: &mut Vec<u8>) {
    if !input.len().is_multiple_of(BLOCK_LEN) {
        input.push(0x80);
        while !input.len().is_multiple_of(BLOCK_LEN) {
            input.push(0x00);
        }
    }
}

/// Seed padding (§5.3): ISO/IEC 9797-1 method 2, always. One `80` byte is appended, then
/// zeros up to a block boundary, so an aligned seed gains a whole extra block.
pub fn pad_seed(seed: &mut Vec<u8>) {
    seed.push(0x80);
    while !seed.len().is_multiple_of(BLOCK_LEN) {
        seed.push(0x00);
    }
}

/// The 4-byte MAC of a secure command (§3): SM4-CBC with a zero IV over the MAC-padded input,
/// truncated to the first four bytes of the last ciphertext block (ISO 9797-1 MAC algorithm 1).
pub fn mac(key: &DeviceKey, input: &[u8]) -> [u8; MAC_LEN] {
    // Room for the padding up front: a reallocation would leave an unwiped copy behind.
    let mut padded = Zeroizing::new(Vec::with_capacity(input.len() + BLOCK_LEN));
    padded.extend_from_slice(input);
    pad_mac_input(&mut padded);
    let cipher = key.cipher();
    let mut state = Array::<u8, _>::default();
    for chunk in padded.chunks_exact(BLOCK_LEN) {
        for (s, b) in state.iter_mut().zip(chunk) {
            *s ^= *b;
        }
        cipher.encrypt_block(&mut state);
    }
    let mut out = [0u8; MAC_LEN];
    for (o, s) in out.iter_mut().zip(state.iter()) {
        *o = *s;
    }
    state.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sm4_gbt_32907_known_answer() {
        let key: [u8; 16] = hex("0123456789ABCDEFFEDCBA9876543210").try_into().unwrap();
        let key = DeviceKey::from_bytes(key);
        let mut data = hex("0123456789ABCDEFFEDCBA9876543210");
        ecb_encrypt(&key, &mut data);
        assert_eq!(data, hex("681EDF34D206965E86B3E94F536E4246"));
        ecb_decrypt(&key, &mut data);
        assert_eq!(data, hex("0123456789ABCDEFFEDCBA9876543210"));
    }

    #[test]
    fn mac_padding_leaves_aligned_input_alone() {
        let mut v = vec![1u8; 32];
        pad_mac_input(&mut v);
        assert_eq!(v, vec![1u8; 32]);
        let mut v = vec![1u8; 24];
        pad_mac_input(&mut v);
        assert_eq!(v.len(), 32);
        assert_eq!(v[24], 0x80);
        assert!(v[25..].iter().all(|b| *b == 0));
    }

    #[test]
    fn seed_padding_adds_a_full_block_when_aligned() {
        let mut v = vec![7u8; 32];
        pad_seed(&mut v);
        assert_eq!(v.len(), 48);
        assert_eq!(v[32], 0x80);
        let mut v = vec![7u8; 20];
        pad_seed(&mut v);
        assert_eq!(v.len(), 32);
        assert_eq!(v[20], 0x80);
    }

    #[test]
    fn debug_of_key_is_redacted() {
        let s = format!("{:?}", DeviceKey::single_profile());
        assert_eq!(s, "DeviceKey(<redacted>)");
        assert!(!s.to_lowercase().contains("8ad2"));
    }

    proptest! {
        #[test]
        fn mac_padding_is_minimal_and_reversible(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut padded = data.clone();
            pad_mac_input(&mut padded);
            prop_assert_eq!(padded.len() % BLOCK_LEN, 0);
            prop_assert!(padded.len() - data.len() < BLOCK_LEN);
            prop_assert_eq!(&padded[..data.len()], &data[..]);
            if data.len() % BLOCK_LEN != 0 {
                prop_assert_eq!(padded[data.len()], 0x80);
                prop_assert!(padded[data.len() + 1..].iter().all(|b| *b == 0));
            }
        }

        #[test]
        fn seed_padding_always_marks_and_strips_back(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut padded = data.clone();
            pad_seed(&mut padded);
            prop_assert_eq!(padded.len() % BLOCK_LEN, 0);
            prop_assert!(padded.len() > data.len());
            prop_assert!(padded.len() - data.len() <= BLOCK_LEN);
            // Unpadding: strip trailing zeros, then exactly one 80 marker.
            let end = padded.iter().rposition(|b| *b != 0).unwrap();
            prop_assert_eq!(padded[end], 0x80);
            prop_assert_eq!(end, data.len());
        }

        #[test]
        fn mac_changes_when_any_byte_changes(
            data in proptest::collection::vec(any::<u8>(), 1..70),
            idx in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = DeviceKey::single_profile();
            let mut other = data.clone();
            let i = idx.index(data.len());
            other[i] ^= flip;
            // CBC-MAC over SM4 is a permutation per block, so a one-byte change always changes
            // the final block; the truncated 4 bytes collide with probability 2^-32.
            prop_assert_ne!(mac(&key, &data), mac(&key, &other));
        }

        #[test]
        fn ecb_round_trips(blocks in proptest::collection::vec(any::<[u8; 16]>(), 0..5)) {
            let key = DeviceKey::single_profile();
            let plain: Vec<u8> = blocks.concat();
            let mut data = plain.clone();
            ecb_encrypt(&key, &mut data);
            if !plain.is_empty() {
                prop_assert_ne!(&data, &plain);
            }
            ecb_decrypt(&key, &mut data);
            prop_assert_eq!(data, plain);
        }
    }
}
