//! Rate limits: the generic cell rate algorithm (GCRA), the port that keeps its state, and an
//! in-memory implementation of that port with a bounded size.
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT): the moment at which the
//! key's bucket would be full again if no further request came. A request is allowed when, after
//! adding one emission interval to the TAT, the TAT is no more than `burst` intervals ahead of
//! now. Every adapter (memory, Redis) runs the same arithmetic and reports the distance between
//! TAT and now; [`Decision::from_delay`] turns that distance into what a client is told.

mod local;

pub use local::LocalLimiter;

use async_trait::async_trait;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

const MICROS_PER_SEC: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RateError {
    #[error("a rate looks like 100/s, 30/min or 1000/h")]
    Syntax,
    #[error("a rate must allow at least one request")]
    Zero,
    #[error("a burst must be at least 1")]
    ZeroBurst,
    #[error("a rate above one request per microsecond cannot be enforced")]
    TooFast,
}

/// A sustained rate: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    per: Duration,
}

impl Rate {
    pub fn new(count: u32, per: Duration) -> Result<Self, RateError> {
        if count == 0 || per.is_zero() {
            return Err(RateError::Zero);
        }
        if per.as_micros() < u128::from(count) {
            return Err(RateError::TooFast);
        }
        Ok(Self { count, per })
    }

    pub fn per_second(count: u32) -> Result<Self, RateError> {
        Self::new(count, Duration::from_secs(1))
    }

    pub fn per_minute(count: u32) -> Result<Self, RateError> {
        Self::new(count, Duration::from_secs(60))
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn per(&self) -> Duration {
        self.per
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// `100/s`, `30/min`, `1000/h` (also `sec`, `second`, `m`, `minute`, `hour`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, unit) = text.trim().split_once('/').ok_or(RateError::Syntax)?;
        let count: u32 = count.trim().parse().map_err(|_| RateError::Syntax)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(RateError::Syntax),
        };
        Self::new(count, Duration::from_secs(per))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.count),
            60 => write!(f, "{}/min", self.count),
            3600 => write!(f, "{}/h", self.count),
            _ => write!(f, "{}/{:?}", self.count, self.per),
        }
    }
}

/// A budget: up to `burst` requests at once, refilled at a sustained [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    rate: Rate,
    burst: u32,
    /// Microseconds between two requests at the sustained rate.
    interval: u64,
}

impl Quota {
    pub fn new(rate: Rate, burst: u32) -> Result<Self, RateError> {
        if burst == 0 {
            return Err(RateError::ZeroBurst);
        }
        let per = u64::try_from(rate.per.as_micros()).map_err(|_| RateError::Syntax)?;
        Ok(Self {
            rate,
            burst,
            interval: per / u64::from(rate.count),
        })
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval in microseconds.
    pub fn interval_micros(&self) -> u64 {
        self.interval
    }

    /// The longest the TAT can be ahead of now: a full burst.
    fn capacity(&self) -> u64 {
        self.interval.saturating_mul(u64::from(self.burst))
    }

    /// The policy as whole seconds and a request count over them, for clients: the window is
    /// the time a spent burst takes to refill (at least one second), the count what the
    /// sustained rate allows in that window (at least the burst).
    pub fn window(&self) -> (u64, u64) {
        let seconds = self.capacity().div_ceil(MICROS_PER_SEC).max(1);
        let count = (seconds * MICROS_PER_SEC / self.interval.max(1)).max(u64::from(self.burst));
        (count, seconds)
    }
}

/// What a limiter decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests that would be allowed right now, after this one.
    pub remaining: u32,
    /// How long until `remaining` grows by one; when refused, how long to wait before retrying.
    pub refill_in: Duration,
}

impl Decision {
    /// The decision from the distance, in microseconds, between the key's TAT and now, as it
    /// stands after the check (the new TAT if allowed, the unchanged one if refused).
    pub fn from_delay(allowed: bool, delay: u64, quota: &Quota) -> Self {
        let interval = quota.interval.max(1);
        let capacity = quota.capacity();
        if !allowed {
            let wait = delay
                .saturating_sub(capacity.saturating_sub(interval))
                .max(1);
            return Self {
                allowed,
                remaining: 0,
                refill_in: Duration::from_micros(wait),
            };
        }
        let used = delay.div_ceil(interval).min(u64::from(quota.burst));
        let remaining = u64::from(quota.burst) - used;
        let refill_in = if used == 0 {
            0
        } else {
            delay - (used - 1) * interval
        };
        Self {
            allowed,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            refill_in: Duration::from_micros(refill_in),
        }
    }
}

/// One GCRA step. `tat` is the key's stored TAT (none for a key not seen, or forgotten), `now`
/// the current time, both in microseconds on the same clock. Returns whether the request is
/// allowed, the distance from now to the TAT after the step, and the TAT to store (none when
/// the request is refused and nothing changes).
pub fn gcra(tat: Option<u64>, now: u64, quota: &Quota) -> (bool, u64, Option<u64>) {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(quota.interval);
    if new_tat - now > quota.capacity() {
        return (false, tat - now, None);
    }
    (true, new_tat - now, Some(new_tat))
}

/// The port: keeps GCRA state per key. Implementations never fail a request for their own
/// trouble; they degrade (for one, to counters local to this process) and say so.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request against `key`'s budget.
    async fn check(&self, key: &str, quota: &Quota) -> Decision;
    /// `None` while working as configured, or why limits are degraded.
    fn degraded(&self) -> Option<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: &str, burst: u32) -> Quota {
        Quota::new(rate.parse().expect("rate"), burst).expect("quota")
    }

    #[test]
    fn rates_parse() {
        assert_eq!(
            "100/s".parse::<Rate>(),
            Ok(Rate::per_second(100).expect("rate"))
        );
        assert_eq!(
            " 30 / min ".parse::<Rate>(),
            Ok(Rate::per_minute(30).expect("rate"))
        );
        assert_eq!(
            "1000/h".parse::<Rate>().map(|r| r.to_string()).as_deref(),
            Ok("1000/h")
        );
        assert_eq!("0/s".parse::<Rate>(), Err(RateError::Zero));
        assert_eq!("ten/s".parse::<Rate>(), Err(RateError::Syntax));
        assert_eq!("10/fortnight".parse::<Rate>(), Err(RateError::Syntax));
        assert_eq!("10".parse::<Rate>(), Err(RateError::Syntax));
        assert_eq!("2000000/s".parse::<Rate>(), Err(RateError::TooFast));
        assert!(Quota::new(Rate::per_second(1).expect("rate"), 0).is_err());
    }

    #[test]
    fn a_fresh_key_gets_its_burst_then_the_rate() {
        let q = quota("10/s", 3);
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..5 {
            let (ok, _, new) = gcra(tat, 0, &q);
            if ok {
                allowed += 1;
                tat = new;
            }
        }
        assert_eq!(allowed, 3);
        // One interval (100 ms) later, exactly one more.
        assert!(!gcra(tat, 99_999, &q).0);
        let (ok, _, new) = gcra(tat, 100_000, &q);
        assert!(ok);
        assert!(!gcra(new, 100_000, &q).0);
    }

    #[test]
    fn the_sustained_rate_holds_over_time() {
        // 50/s with a burst of 10, a request every millisecond for 4 s: 10 + 200.
        let q = quota("50/s", 10);
        let mut tat = None;
        let mut allowed = 0;
        for ms in 0..4000u64 {
            let (ok, _, new) = gcra(tat, ms * 1000, &q);
            if ok {
                allowed += 1;
                tat = new;
            }
        }
        assert!((209..=211).contains(&allowed), "{allowed}");
    }

    #[test]
    fn decisions_tell_what_is_left_and_when_more_comes() {
        let q = quota("1/s", 3);
        let (ok, delay, tat) = gcra(None, 0, &q);
        let d = Decision::from_delay(ok, delay, &q);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.refill_in, Duration::from_secs(1));
        let (ok, delay, tat) = gcra(tat, 250_000, &q);
        let d = Decision::from_delay(ok, delay, &q);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
        // The TAT is 2 s ahead of time 0; at 0.25 s one unit comes back 0.75 s later.
        assert_eq!(d.refill_in, Duration::from_millis(750));
        let (ok, delay, tat) = gcra(tat, 250_000, &q);
        assert_eq!(Decision::from_delay(ok, delay, &q).remaining, 0);
        let (ok, delay, _) = gcra(tat, 250_000, &q);
        let d = Decision::from_delay(ok, delay, &q);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.refill_in, Duration::from_millis(750));
    }

    #[test]
    fn windows_for_clients() {
        assert_eq!(quota("100/s", 200).window(), (200, 2));
        assert_eq!(quota("30/min", 20).window(), (20, 40));
        assert_eq!(quota("50/s", 10).window(), (50, 1));
        assert_eq!(quota("1/min", 3).window(), (3, 180));
    }
}
