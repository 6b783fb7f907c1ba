//! Keeps this process's book cache, and the one every replica shares, current from the
//! store's event log: the stream of every committed change, whichever replica made it (on
//! PostgreSQL, other replicas' relays announce their publications to this process's log
//! signal). Every replica announces every event to the shared cache: a replica that made a
//! change but could not tell the shared cache (Redis away, or a crash) is covered by the others.

use bookstore_core::outbox::{EventLog, EventLogSignal, LoggedEvent};
use bookstore_events::LogSignal;
use bookstore_http::cache::CacheLevels;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Events read at a time.
const PAGE: u32 = 500;
/// The log is read this often without a wake-up (a notification can be missed while the
/// listener reconnects); the cache's time to live covers the rest.
const POLL: Duration = Duration::from_secs(1);
const RETRY: Duration = Duration::from_secs(1);

/// Follows the event log from its head now (the cache starts empty: nothing before matters).
pub fn start(log: Arc<dyn EventLog>, signal: LogSignal, cache: Arc<CacheLevels>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut after = loop {
            match log.head().await {
                Ok(head) => break head,
                Err(error) => {
                    tracing::warn!(%error, "the book cache cannot read the event log's head; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        loop {
            match log.read_after(after, PAGE, &[]).await {
                Ok(events) => {
                    for event in &events {
                        apply(&cache, event).await;
                        after = event.position;
                    }
                    if events.len() == PAGE as usize {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the book cache cannot read the event log; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(POLL, signal.grown_past(after)).await;
        }
    })
}

/// Drops what the event makes stale: the book's versions before the event's (every version,
/// for a deletion).
async fn apply(cache: &CacheLevels, event: &LoggedEvent) {
    let version = event
        .payload
        .get("version")
        .and_then(serde_json::Value::as_i64);
    let version = match version {
        Some(_) if event.event_type.ends_with(".deleted") => Some(i64::MAX),
        version => version,
    };
    cache.saw(event.aggregate_id, version).await;
}
