//! Growing, jittered pauses after a failure, so that relays (and partitions) that failed
//! together do not retry together.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// The pause after one more failure: a random time between half of and the whole of
    /// `min` doubled per failure so far, at most `max`.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let random = u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(random % spread.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff.next_pause();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let second = backoff.next_pause();
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        for _ in 0..20 {
            assert!(backoff.next_pause() <= Duration::from_secs(1));
        }
        assert!(backoff.next_pause() >= Duration::from_millis(500));
        backoff.reset();
        assert!(backoff.next_pause() <= Duration::from_millis(100));
    }
}
