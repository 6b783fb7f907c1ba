//! The relay (ARCHITECTURE.md, "Roles"): moves committed outbox rows to the bus and marks them
//! published, which gives each its position in the store's event log.
//!
//! The outbox is split into partitions by book; the relay leases every partition it can (a
//! partition another relay holds is tried again every `lease_retry`, so a dead relay's
//! partitions are taken over) and runs one task per leased partition. A task publishes the
//! partition's pending events oldest first, in waves of at most one event per book, and marks
//! the ones the bus accepted; at the first event the bus refuses it stops (a book's later
//! events must not overtake it) and tries again after a growing, jittered pause. It wakes at
//! commit (the store's wake-ups) and polls every `poll_interval` besides.

mod backoff;
mod partition;
mod waves;

use crate::bus::EventBus;
use crate::signal::LogSignal;
use bookstore_core::outbox::{Outbox, OUTBOX_PARTITIONS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{Id, JoinHandle, JoinSet};

/// Whether the relay is told to stop (or its handle is gone, so that it never will be).
pub(crate) fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Pending events read from a partition at a time.
    pub batch: u32,
    /// The safety net: how often a partition is looked at without a wake-up.
    pub poll_interval: Duration,
    /// How often the partitions this relay does not hold are tried.
    pub lease_retry: Duration,
    /// The first pause after the bus failed; it doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 500,
            poll_interval: Duration::from_secs(5),
            lease_retry: Duration::from_secs(5),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What the partition tasks share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) signal: LogSignal,
    /// Whether the last publication failed: an outage is logged once when it begins and once
    /// when it ends, not per attempt.
    bus_failing: Arc<AtomicBool>,
}

impl Shared {
    pub(crate) fn bus_failed(&self, reason: &str) {
        if !self.bus_failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                bus = self.bus.name(),
                error = reason,
                "the event bus is not taking events; they wait in the outbox"
            );
        }
    }

    pub(crate) fn bus_worked(&self) {
        if self.bus_failing.swap(false, Ordering::Relaxed) {
            tracing::info!(
                bus = self.bus.name(),
                "the event bus is taking events again"
            );
        }
    }
}

/// Per outbox partition, a count that changes when rows of the partition may have been
/// committed: what wakes the relay (the store's wake-ups).
pub type OutboxCommits = [u64; OUTBOX_PARTITIONS as usize];

pub struct Relay {
    outbox: Arc<dyn Outbox>,
    shared: Shared,
    wake: watch::Receiver<OutboxCommits>,
    config: RelayConfig,
}

/// A running relay.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    /// Stops the relay: each partition finishes the wave it is publishing, then its lease is
    /// handed back.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the relay task failed");
        }
    }
}

impl Relay {
    /// A relay from `outbox` to `bus` that announces what it published into `signal`, woken
    /// when a partition's count in `wake` changes (rows of it were committed).
    pub fn new(
        outbox: Arc<dyn Outbox>,
        bus: Arc<dyn EventBus>,
        signal: LogSignal,
        wake: watch::Receiver<OutboxCommits>,
        config: RelayConfig,
    ) -> Self {
        Self {
            outbox,
            shared: Shared {
                bus,
                signal,
                bus_failing: Arc::new(AtomicBool::new(false)),
            },
            wake,
            config,
        }
    }

    pub fn spawn(self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        RelayHandle { stop, task }
    }

    /// Leases what it can and relays each leased partition, until `stop` turns true.
    async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            bus = self.shared.bus.name(),
            poll_interval_ms = self.config.poll_interval.as_millis(),
            "relay started"
        );
        let mut held = [false; OUTBOX_PARTITIONS as usize];
        let mut workers: JoinSet<u16> = JoinSet::new();
        let mut partitions: HashMap<Id, u16> = HashMap::new();
        let mut store_failing = false;
        loop {
            if stopped(&stop) {
                break;
            }
            for partition in 0..OUTBOX_PARTITIONS {
                let slot = usize::from(partition);
                if held.get(slot).copied().unwrap_or(true) {
                    continue;
                }
                match self.outbox.lease(partition).await {
                    Ok(Some(lease)) => {
                        if store_failing {
                            tracing::info!("the relay can lease partitions again");
                            store_failing = false;
                        }
                        tracing::debug!(partition, "leased an outbox partition");
                        if let Some(slot) = held.get_mut(slot) {
                            *slot = true;
                        }
                        let task = workers.spawn(partition::run(
                            lease,
                            self.shared.clone(),
                            self.config.clone(),
                            self.wake.clone(),
                            stop.clone(),
                        ));
                        partitions.insert(task.id(), partition);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        if !store_failing {
                            tracing::warn!(error = %err, "the relay cannot lease outbox partitions; retrying");
                            store_failing = true;
                        }
                        break;
                    }
                }
            }
            tokio::select! {
                _ = stop.changed() => {}
                Some(ended) = workers.join_next_with_id() => {
                    let id = match ended {
                        Ok((id, _)) => id,
                        Err(err) => {
                            tracing::error!(error = %err, "a relay partition task failed");
                            err.id()
                        }
                    };
                    if let Some(slot) = partitions
                        .remove(&id)
                        .and_then(|partition| held.get_mut(usize::from(partition)))
                    {
                        *slot = false;
                    }
                    // Leased again after a pause, not in a loop against a failing store.
                    tokio::select! {
                        () = tokio::time::sleep(self.config.lease_retry) => {}
                        _ = stop.changed() => {}
                    }
                }
                () = tokio::time::sleep(self.config.lease_retry) => {}
            }
        }
        while let Some(ended) = workers.join_next().await {
            if let Err(err) = ended {
                tracing::error!(error = %err, "a relay partition task failed");
            }
        }
        tracing::info!("relay stopped; its partitions are handed back");
    }
}
