//! The clock trait: the only way anything in poolkeeper learns the time.
//!
//! The domain never reads the wall clock (its `chrono` dependency is built without the
//! `clock` feature). The server injects a system clock; tests and demos inject a
//! [`ManualClock`] that moves only when told to.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that stands still until [`ManualClock::set`] or [`ManualClock::advance`] moves it.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        }
    }

    /// Moves the clock to `instant` (which may be earlier: callers that need monotonic time
    /// must refuse that themselves).
    pub fn set(&self, instant: DateTime<Utc>) {
        self.micros
            .store(instant.timestamp_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` and returns the new instant.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        let now = self.micros.fetch_add(micros, Ordering::SeqCst) + micros;
        DateTime::from_timestamp_micros(now).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(Duration::days(6));
        assert_eq!(later, start + Duration::days(6));
        assert_eq!(clock.now(), later);
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
