//! Injected time: the vault never reads the system clock, so tests move time by hand.

use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// Start of the UTC day containing this instant (for daily quotas).
    pub fn day_start(self) -> UnixTime {
        UnixTime(self.0 - self.0.rem_euclid(86_400))
    }
}

/// A source of the current time. `SystemClock` lives in the cli crate.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `unix_secs`.
    pub fn new(unix_secs: i64) -> Self {
        Self(AtomicI64::new(unix_secs))
    }

    /// Moves the clock forward (or back, for negative values).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, unix_secs: i64) {
        self.0.store(unix_secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_start_truncates_to_utc_midnight() {
        assert_eq!(UnixTime(86_400 * 3 + 5).day_start(), UnixTime(86_400 * 3));
        assert_eq!(UnixTime(86_400 * 3).day_start(), UnixTime(86_400 * 3));
        assert_eq!(UnixTime(-1).day_start(), UnixTime(-86_400));
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(100);
        assert_eq!(clock.now(), UnixTime(100));
        clock.advance(30);
        assert_eq!(clock.now(), UnixTime(130));
        clock.set(5);
        assert_eq!(clock.now(), UnixTime(5));
    }
}
