//! Redis adapters: GCRA rate-limit counters that every replica shares, so that N replicas
//! enforce one limit rather than N ([`RedisLimiter`]), and the book cache shared by every
//! replica ([`RedisBookCache`]).
//!
//! Redis is never allowed to stall or fail a request: every call has a short timeout, and
//! while Redis cannot be reached each adapter works without it (counting in memory, reading
//! the store), logs that once per outage, says so through `degraded`, and probes Redis in the
//! background until it answers again.

mod book_cache;
mod limiter;
mod link;

pub use book_cache::RedisBookCache;
pub use limiter::RedisLimiter;

use std::time::Duration;

/// Settings of the Redis adapters.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// Prepended to every key, so that several deployments (or tests) can share one Redis.
    pub prefix: String,
    /// Longest wait for Redis on a request before doing without it.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL is not valid: {0}")]
pub struct InvalidUrl(#[source] redis::RedisError);

/// How often Redis is tried again while it is unreachable.
const PROBE_EVERY: Duration = Duration::from_secs(1);
