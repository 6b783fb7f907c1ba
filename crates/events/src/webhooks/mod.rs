//! The webhook delivery engine (the `subscribers` role): the fan-out turns published events
//! into deliveries, the workers attempt them. Both are safe on several replicas at once: the
//! fan-out position moves in the transaction that writes the deliveries, and workers lease
//! what they attempt.

pub mod deliverer;
pub mod fanout;
pub mod guard;
pub mod schedule;
pub mod signature;
pub mod workers;

pub use deliverer::{Deliverer, ATTEMPT_TIMEOUT};
pub use schedule::RetrySchedule;

use bookstore_core::outbox::{EventLog, EventLogSignal};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Let deliveries reach loopback and private addresses.
    pub allow_private: bool,
    pub retry: RetrySchedule,
    /// Attempts in flight in this process, at most.
    pub concurrency: u32,
    /// Attempts in flight to one webhook in this process, at most.
    pub per_endpoint: u32,
    /// How long a claimed delivery is held; past it another worker may take it over. Longer
    /// than an attempt can last.
    pub lease: Duration,
    /// How often workers look for due retries when nothing wakes them.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry: RetrySchedule::default(),
            concurrency: 32,
            per_endpoint: 4,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
        }
    }
}

/// The running engine; dropping it leaves the tasks running, [`WebhookEngine::stop`] ends
/// them: no new claims, the attempts in flight finish (each is bounded by the attempt
/// timeout); an attempt still cut short is taken over when its lease runs out.
pub struct WebhookEngine {
    workers: JoinHandle<()>,
    fanout: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl WebhookEngine {
    /// Starts the workers, and with `fanout` (the event log and its growth signal) the
    /// fan-out too. Without it, only what is queued otherwise (pings, redeliveries, retries)
    /// is delivered.
    pub fn start(
        deliverer: Arc<Deliverer>,
        fanout: Option<(Arc<dyn EventLog>, Arc<dyn EventLogSignal>)>,
    ) -> Self {
        let (stop, stopping) = watch::channel(false);
        let workers = tokio::spawn(workers::run(deliverer.clone(), stopping));
        let fanout = fanout.map(|(log, signal)| tokio::spawn(fanout::run(deliverer, log, signal)));
        Self {
            workers,
            fanout,
            stop,
        }
    }

    /// Stops claiming deliveries and waits up to `grace` for the attempts in flight.
    pub async fn stop(self, grace: Duration) {
        // The fan-out's position moves in the transaction that writes the deliveries: cut
        // anywhere, it loses nothing.
        if let Some(fanout) = self.fanout {
            fanout.abort();
        }
        let _ = self.stop.send(true);
        let workers = self.workers;
        tokio::pin!(workers);
        if tokio::time::timeout(grace, &mut workers).await.is_err() {
            tracing::warn!(
                "webhook attempts still in flight at shutdown; their leases will run out"
            );
            workers.abort();
        }
    }
}
