//! The relay against real stores (issue 12, points 1, 2 and 7): nothing skipped when a
//! transaction commits late, two relays on one PostgreSQL publish each event once in per-book
//! order, a failing bus loses nothing, and a commit wakes the relay.
//!
//! The tests live with the binary's crate because they wire two adapters (the store and the
//! relay), as the binary does.

#![allow(clippy::unwrap_used)]

mod failures;
mod scale;
mod skip;
mod wakeup;

use async_trait::async_trait;
use bookstore_core::outbox::PendingEvent;
use bookstore_core::{
    Book, BookDraft, CatalogStore, Precondition, Principal, RawBook, Role, WriteContext,
};
use bookstore_events::{BusError, BusHealth, EventBus, LogSignal, Relay, RelayConfig, RelayHandle};
use bookstore_store::{testing, Store, StoreConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub fn ctx() -> WriteContext {
    WriteContext {
        principal: Principal {
            subject: "u-1".into(),
            username: "alice".into(),
            role: Role::Admin,
        },
        request_id: None,
        traceparent: None,
    }
}

/// A migrated store: SQLite in a temporary directory, or a fresh PostgreSQL database.
pub struct Harness {
    pub store: Store,
    pub pg_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = open(None, dir.path()).await;
        Self {
            store,
            pg_url: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let url = testing::fresh_postgres_url().await;
        let store = open(Some(url.clone()), std::path::Path::new("unused")).await;
        Self {
            store,
            pg_url: Some(url),
            _dir: None,
        }
    }

    /// Another store on the same PostgreSQL database: another replica.
    pub async fn replica(&self) -> Store {
        open(self.pg_url.clone(), std::path::Path::new("unused")).await
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(url) = self.pg_url {
            testing::drop_postgres_database(&url).await;
        }
    }
}

async fn open(url: Option<String>, dir: &std::path::Path) -> Store {
    let store = Store::open(&StoreConfig {
        database_url: url,
        data_dir: dir.join("data"),
        max_connections: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

/// Decides per event (and the number of events offered so far) whether to refuse it.
type Refusal = Box<dyn FnMut(&PendingEvent, u64) -> bool + Send>;

/// A bus that records what it accepted, and refuses what `refuse` says.
pub struct RecordingBus {
    pub accepted: Mutex<Vec<PendingEvent>>,
    refuse: Mutex<Refusal>,
    offered: AtomicU64,
}

impl RecordingBus {
    pub fn new() -> Arc<Self> {
        Self::refusing(|_, _| false)
    }

    pub fn refusing(refuse: impl FnMut(&PendingEvent, u64) -> bool + Send + 'static) -> Arc<Self> {
        Arc::new(Self {
            accepted: Mutex::new(Vec::new()),
            refuse: Mutex::new(Box::new(refuse)),
            offered: AtomicU64::new(0),
        })
    }

    pub fn set_refuse(&self, refuse: impl FnMut(&PendingEvent, u64) -> bool + Send + 'static) {
        *self.refuse.lock().unwrap() = Box::new(refuse);
    }

    pub fn accepted(&self) -> Vec<PendingEvent> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        let mut refuse = self.refuse.lock().unwrap();
        let mut accepted = self.accepted.lock().unwrap();
        events
            .iter()
            .map(|event| {
                let n = self.offered.fetch_add(1, Ordering::SeqCst);
                if refuse(event, n) {
                    Err(BusError::Unavailable("refused by the test".into()))
                } else {
                    accepted.push(event.clone());
                    Ok(())
                }
            })
            .collect()
    }

    async fn health(&self) -> BusHealth {
        BusHealth::Up
    }
}

pub fn config(poll: Duration, lease_retry: Duration) -> RelayConfig {
    RelayConfig {
        batch: 50,
        poll_interval: poll,
        lease_retry,
        linger: Duration::from_millis(5),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    }
}

/// A relay from `store` to `bus`, announcing into a signal of its own.
pub async fn relay(
    store: &Store,
    bus: Arc<dyn EventBus>,
    config: RelayConfig,
) -> (RelayHandle, LogSignal) {
    let signal = LogSignal::new(store.event_log().head().await.unwrap());
    let handle = Relay::new(
        store.outbox(),
        bus,
        signal.clone(),
        store.wakeups().outbox,
        config,
    )
    .spawn();
    (handle, signal)
}

pub fn isbn(n: u32) -> String {
    bookstore_core::Isbn::numbered(n).as_str().to_owned()
}

pub fn raw(n: u32, title: &str) -> RawBook {
    RawBook {
        isbn: Some(isbn(n)),
        title: Some(title.into()),
        ..RawBook::default()
    }
}

pub async fn create(cat: &Arc<dyn CatalogStore>, n: u32) -> Book {
    cat.create_book(&BookDraft::parse(&raw(n, "First")).unwrap(), &ctx(), None)
        .await
        .unwrap()
}

pub async fn retitle(cat: &Arc<dyn CatalogStore>, book: &Book, n: u32, title: &str) -> Book {
    cat.replace_book(
        book.id,
        &Precondition::Any,
        &BookDraft::parse(&raw(n, title)).unwrap(),
        &ctx(),
    )
    .await
    .unwrap()
}

/// Waits until `done` holds, for up to `limit`.
pub async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The CloudEvent `version` of a published event.
pub fn version(event: &PendingEvent) -> i64 {
    event.payload["version"].as_i64().unwrap()
}

/// Asserts that each book's events were accepted in version order, and each event once.
pub fn assert_once_in_book_order(accepted: &[PendingEvent]) {
    let mut last: HashMap<Uuid, i64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for event in accepted {
        assert!(seen.insert(event.id), "published twice: {}", event.id);
        let v = version(event);
        if let Some(previous) = last.insert(event.aggregate_id, v) {
            assert!(
                v > previous,
                "book {}: version {v} published after {previous}",
                event.aggregate_id
            );
        }
    }
}

/// Asserts that the event log holds exactly `ids`, at positions 1, 2, 3, ... (nothing skipped)
/// and, for each book, in version order.
pub async fn assert_log_is_whole(store: &Store, expected: usize) {
    let log = store.event_log().read_after(0, 100_000, &[]).await.unwrap();
    assert_eq!(log.len(), expected);
    let positions: Vec<i64> = log.iter().map(|e| e.position).collect();
    let whole: Vec<i64> = (1..=i64::try_from(expected).unwrap()).collect();
    assert_eq!(
        positions, whole,
        "positions strictly increasing, none missing"
    );
    let mut last: HashMap<Uuid, i64> = HashMap::new();
    for event in &log {
        let v = event.payload["version"].as_i64().unwrap();
        if let Some(previous) = last.insert(event.aggregate_id, v) {
            assert!(v > previous, "log: version {v} after {previous}");
        }
    }
}
