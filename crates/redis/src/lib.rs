//! Redis adapter: GCRA counters that every replica shares, so that N replicas enforce one
//! limit rather than N.
//!
//! Each check is one atomic Lua script: it reads the key's TAT, applies the same arithmetic as
//! `bookstore_core::ratelimit::gcra` with Redis's own clock (so replicas' clocks need not
//! agree), and stores the new TAT with an expiry at which it would no longer matter.
//!
//! Redis is never allowed to stall or fail a request: every call has a short timeout, and when
//! Redis cannot be reached the limiter counts in this process's memory instead, logs that once
//! per outage, reports it through [`RateLimiter::degraded`], and probes Redis in the background
//! until it answers again.

use async_trait::async_trait;
use bookstore_core::ratelimit::{Decision, LocalLimiter, Quota, Rate, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

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

/// How often Redis is tried again while it is unreachable.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Settings of the Redis limiter.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// Prepended to every key, so that several deployments (or tests) can share one Redis.
    pub prefix: String,
    /// Longest wait for Redis on a request before counting locally instead.
    pub timeout: Duration,
}

pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    connection: OnceLock<ConnectionManager>,
    /// Whether checks go to Redis; false from the first failure until a probe succeeds.
    up: AtomicBool,
    /// Why Redis is not used, while it is not.
    outage: Mutex<Option<String>>,
    fallback: LocalLimiter,
}

#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL is not valid: {0}")]
pub struct InvalidUrl(#[source] redis::RedisError);

impl RedisLimiter {
    /// Connects (waiting at most `settings.timeout` plus a connection attempt) and starts the
    /// background probe. An unreachable Redis is not an error: the limiter starts degraded.
    /// An invalid URL is.
    pub async fn connect(settings: RedisSettings) -> Result<Self, InvalidUrl> {
        let client = redis::Client::open(settings.url.as_str()).map_err(InvalidUrl)?;
        let inner = Arc::new(Inner {
            client,
            prefix: settings.prefix,
            timeout: settings.timeout,
            script: redis::Script::new(GCRA_SCRIPT),
            connection: OnceLock::new(),
            up: AtomicBool::new(false),
            outage: Mutex::new(None),
            fallback: LocalLimiter::default(),
        });
        inner.probe().await;
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }
}

/// Probes Redis while it is down, for as long as the limiter exists.
async fn supervise(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if !inner.up.load(Ordering::Acquire) {
            inner.probe().await;
        }
    }
}

impl Inner {
    fn connection_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout.max(Duration::from_millis(500)))
            .set_response_timeout(self.timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000)
    }

    /// The connection, made on first success (it reconnects by itself after that).
    async fn connection(&self) -> Result<ConnectionManager, String> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let attempt =
            ConnectionManager::new_with_config(self.client.clone(), self.connection_config());
        let deadline = self.timeout.max(Duration::from_millis(500)) * 2;
        match tokio::time::timeout(deadline, attempt).await {
            Ok(Ok(connection)) => Ok(self.connection.get_or_init(|| connection).clone()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no connection within {} ms", deadline.as_millis())),
        }
    }

    async fn run(&self, key: &str, quota: &Quota) -> Result<(bool, u64), String> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.prefix))
            .arg(quota.interval_micros())
            .arg(quota.burst());
        let call = invocation.invoke_async::<(i64, i64)>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, delay))) => Ok((allowed == 1, u64::try_from(delay).unwrap_or(0))),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Runs the real script on a key of its own; marks Redis up or down accordingly.
    async fn probe(&self) {
        let quota = probe_quota();
        match self.run("probe", &quota).await {
            Ok(_) => self.mark_up(),
            Err(reason) => self.mark_down(reason),
        }
    }

    fn mark_up(&self) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.up.swap(true, Ordering::AcqRel) {
            match outage.take() {
                Some(_) => tracing::info!(
                    "Redis is reachable again: rate limits are shared by every replica again"
                ),
                None => tracing::info!("rate-limit counters are in Redis, shared by every replica"),
            }
        }
    }

    fn mark_down(&self, reason: String) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        let was_up = self.up.swap(false, Ordering::AcqRel);
        if was_up || outage.is_none() {
            tracing::warn!(
                error = %reason,
                "Redis is unreachable: each replica counts rate limits on its own until it is back"
            );
        }
        *outage = Some(reason);
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
        if inner.up.load(Ordering::Acquire) {
            match inner.run(key, quota).await {
                Ok((allowed, delay)) => return Decision::from_delay(allowed, delay, quota),
                Err(reason) => inner.mark_down(reason),
            }
        }
        inner.fallback.check(key, quota).await
    }

    fn degraded(&self) -> Option<String> {
        if self.inner.up.load(Ordering::Acquire) {
            return None;
        }
        let outage = self
            .inner
            .outage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let reason = outage.as_deref().unwrap_or("not connected yet");
        Some(format!(
            "Redis is unreachable ({reason}); rate limits are counted by this replica alone"
        ))
    }
}
