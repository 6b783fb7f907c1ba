//! GCRA counters that every replica shares.
//!
//! Each check is one atomic Lua script: it reads the key's TAT, applies the same arithmetic as
//! `bookstore_core::ratelimit::gcra` with Redis's own clock (so replicas' clocks need not
//! agree), and stores the new TAT with an expiry at which it would no longer matter. While
//! Redis cannot be reached the limiter counts in this process's memory instead.

use crate::link::{supervise, Link, Probed, Wording};
use crate::{InvalidUrl, RedisSettings};
use async_trait::async_trait;
use bookstore_core::ratelimit::{Decision, LocalLimiter, Quota, Rate, RateLimiter};
use std::sync::Arc;

/// One GCRA step. KEYS[1]: the key. ARGV[1]: emission interval, ARGV[2]: burst (microseconds
/// and requests). Returns {allowed (0 or 1), microseconds from now to the TAT after the step}.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > burst * interval then
  return {0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, new_tat - now}
";

pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    script: redis::Script,
    fallback: LocalLimiter,
}

impl RedisLimiter {
    /// Connects (waiting at most `settings.timeout` plus a connection attempt) and starts the
    /// background probe. An unreachable Redis is not an error: the limiter starts degraded.
    /// An invalid URL is.
    pub async fn connect(settings: RedisSettings) -> Result<Self, InvalidUrl> {
        let client = redis::Client::open(settings.url.as_str()).map_err(InvalidUrl)?;
        let wording = Wording {
            up: "rate-limit counters are in Redis, shared by every replica",
            back: "Redis is reachable again: rate limits are shared by every replica again",
            down:
                "Redis is unreachable: each replica counts rate limits on its own until it is back",
        };
        let inner = Arc::new(Inner {
            link: Link::new(client, settings.prefix, settings.timeout, wording),
            script: redis::Script::new(GCRA_SCRIPT),
            fallback: LocalLimiter::default(),
        });
        inner.probe().await;
        supervise(Arc::downgrade(&inner));
        Ok(Self { inner })
    }
}

impl Inner {
    async fn run(&self, key: &str, quota: &Quota) -> Result<(bool, u64), String> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.link.prefix))
            .arg(quota.interval_micros())
            .arg(quota.burst());
        let (allowed, delay) = self.link.invoke::<(i64, i64)>(&invocation).await?;
        Ok((allowed == 1, u64::try_from(delay).unwrap_or(0)))
    }
}

/// A quota for the probe key that is never exhausted and expires at once.
fn probe_quota() -> Quota {
    let rate = Rate::per_second(1000).expect("a constant, valid rate");
    Quota::new(rate, 1000).expect("a constant, valid quota")
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: &Quota) -> Decision {
        let inner = &self.inner;
        if inner.link.is_up() {
            match inner.run(key, quota).await {
                Ok((allowed, delay)) => return Decision::from_delay(allowed, delay, quota),
                Err(reason) => inner.link.mark_down(reason),
            }
        }
        inner.fallback.check(key, quota).await
    }

    fn degraded(&self) -> Option<String> {
        let reason = self.inner.link.outage()?;
        Some(format!(
            "Redis is unreachable ({reason}); rate limits are counted by this replica alone"
        ))
    }
}

#[async_trait]
impl Probed for Inner {
    fn link(&self) -> &Link {
        &self.link
    }

    /// Runs the real script on a key of its own; marks Redis up or down accordingly.
    async fn probe(&self) {
        let quota = probe_quota();
        match self.run("probe", &quota).await {
            Ok(_) => self.link.mark_up(),
            Err(reason) => self.link.mark_down(reason),
        }
    }
}
