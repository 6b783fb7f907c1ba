//! GCRA state in this process's memory, bounded in size whatever the traffic.
//!
//! A key whose TAT has passed is in the same state as a key never seen, so forgetting it loses
//! nothing: each shard forgets such keys at most once a second as it is used, and
//! [`LocalLimiter::sweep`] does it for every shard. When a shard is full of keys that are all
//! still within their window (a flood from very many addresses), the eighth of its keys
//! closest to their end are forgotten early: those callers get a fresh budget sooner, and
//! memory stays within the bound.

use super::{gcra, Decision, Quota, RateLimiter};
use async_trait::async_trait;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// How many keys a limiter keeps at most by default (some 10 MB; spread over shards, a shard
/// may fill up before the whole does).
pub const DEFAULT_MAX_KEYS: usize = 100_000;
const SHARDS: usize = 16;
/// Microseconds between two sweeps of a shard in use.
const SWEEP_EVERY: u64 = 1_000_000;

pub struct LocalLimiter {
    shards: Vec<Mutex<Shard>>,
    max_per_shard: usize,
    hasher: RandomState,
    epoch: Instant,
}

#[derive(Default)]
struct Shard {
    tats: HashMap<Box<str>, u64>,
    next_sweep: u64,
}

impl Shard {
    fn sweep(&mut self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
        let len = self.tats.len();
        if self.tats.capacity() > 1024 && self.tats.capacity() > len * 4 {
            self.tats.shrink_to(len * 2);
        }
    }

    /// Makes room for one more key within `max`.
    fn make_room(&mut self, now: u64, max: usize) {
        if self.tats.len() < max {
            return;
        }
        self.sweep(now);
        if self.tats.len() < max {
            return;
        }
        let mut tats: Vec<u64> = self.tats.values().copied().collect();
        let evict = (tats.len() / 8).max(1);
        let (_, cutoff, _) = tats.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        self.tats.retain(|_, tat| *tat > cutoff);
    }
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS)
    }
}

impl LocalLimiter {
    /// A limiter that keeps at most about `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_per_shard: (max_keys / SHARDS).max(1),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }

    /// Microseconds since this limiter was made: its clock.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request against `key` at time `now` (microseconds on [`Self::now`]'s clock).
    pub fn check_at(&self, key: &str, quota: &Quota, now: u64) -> Decision {
        let mut guard = self.shard(key);
        let shard = &mut *guard;
        if now >= shard.next_sweep {
            shard.sweep(now);
            shard.next_sweep = now.saturating_add(SWEEP_EVERY);
        }
        let (allowed, delay, new_tat) = gcra(shard.tats.get(key).copied(), now, quota);
        if let Some(tat) = new_tat {
            if let Some(slot) = shard.tats.get_mut(key) {
                *slot = tat;
            } else {
                shard.make_room(now, self.max_per_shard);
                shard.tats.insert(key.into(), tat);
            }
        }
        Decision::from_delay(allowed, delay, quota)
    }

    /// Forgets every key whose window has passed at `now`.
    pub fn sweep(&self, now: u64) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sweep(now);
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).tats.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys there is room for without allocating.
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .tats
                    .capacity()
            })
            .sum()
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn check(&self, key: &str, quota: &Quota) -> Decision {
        self.check_at(key, quota, self.now())
    }

    fn degraded(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::Rate;
    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota::new(Rate::per_second(per_second).expect("rate"), burst).expect("quota")
    }

    fn address(i: u32) -> String {
        format!("anonymous:10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff)
    }

    #[test]
    fn keys_are_limited_separately() {
        let limiter = LocalLimiter::default();
        let q = quota(1, 2);
        assert!(limiter.check_at("a", &q, 0).allowed);
        assert!(limiter.check_at("a", &q, 0).allowed);
        assert!(!limiter.check_at("a", &q, 0).allowed);
        assert!(limiter.check_at("b", &q, 0).allowed);
        assert!(limiter.check_at("a", &q, 1_000_000).allowed);
    }

    #[test]
    fn a_flood_of_distinct_addresses_is_forgotten_once_idle() {
        // Room for all of them, to see that they go by themselves.
        let limiter = LocalLimiter::new(1_000_000);
        let q = quota(100, 200);
        for i in 0..100_000 {
            assert!(limiter.check_at(&address(i), &q, 0).allowed);
        }
        assert_eq!(limiter.len(), 100_000);
        let grown = limiter.capacity();
        // Each key used one interval (10 ms); a second later every one of them is idle.
        limiter.sweep(1_000_000);
        assert!(limiter.is_empty(), "{} keys left", limiter.len());
        assert!(
            limiter.capacity() < grown / 10,
            "capacity {} after {}",
            limiter.capacity(),
            grown
        );
    }

    #[test]
    fn idle_keys_are_forgotten_without_an_explicit_sweep() {
        let limiter = LocalLimiter::default();
        let q = quota(100, 200);
        for i in 0..10_000 {
            limiter.check_at(&address(i), &q, 0);
        }
        // Traffic from others later on sweeps each shard it touches.
        for i in 0..1_000 {
            limiter.check_at(&format!("user:{i}"), &q, 2_000_000);
        }
        assert_eq!(limiter.len(), 1_000);
    }

    #[test]
    fn memory_stays_bounded_while_a_flood_is_still_within_its_window() {
        let limiter = LocalLimiter::new(10_000);
        // A slow rate: no key expires during the flood.
        let q = Quota::new(Rate::per_minute(1).expect("rate"), 5).expect("quota");
        for i in 0..100_000 {
            limiter.check_at(&address(i), &q, u64::from(i));
            if i % 1000 == 0 {
                assert!(limiter.len() <= 10_000, "{} keys", limiter.len());
            }
        }
        assert!(limiter.len() <= 10_000, "{} keys", limiter.len());
        assert!(limiter.len() >= 5_000, "{} keys", limiter.len());
        // A key still held keeps its count.
        let last = address(99_999);
        for _ in 0..4 {
            assert!(limiter.check_at(&last, &q, 100_000).allowed);
        }
        assert!(!limiter.check_at(&last, &q, 100_000).allowed);
    }
}
