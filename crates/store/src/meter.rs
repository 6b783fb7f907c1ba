//! The store's series (named as `bookstore_http::metrics::catalog` describes them): the wait
//! for a connection, and the path each search took.

use std::time::Instant;

pub(crate) const READS: &str = "reads";
pub(crate) const WRITES: &str = "writes";
const POOL_ACQUIRE: &str = "bookstore_db_pool_acquire_seconds";
const SEARCHES: &str = "bookstore_search_requests_total";
const SEARCH_DURATION: &str = "bookstore_search_duration_seconds";

/// Times the wait for a connection of one pool. Measured where the store takes connections
/// itself: the PostgreSQL reads' pool, and every write transaction (until `BEGIN` has run,
/// which on an idle connection is one short round trip). SQLite's reads go through sqlx's
/// pool inside each statement; the pool gauges show their pressure.
pub(crate) struct AcquireTimer {
    pool: &'static str,
    started: Instant,
}

impl AcquireTimer {
    pub(crate) fn start(pool: &'static str) -> Self {
        Self {
            pool,
            started: Instant::now(),
        }
    }

    pub(crate) fn stop(self) {
        metrics::histogram!(POOL_ACQUIRE, "pool" => self.pool)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// Which path answered a full-text search (`search.rs`): the words as typed, with the last
/// one as a prefix, the typo fallback, or the any-word fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchPath {
    Typed,
    Prefix,
    Typo,
    AnyWord,
}

impl SearchPath {
    fn as_str(self) -> &'static str {
        match self {
            Self::Typed => "typed",
            Self::Prefix => "prefix",
            Self::Typo => "typo",
            Self::AnyWord => "any_word",
        }
    }

    pub(crate) fn record(self, started: Instant) {
        metrics::counter!(SEARCHES, "path" => self.as_str()).increment(1);
        metrics::histogram!(SEARCH_DURATION, "path" => self.as_str())
            .record(started.elapsed().as_secs_f64());
    }
}

/// Awaits `acquire` (taking a connection of `pool`), timed as the wait for it.
pub(crate) async fn acquired<T>(
    pool: &'static str,
    acquire: impl std::future::Future<Output = T>,
) -> T {
    let timer = AcquireTimer::start(pool);
    let got = acquire.await;
    timer.stop();
    got
}
