//! Time: where the engine reads it ([`Clock`], with a [`ManualClock`] for tests) and the
//! store's unit, microseconds since the Unix epoch as `i64`. Every conversion between
//! instants or durations and that unit is here, and saturates instead of overflowing.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// Where the engine reads the current time; tests inject a [`ManualClock`] so that nothing
/// time-dependent needs a real wait.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            micros: AtomicI64::new(micros(start)),
        }
    }

    /// Moves the clock to `to` (also backwards, to test clock skew).
    pub fn set(&self, to: OffsetDateTime) {
        self.micros.store(micros(to), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.micros.fetch_add(micros_of(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_micros(self.micros.load(Ordering::SeqCst))
    }
}

/// An instant from microseconds since the Unix epoch; one out of range reads as the epoch.
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An instant as microseconds since the Unix epoch, the store's unit of time.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// A duration in microseconds; one too long for `i64` saturates.
pub(crate) fn micros_of(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_saturate() {
        let t = OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap();
        assert_eq!(from_micros(micros(t)), t);
        assert_eq!(micros_of(Duration::from_millis(1500)), 1_500_000);
        assert_eq!(micros_of(Duration::MAX), i64::MAX);
        assert_eq!(from_micros(i64::MAX), OffsetDateTime::UNIX_EPOCH);
        let clock = ManualClock::new(t);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now(), t + Duration::from_secs(2));
    }
}
