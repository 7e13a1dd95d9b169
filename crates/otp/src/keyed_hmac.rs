//! HMAC (RFC 2104) over an 8-byte counter with the inner and outer hash states precomputed
//! once per secret, so each code costs exactly two compression-function calls.
//!
//! HOTP only ever MACs an 8-byte big-endian counter, so the final blocks of the inner and outer
//! hashes have a fixed layout; building them by hand and calling the block functions of the
//! `sha1`/`sha2` crates (which use SHA-NI where the CPU has it) removes all buffering overhead.
//! Correctness is pinned by the RFC vectors and a differential test against the `hmac` crate.

use std::fmt;
use std::str::FromStr;

use sha2::Digest;
use zeroize::Zeroize;

use crate::error::ParamError;

/// The HMAC hash. SHA-1 is what Microsoft and every Token2 single-profile token use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1 (RFC 4226 default).
    #[default]
    Sha1,
    /// HMAC-SHA-256 (RFC 6238).
    Sha256,
    /// HMAC-SHA-512 (RFC 6238).
    Sha512,
}

impl Algorithm {
    /// The spelling used in otpauth URIs and JSON output: `SHA1`, `SHA256`, `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParamError;

    /// Accepts `SHA1`, `sha1`, `SHA-1`, `hmacsha1` and the same for 256 and 512, as seen in the
    /// wild (otpauth URIs, Graph's `hashFunction`, PSKC suites).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.strip_prefix("hmac").unwrap_or(&norm) {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            _ => {
                let name_like = s.len() <= 8
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                Err(ParamError::Algorithm {
                    given: if name_like {
                        s.to_owned()
                    } else {
                        String::new()
                    },
                })
            }
        }
    }
}

const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const SHA512_IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

/// Precomputed HMAC states for one secret. The states are as sensitive as the key itself and
/// are wiped on drop.
#[derive(Clone)]
pub(crate) enum KeyedHmac {
    Sha1 { inner: [u32; 5], outer: [u32; 5] },
    Sha256 { inner: [u32; 8], outer: [u32; 8] },
    Sha512 { inner: [u64; 8], outer: [u64; 8] },
}

impl Drop for KeyedHmac {
    fn drop(&mut self) {
        match self {
            Self::Sha1 { inner, outer } => {
                inner.zeroize();
                outer.zeroize();
            }
            Self::Sha256 { inner, outer } => {
                inner.zeroize();
                outer.zeroize();
            }
            Self::Sha512 { inner, outer } => {
                inner.zeroize();
                outer.zeroize();
            }
        }
    }
}

/// Key block of `N` bytes: the key itself, or its digest when longer than a block (RFC 2104 §2).
fn key_block<const N: usize>(key: &[u8], hash: impl Fn(&[u8]) -> Vec<u8>) -> [u8; N] {
    let mut block = [0u8; N];
    let mut hashed = if key.len() > N { hash(key) } else { Vec::new() };
    let material: &[u8] = if key.len() > N { &hashed } else { key };
    for (dst, src) in block.iter_mut().zip(material) {
        *dst = *src;
    }
    hashed.zeroize();
    block
}

fn xor_pad<const N: usize>(block: &[u8; N], pad: u8) -> [u8; N] {
    let mut out = *block;
    for b in out.iter_mut() {
        *b ^= pad;
    }
    out
}

/// Final 64-byte block for a message of `msg` bytes following `prefix_len` already-hashed bytes.
fn final_block_64(msg: &[u8], prefix_len: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    for (dst, src) in block.iter_mut().zip(msg) {
        *dst = *src;
    }
    if let Some(b) = block.get_mut(msg.len()) {
        *b = 0x80;
    }
    let bits = (prefix_len + msg.len() as u64) * 8;
    block[56..].copy_from_slice(&bits.to_be_bytes());
    block
}

fn final_block_128(msg: &[u8], prefix_len: u128) -> [u8; 128] {
    let mut block = [0u8; 128];
    for (dst, src) in block.iter_mut().zip(msg) {
        *dst = *src;
    }
    if let Some(b) = block.get_mut(msg.len()) {
        *b = 0x80;
    }
    let bits = (prefix_len + msg.len() as u128) * 8;
    block[112..].copy_from_slice(&bits.to_be_bytes());
    block
}

fn words32_be<const W: usize, const B: usize>(state: &[u32; W]) -> [u8; B] {
    let mut out = [0u8; B];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn words64_be(state: &[u64; 8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl KeyedHmac {
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        match algorithm {
            Algorithm::Sha1 => {
                let mut k = key_block::<64>(key, |k| sha1::Sha1::digest(k).to_vec());
                let (mut inner, mut outer) = (SHA1_IV, SHA1_IV);
                sha1::block_api::compress(&mut inner, &[xor_pad(&k, 0x36)]);
                sha1::block_api::compress(&mut outer, &[xor_pad(&k, 0x5c)]);
                k.zeroize();
                Self::Sha1 { inner, outer }
            }
            Algorithm::Sha256 => {
                let mut k = key_block::<64>(key, |k| sha2::Sha256::digest(k).to_vec());
                let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
                sha2::block_api::compress256(&mut inner, &[xor_pad(&k, 0x36)]);
                sha2::block_api::compress256(&mut outer, &[xor_pad(&k, 0x5c)]);
                k.zeroize();
                Self::Sha256 { inner, outer }
            }
            Algorithm::Sha512 => {
                let mut k = key_block::<128>(key, |k| sha2::Sha512::digest(k).to_vec());
                let (mut inner, mut outer) = (SHA512_IV, SHA512_IV);
                sha2::block_api::compress512(&mut inner, &[xor_pad(&k, 0x36)]);
                sha2::block_api::compress512(&mut outer, &[xor_pad(&k, 0x5c)]);
                k.zeroize();
                Self::Sha512 { inner, outer }
            }
        }
    }

    /// HMAC of the 8-byte big-endian `counter`, then RFC 4226 §5.3 dynamic truncation to a
    /// 31-bit value.
    pub(crate) fn truncated(&self, counter: u64) -> u32 {
        let msg = counter.to_be_bytes();
        match self {
            Self::Sha1 { inner, outer } => {
                let mut st = *inner;
                sha1::block_api::compress(&mut st, &[final_block_64(&msg, 64)]);
                let ih: [u8; 20] = words32_be(&st);
                let mut st = *outer;
                sha1::block_api::compress(&mut st, &[final_block_64(&ih, 64)]);
                truncate(&words32_be::<5, 20>(&st))
            }
            Self::Sha256 { inner, outer } => {
                let mut st = *inner;
                sha2::block_api::compress256(&mut st, &[final_block_64(&msg, 64)]);
                let ih: [u8; 32] = words32_be(&st);
                let mut st = *outer;
                sha2::block_api::compress256(&mut st, &[final_block_64(&ih, 64)]);
                truncate(&words32_be::<8, 32>(&st))
            }
            Self::Sha512 { inner, outer } => {
                let mut st = *inner;
                sha2::block_api::compress512(&mut st, &[final_block_128(&msg, 128)]);
                let ih = words64_be(&st);
                let mut st = *outer;
                sha2::block_api::compress512(&mut st, &[final_block_128(&ih, 128)]);
                truncate(&words64_be(&st))
            }
        }
    }
}

/// RFC 4226 §5.3: the low nibble of the last byte picks four bytes; the top bit is cleared.
fn truncate(mac: &[u8]) -> u32 {
    let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
    match mac.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        // Unreachable: every MAC here is at least 20 bytes and the offset at most 15.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use hmac::{KeyInit, Mac};
    use proptest::prelude::*;

    use super::*;

    fn reference(algorithm: Algorithm, key: &[u8], counter: u64) -> u32 {
        let msg = counter.to_be_bytes();
        let mac = match algorithm {
            Algorithm::Sha1 => {
                let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha256 => {
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha512 => {
                let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
        };
        truncate(&mac)
    }

    proptest! {
        // Keys shorter than, equal to and longer than the block size of every hash.
        #[test]
        fn matches_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..300),
                                  counter in any::<u64>(),
                                  alg in prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)]) {
            prop_assert_eq!(KeyedHmac::new(alg, &key).truncated(counter), reference(alg, &key, counter));
        }
    }

    #[test]
    fn block_sized_keys_match_the_hmac_crate() {
        for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            for len in [63, 64, 65, 127, 128, 129] {
                let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
                assert_eq!(
                    KeyedHmac::new(alg, &key).truncated(7),
                    reference(alg, &key, 7),
                    "{alg:?} {len}"
                );
            }
        }
    }
}
