//! The system clock, read in one place so every other module takes time as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

/// Source of "now" in Unix seconds; tests pass a fixed clock.
pub trait Clock {
    /// Current Unix time in whole seconds.
    fn now_unix_secs(&self) -> u64;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned read of the system clock.
    fn now_unix_secs(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The system clock in Unix seconds with its fraction (the SNTP check needs sub-second time).
#[allow(clippy::disallowed_methods)] // The clock module is where the system clock is read.
pub(crate) fn unix_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl tokendesk_vault::Clock for SystemClock {
    fn now(&self) -> tokendesk_vault::UnixTime {
        tokendesk_vault::UnixTime(i64::try_from(self.now_unix_secs()).unwrap_or(i64::MAX))
    }
}
