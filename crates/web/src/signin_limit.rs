//! Per-address rate limit on the requests that check a sign-in secret (password, second factor,
//! password change, enrolment, first-administrator setup), applied before anything is read or
//! written: a client over its budget gets 429 with `Retry-After`, and neither the database nor
//! the audit trail sees the request.
//!
//! A token bucket per client address (IPv6 clients by their /64, which one host usually owns
//! whole): `burst` requests at once, refilled at `per_minute`. The buckets live in this process
//! (each instance of a cluster has its own budget; the lockout in the vault is shared). The
//! table is bounded: when it is full, buckets that have refilled completely are dropped, and if
//! none has, the oldest one goes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// The budget of sign-in attempts per client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimit {
    /// Requests allowed at once (at least 1).
    pub burst: u32,
    /// Requests added back per minute (at least 1).
    pub per_minute: u32,
}

impl Default for SignInLimit {
    /// 20 at once, then 30 a minute: a busy office behind one NAT address signs in unhindered,
    /// a script gets one guess every two seconds, whatever names it tries.
    fn default() -> Self {
        Self {
            burst: 20,
            per_minute: 30,
        }
    }
}

/// The budget of images each staff member may send to the capture endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimit(pub SignInLimit);

impl Default for FrameLimit {
    /// 10 at once, then 120 a minute: the page samples a screen share twice a second at most.
    fn default() -> Self {
        Self(SignInLimit {
            burst: 10,
            per_minute: 120,
        })
    }
}

/// At most this many addresses are tracked at once.
const MAX_TRACKED: usize = 100_000;

/// The buckets, by key (a client address, or a staff member for screen-share frames). Tokens
/// are counted in sixtieths so refill is exact integer arithmetic.
#[derive(Debug)]
pub(crate) struct Limiter<K = IpAddr> {
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K> Default for Limiter<K> {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens × 60.
    tokens: u64,
    /// When `tokens` was last brought up to date (Unix seconds).
    at: u64,
}

/// The key of an address: IPv4 as is, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            for s in seg.iter_mut().skip(4) {
                *s = 0;
            }
            IpAddr::V6(seg.into())
        }
    }
}

impl Limiter<IpAddr> {
    /// Takes one request from `ip`'s budget at `now`; `Err(seconds)` until one is back.
    pub(crate) fn take(&self, limit: SignInLimit, ip: IpAddr, now: u64) -> Result<(), u64> {
        self.take_key(limit, key(ip), now)
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// Takes one request from `key`'s budget at `now`; `Err(seconds)` until one is back.
    pub(crate) fn take_key(&self, limit: SignInLimit, key: K, now: u64) -> Result<(), u64> {
        let cap = u64::from(limit.burst.max(1)) * 60;
        let rate = u64::from(limit.per_minute.max(1));
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) {
            buckets.retain(|_, b| {
                b.tokens
                    .saturating_add(now.saturating_sub(b.at).saturating_mul(rate))
                    < cap
            });
            if buckets.len() >= MAX_TRACKED
                && let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.at)
                    .map(|(k, _)| k.clone())
            {
                buckets.remove(&oldest);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let refilled = now.saturating_sub(bucket.at).saturating_mul(rate);
        bucket.tokens = bucket.tokens.saturating_add(refilled).min(cap);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 60 {
            bucket.tokens -= 60;
            Ok(())
        } else {
            // Seconds until the bucket holds one whole token again.
            Err((60 - bucket.tokens).div_ceil(rate).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_address() {
        let l = Limiter::default();
        let limit = SignInLimit {
            burst: 3,
            per_minute: 30,
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.take(limit, a, 1000), Ok(()));
        }
        assert_eq!(l.take(limit, a, 1000), Err(2));
        // Another address has its own budget.
        assert_eq!(l.take(limit, b, 1000), Ok(()));
        // 30 a minute: one back every two seconds.
        assert_eq!(l.take(limit, a, 1001), Err(1));
        assert_eq!(l.take(limit, a, 1002), Ok(()));
        assert_eq!(l.take(limit, a, 1002), Err(2));
        // Never more than the burst, however long the pause.
        for _ in 0..3 {
            assert_eq!(l.take(limit, a, 9000), Ok(()));
        }
        assert!(l.take(limit, a, 9000).is_err());
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let l = Limiter::default();
        let limit = SignInLimit {
            burst: 1,
            per_minute: 1,
        };
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.take(limit, a, 0), Ok(()));
        assert!(l.take(limit, b, 0).is_err());
        assert_eq!(l.take(limit, c, 0), Ok(()));
    }
}
