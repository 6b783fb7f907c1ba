//! The read model as the service uses it: the current index generation, how fresh it is,
//! this process's writes it does not have yet, and the decision, per search, to answer from
//! the index or leave it to the store.

use crate::cursor::Cursor;
use crate::{IndexError, SearchIndex};
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use bookstore_core::consistency::ConsistencyToken;
use bookstore_core::health::Dependency;
use bookstore_core::outbox::EventLog;
use bookstore_core::search::{Declined, SearchReadModel};
use bookstore_core::{BookListQuery, BookPage, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// An own write older than this is no longer waited for (its event was lost to a relay
/// outage, or the write's version was unknown and the index already had it).
const FORGET_WRITES: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The index answers while it was caught up with the event log this recently.
    pub max_lag: Duration,
    /// How long a search waits for this process's own writes to reach the index.
    pub own_write_wait: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(2),
            own_write_wait: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Awaited {
    version: Option<i64>,
    deleted: bool,
    at: Instant,
}

#[derive(Debug, Default)]
struct Status {
    /// When the follower last read the log to its end and had applied all of it.
    caught_up_at: Option<Instant>,
    /// A new generation is catching up (the current one still answers).
    next_catching_up: bool,
    /// The current generation missed events the log pruned: it does not answer until a
    /// rebuilt one replaces it.
    stale: bool,
}

/// What `/readyz`, the metrics and `bookstore index status` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Being built: the first time, or again because the events after its position were
    /// pruned from the log.
    Building,
    Fresh,
    Lagging,
}

pub struct IndexService {
    dir: PathBuf,
    freshness: Freshness,
    current: ArcSwapOption<SearchIndex>,
    generation: Mutex<Option<PathBuf>>,
    status: Mutex<Status>,
    pending: Mutex<HashMap<Uuid, Awaited>>,
    commits: watch::Sender<u64>,
    /// The log the follower reads: where a consistency token's writes are in it.
    log: OnceLock<Arc<dyn EventLog>>,
    /// How far the answering generation has read the log: its position, or the head seen
    /// before a read that reached the end of the log (the index's position stays at the last
    /// *book* event; other events after it are read too).
    read_through: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IndexService {
    pub fn new(dir: &Path, freshness: Freshness) -> Self {
        Self {
            dir: dir.to_owned(),
            freshness,
            current: ArcSwapOption::empty(),
            generation: Mutex::new(None),
            status: Mutex::new(Status::default()),
            pending: Mutex::new(HashMap::new()),
            commits: watch::Sender::new(0),
            log: OnceLock::new(),
            read_through: AtomicI64::new(0),
        }
    }

    /// The log the follower reads (set once, by the follower).
    pub fn set_log(&self, log: Arc<dyn EventLog>) {
        let _ = self.log.set(log);
    }

    /// The answering generation has read every event up to `position` (and applied those
    /// of books).
    pub fn read_through(&self, position: i64) {
        self.read_through.fetch_max(position, Ordering::AcqRel);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn current(&self) -> Option<Arc<SearchIndex>> {
        self.current.load_full()
    }

    pub fn generation(&self) -> Option<PathBuf> {
        lock(&self.generation).clone()
    }

    /// Makes `index` (of `generation`) the one that answers.
    pub fn install(&self, index: Arc<SearchIndex>, generation: PathBuf) {
        self.read_through.store(index.position(), Ordering::Release);
        self.current.store(Some(index));
        *lock(&self.generation) = Some(generation);
        {
            let mut status = lock(&self.status);
            status.next_catching_up = false;
            status.stale = false;
        }
        self.committed();
    }

    /// Marks the current generation as missing pruned events (see [`State::Building`]).
    pub fn set_stale(&self, stale: bool) {
        lock(&self.status).stale = stale;
        self.record_metrics();
    }

    pub fn is_stale(&self) -> bool {
        lock(&self.status).stale
    }

    pub fn set_next_catching_up(&self, catching_up: bool) {
        lock(&self.status).next_catching_up = catching_up;
    }

    /// The follower read the log to its end (the read began at `at`) and applied it.
    pub fn caught_up(&self, at: Instant) {
        let mut status = lock(&self.status);
        if status.caught_up_at.is_none_or(|t| t < at) {
            status.caught_up_at = Some(at);
        }
    }

    /// The follower committed: waiting searches look again.
    pub fn committed(&self) {
        self.commits.send_modify(|n| *n += 1);
        self.record_metrics();
    }

    pub fn state(&self) -> State {
        if self.current().is_none() {
            return State::Building;
        }
        let status = lock(&self.status);
        if status.stale {
            return State::Building;
        }
        match status.caught_up_at {
            Some(t) if t.elapsed() <= self.freshness.max_lag => State::Fresh,
            _ => State::Lagging,
        }
    }

    /// Seconds since the index was last caught up (the lag bound compares with this).
    pub fn lag(&self) -> Option<Duration> {
        lock(&self.status).caught_up_at.map(|t| t.elapsed())
    }

    pub fn record_metrics(&self) {
        let state = self.state();
        metrics::gauge!("bookstore_search_index_state").set(match state {
            State::Fresh => 0.0,
            State::Lagging => 1.0,
            State::Building => 2.0,
        });
        if let Some(lag) = self.lag() {
            metrics::gauge!("bookstore_search_index_lag_seconds").set(lag.as_secs_f64());
        }
        if let Some(index) = self.current() {
            metrics::gauge!("bookstore_search_index_position").set(index.position() as f64);
        }
    }

    fn satisfied(index: &SearchIndex, id: Uuid, awaited: &Awaited) -> bool {
        if awaited.at.elapsed() > FORGET_WRITES {
            return true;
        }
        let held = match index.version_of(id) {
            Ok(held) => held,
            Err(_) => return false,
        };
        if awaited.deleted {
            return held.is_none_or(|(_, live)| !live);
        }
        match awaited.version {
            Some(v) => held.is_some_and(|(h, _)| h >= v),
            None => true,
        }
    }

    /// Waits (up to the bound) until the index has every write this process announced.
    async fn own_writes_applied(&self, index: &SearchIndex) -> bool {
        let deadline = tokio::time::Instant::now() + self.freshness.own_write_wait;
        let mut commits = self.commits.subscribe();
        loop {
            {
                let mut pending = lock(&self.pending);
                pending.retain(|id, awaited| !Self::satisfied(index, *id, awaited));
                if pending.is_empty() {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, commits.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Waits (up to the bound) until the index has read the log past every event of the
    /// writes `token` covers (see `EventLog::position_of_token`): a write through another
    /// process, which names no book here.
    async fn token_applied(&self, token: ConsistencyToken) -> bool {
        let Some(log) = self.log.get().filter(|log| log.places_tokens()) else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + self.freshness.own_write_wait;
        let mut commits = self.commits.subscribe();
        let mut needed = None;
        loop {
            if needed.is_none() {
                // Asked again after each commit of the follower while events of those writes
                // are unpublished: the follower commits once they are published and read.
                needed = match log.position_of_token(token).await {
                    Ok(position) => position,
                    Err(error) => {
                        tracing::warn!(%error, "cannot place a consistency token in the event log");
                        return false;
                    }
                };
            }
            if needed.is_some_and(|n| self.read_through.load(Ordering::Acquire) >= n) {
                return true;
            }
            if tokio::time::timeout_at(deadline, commits.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    fn decline(reason: Declined) -> Result<Result<BookPage, Declined>, StoreError> {
        metrics::counter!("bookstore_search_answers_total", "by" => "database", "reason" => reason.as_str())
            .increment(1);
        Ok(Err(reason))
    }
}

#[async_trait]
impl SearchReadModel for IndexService {
    async fn list_books(
        &self,
        query: &BookListQuery,
        token: Option<ConsistencyToken>,
    ) -> Result<Result<BookPage, Declined>, StoreError> {
        let search = &query.search;
        if search.text.is_none() && search.filters.is_empty() {
            return Self::decline(Declined::PlainList);
        }
        let cursor = query.page.cursor.as_deref();
        // A page after the first follows the index that gave the first (its cursor means
        // nothing to the store), whatever the index's lag: pages of one walk stay coherent.
        let continuing = cursor.is_some_and(Cursor::is_index_cursor);
        if cursor.is_some() && !continuing {
            return Self::decline(Declined::Unsupported);
        }
        let Some(index) = self.current() else {
            return Self::decline(Declined::Building);
        };
        if !continuing {
            if self.state() != State::Fresh {
                return Self::decline(Declined::Lagging);
            }
            if let Some(token) = token {
                if !self.token_applied(token).await {
                    return Self::decline(Declined::Token);
                }
            }
            if !self.own_writes_applied(&index).await {
                return Self::decline(Declined::OwnWrite);
            }
        }
        let owned = query.clone();
        let searching = index.clone();
        let found = tokio::task::spawn_blocking(move || searching.search(&owned)).await;
        match found {
            Ok(Ok(Some(page))) => {
                metrics::counter!("bookstore_search_answers_total", "by" => "index", "reason" => "fresh")
                    .increment(1);
                Ok(Ok(page))
            }
            Ok(Ok(None)) => Self::decline(Declined::Unsupported),
            Ok(Err(IndexError::InvalidCursor)) => Err(StoreError::InvalidCursor),
            Ok(Err(error)) => {
                tracing::error!(%error, "the search index failed; the store answers");
                Self::decline(Declined::Failed)
            }
            Err(error) => {
                tracing::error!(%error, "the search index's task failed; the store answers");
                Self::decline(Declined::Failed)
            }
        }
    }

    fn wrote(&self, book: Uuid, version: Option<i64>, deleted: bool) {
        // A change of unknown version cannot be told from the one before it: not waited for
        // (every book write answers with its version in `ETag`; this is a safety net).
        if version.is_none() && !deleted {
            return;
        }
        lock(&self.pending).insert(
            book,
            Awaited {
                version,
                deleted,
                at: Instant::now(),
            },
        );
    }
}

/// The index in `/readyz`: searches still succeed while it is built or lags (the store
/// answers them), so it degrades the service without making it unready.
pub struct IndexReadiness(pub Arc<IndexService>);

#[async_trait]
impl Dependency for IndexReadiness {
    fn name(&self) -> &'static str {
        "search_index"
    }

    async fn degraded(&self) -> Option<String> {
        self.0.record_metrics();
        match self.0.state() {
            State::Fresh => None,
            State::Building => Some(
                "the search index is being built: searches are answered by the database".into(),
            ),
            State::Lagging => Some(
                "the search index lags behind the event log: searches are answered by the database"
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_generation_does_not_answer() {
        let service = IndexService::new(Path::new("/nonexistent"), Freshness::default());
        assert_eq!(service.state(), State::Building);
        let index = Arc::new(SearchIndex::in_memory().expect("index"));
        service.install(index.clone(), PathBuf::from("g-1"));
        service.caught_up(Instant::now());
        assert_eq!(service.state(), State::Fresh);
        // Its next events were pruned: building again, whatever its lag says.
        service.set_stale(true);
        assert_eq!(service.state(), State::Building);
        service.caught_up(Instant::now());
        assert_eq!(service.state(), State::Building);
        // The rebuilt generation, once caught up, answers.
        service.install(index, PathBuf::from("g-2"));
        assert!(!service.is_stale());
        assert_eq!(service.state(), State::Fresh);
    }
}
