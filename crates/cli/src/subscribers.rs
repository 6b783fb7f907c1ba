//! The `subscribers` role: the webhook engine, reading the store's event log after its
//! fan-out position, woken by the pipeline's signal when the log grows.

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
