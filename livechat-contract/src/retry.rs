//! How both ends of the live-chat link retry: which answers are worth another attempt, and how long
//! to wait before it. The skill retries its calls to the session API by these rules, and the live
//! chat its webhooks to the skill, so a change here changes both.

use std::time::Duration;

use rand::Rng;

/// Whether an HTTP answer of the other side is worth another attempt: outages and overload (5xx,
/// 408, 429) are; a refusal of the request itself (any other 4xx), 501 (it cannot do this at all)
/// and 507 (its storage is full: the sender is told rather than kept waiting) are final.
pub fn is_transient_status(status: u16) -> bool {
    (status >= 500 && !matches!(status, 501 | 507)) || matches!(status, 408 | 429)
}

/// Jittered exponential backoff: `base * 2^(failed attempts - 1)`, capped at `max`, each delay
/// between 0.8 and 1.2 times that so that retries do not march in step; a `Retry-After` the other
/// side sent is honoured up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `failed_attempts + 1`.
    pub fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wish) = retry_after {
            return wish.min(self.max);
        }
        let exponent = failed_attempts.saturating_sub(1).min(20);
        let nominal = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.8..=1.2);
        nominal.mul_f64(jitter).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_and_overload_are_transient_and_refusals_final() {
        for transient in [500, 502, 503, 504, 408, 429] {
            assert!(is_transient_status(transient), "{transient}");
        }
        for final_status in [400, 401, 403, 404, 409, 410, 413, 415, 422, 501, 507] {
            assert!(!is_transient_status(final_status), "{final_status}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(1000),
            max: Duration::from_secs(10),
        };
        for (attempts, nominal) in [
            (1u32, 1000u64),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (5, 10000),
            (30, 10000),
        ] {
            let delay = backoff.delay(attempts, None).as_millis() as u64;
            assert!(
                delay >= nominal * 8 / 10 && delay <= (nominal * 12 / 10).min(10_000),
                "attempt {attempts}: {delay} ms"
            );
        }
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(300))),
            Duration::from_secs(10)
        );
    }
}
