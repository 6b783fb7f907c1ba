//! When a failed delivery is tried again: delays that double from `first` up to `cap`, each
//! jittered by ±20% so that the deliveries of one outage do not come back in one wave, for as
//! long as `window` after the delivery was queued; then it has failed.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay after the first failed attempt.
    pub first: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// How long after it was queued a delivery is still tried.
    pub window: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            cap: Duration::from_secs(2 * 60 * 60),
            window: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl RetrySchedule {
    /// The delay after `attempts` failed attempts (1 or more), before jitter.
    pub fn delay(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.first.saturating_mul(1 << doublings).min(self.cap)
    }

    /// When to try again after `attempts` failed attempts, given `jitter` in [0, 1); `None`
    /// once that would be past the window.
    pub fn next_attempt(
        &self,
        attempts: i32,
        queued_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let delay = self.delay(attempts).mul_f64(factor);
        let next = now + chrono::Duration::from_std(delay).ok()?;
        let end = queued_at + chrono::Duration::from_std(self.window).ok()?;
        (next <= end).then_some(next)
    }
}

/// A number in [0, 1) for jitter. Not for secrets: it only spreads retries.
pub fn jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stop_after_the_window() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.delay(1), Duration::from_secs(5));
        assert_eq!(schedule.delay(2), Duration::from_secs(10));
        assert_eq!(schedule.delay(40), schedule.cap);
        let queued = Utc::now();
        let next = schedule
            .next_attempt(1, queued, queued, 0.5)
            .expect("within the window");
        assert_eq!((next - queued).num_seconds(), 5);
        let late = queued + chrono::Duration::hours(23) + chrono::Duration::minutes(59);
        assert_eq!(schedule.next_attempt(20, queued, late, 0.0), None);
    }

    #[test]
    fn jitter_spreads_within_a_fifth() {
        let schedule = RetrySchedule::default();
        let now = Utc::now();
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
            let next = schedule.next_attempt(3, now, now, j).expect("next");
            let ms = (next - now).num_milliseconds();
            assert!((16_000..=24_000).contains(&ms), "{ms}");
        }
    }
}
