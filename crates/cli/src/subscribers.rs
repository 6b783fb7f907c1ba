//! The `subscribers` role: the webhook engine, reading the store's event log after its
//! fan-out position, woken when the log grows.

use bookstore_core::outbox::{EventLog, EventLogSignal};
use bookstore_events::webhooks::{Deliverer, WebhookEngine};
use bookstore_events::LogSignal;
use bookstore_store::Store;
use std::sync::Arc;

/// Starts the webhook engine on `store`'s event log; `signal` tells it the log grew.
pub fn start(store: &Store, deliverer: Arc<Deliverer>, signal: LogSignal) -> WebhookEngine {
    let log: Arc<dyn EventLog> = store.event_log();
    let signal: Arc<dyn EventLogSignal> = Arc::new(signal);
    WebhookEngine::start(deliverer, Some((log, signal)))
}

/// The event log's growth as this process hears of it (from its own relay, and on
/// PostgreSQL from every replica's), starting at the current head.
pub async fn log_signal(store: &Store) -> anyhow::Result<(LogSignal, tokio::task::JoinHandle<()>)> {
    let head = store.event_log().head().await?;
    let signal = LogSignal::new(head);
    let mut heads = store.wakeups().head;
    let announcer = signal.clone();
    let task = tokio::spawn(async move {
        loop {
            let head = *heads.borrow_and_update();
            announcer.announce(head);
            if heads.changed().await.is_err() {
                return;
            }
        }
    });
    Ok((signal, task))
}
