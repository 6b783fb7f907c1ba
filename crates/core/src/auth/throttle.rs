//! The brute-force curve (after Cognito's): from the 6th failed sign-in within 15 minutes, a
//! key (an account or a client address) waits 2^(n-5) seconds after its n-th failure, at most
//! 15 minutes.

use chrono::{DateTime, Duration, Utc};

pub const WINDOW: Duration = Duration::minutes(15);
pub const FREE_FAILURES: i64 = 5;
pub const MAX_WAIT_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures within the window.
    pub failures: i64,
    pub last_failure: Option<DateTime<Utc>>,
}

impl Throttle {
    pub fn wait_after(failures: i64) -> Duration {
        if failures <= FREE_FAILURES {
            return Duration::zero();
        }
        let exponent = (failures - FREE_FAILURES).min(20) as u32;
        Duration::seconds((1i64 << exponent).min(MAX_WAIT_SECS))
    }

    /// Seconds until the next attempt is allowed, or `None` when it is allowed now.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<u64> {
        let last = self.last_failure?;
        let until = last + Self::wait_after(self.failures);
        let remaining = (until - now).num_milliseconds();
        (remaining > 0).then(|| ((remaining + 999) / 1000) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve() {
        assert_eq!(Throttle::wait_after(5), Duration::zero());
        assert_eq!(Throttle::wait_after(6), Duration::seconds(2));
        assert_eq!(Throttle::wait_after(7), Duration::seconds(4));
        assert_eq!(Throttle::wait_after(14), Duration::seconds(512));
        assert_eq!(Throttle::wait_after(15), Duration::seconds(900));
        assert_eq!(Throttle::wait_after(1000), Duration::seconds(900));
    }

    #[test]
    fn retry_after_counts_down() {
        let now = Utc::now();
        let t = Throttle {
            failures: 7,
            last_failure: Some(now - Duration::seconds(1)),
        };
        assert_eq!(t.retry_after(now), Some(3));
        assert_eq!(t.retry_after(now + Duration::seconds(3)), None);
        let free = Throttle {
            failures: 5,
            last_failure: Some(now),
        };
        assert_eq!(free.retry_after(now), None);
    }
}
