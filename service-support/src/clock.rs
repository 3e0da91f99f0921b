//! The time a service's timers go by: the system's, or, in tests, one that moves only when told,
//! so that a ten-minute timeout is tested by moving the clock ten minutes, not by waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Now, as the timers see it.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at the current time, moved on only by [`Clock::advance`].
    pub fn paused() -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(
                chrono::Utc::now().timestamp_millis(),
            ))),
        }
    }

    /// A clock stopped at `at` (a test of business hours starts on a known weekday).
    pub fn paused_at(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(at.timestamp_millis()))),
        }
    }

    /// Now, as a date and time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_else(chrono::Utc::now)
    }

    /// Moves a paused clock on (does nothing to the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.manual {
            now.fetch_add(
                i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                Ordering::SeqCst,
            );
        }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::SeqCst),
            None => chrono::Utc::now().timestamp_millis(),
        }
    }

    /// How long ago `then_ms` (Unix milliseconds) was; zero for a time still to come.
    pub fn since(&self, then_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(self.now_ms().saturating_sub(then_ms)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_moves_only_when_told() {
        let clock = Clock::paused();
        let start = clock.now_ms();
        assert_eq!(clock.since(start), Duration::ZERO);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now_ms(), start + 90_000);
        assert_eq!(clock.since(start), Duration::from_secs(90));
        assert_eq!(clock.since(start + 200_000), Duration::ZERO);
        let shared = clock.clone();
        shared.advance(Duration::from_millis(1));
        assert_eq!(clock.now_ms(), start + 90_001, "clones share the time");
    }
}
