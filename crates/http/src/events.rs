//! What the live event stream (`GET /events`) reads, and what bounds it: the store's event log
//! and the signal of its growth (both ports, so that every replica serves the same stream), a
//! cap on concurrent streams, and the switch that ends them all when the server shuts down.

use bookstore_core::outbox::{EventLog, EventLogSignal};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How the stream paces itself.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    /// A comment line this often keeps proxies and clients from taking a quiet stream for a
    /// dead one.
    pub keep_alive: Duration,
    /// The log is read this often even without a signal: a signal can be missed (another
    /// replica's announcement while the listener reconnects).
    pub poll: Duration,
}

impl Default for StreamTiming {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            poll: Duration::from_secs(5),
        }
    }
}

pub struct EventStreams {
    pub log: Arc<dyn EventLog>,
    pub signal: Arc<dyn EventLogSignal>,
    pub timing: StreamTiming,
    permits: Arc<Semaphore>,
    closing: watch::Sender<bool>,
}

impl EventStreams {
    pub fn new(
        log: Arc<dyn EventLog>,
        signal: Arc<dyn EventLogSignal>,
        max_streams: usize,
        timing: StreamTiming,
    ) -> Self {
        Self {
            log,
            signal,
            timing,
            permits: Arc::new(Semaphore::new(max_streams)),
            closing: watch::Sender::new(false),
        }
    }

    /// A place for one more stream, unless every place is taken or the server is closing.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if *self.closing.borrow() {
            return None;
        }
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Ends every open stream (at its next step) and refuses new ones: a graceful shutdown
    /// waits for responses to finish, and a stream would otherwise never finish.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`EventStreams::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            // The sender lives in the state, which outlives every stream.
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }
}
