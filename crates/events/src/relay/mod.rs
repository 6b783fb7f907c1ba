//! The relay (ARCHITECTURE.md, "Roles"): moves committed outbox rows to the bus and marks them
//! published, which gives each its position in the store's event log.
//!
//! The outbox is split into partitions by book; the relay leases every partition it can (a
//! partition another relay holds is tried again every `lease_retry`, so a dead relay's
//! partitions are taken over) and drains all it holds together, round by round: a round
//! publishes the oldest pending events in waves of at most one event per book, and marks the
//! ones the bus accepted; at the first event the bus refuses it stops (a book's later events
//! must not overtake it) and tries again after a growing, jittered pause. It wakes at commit
//! (the store's wake-ups) and polls every `poll_interval` besides. Commits made during a round
//! wait for the next, so under load a round carries many events: the cost per event falls as
//! the rate rises.

mod backoff;
mod round;
mod waves;

use crate::bus::EventBus;
use crate::signal::LogSignal;
use backoff::Backoff;
use bookstore_core::outbox::{Outbox, OutboxLeases, OUTBOX_PARTITIONS};
use bookstore_core::StoreError;
use round::Pass;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
    /// How long a relay woken by a commit waits for more before its round: under load a
    /// round then carries several events for the cost of one (one read, one publication, one
    /// marking transaction). It bounds the rounds to about `1 / linger` per second.
    pub linger: Duration,
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
            linger: Duration::from_millis(5),
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

/// A count that changes when outbox rows may have been committed: what wakes the relay (the
/// store's wake-ups).
pub type OutboxCommits = u64;

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
    /// Stops the relay: it finishes the wave it is publishing, then hands its leases back.
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

    /// Leases what it can and relays what it holds, until `stop` turns true.
    async fn run(self, mut stop: watch::Receiver<bool>) {
        // From zero, so that a rate of failures is defined before the first one.
        let bus = self.shared.bus.name();
        metrics::counter!("bookstore_events_published_total", "bus" => bus).increment(0);
        metrics::counter!("bookstore_events_publish_failures_total", "bus" => bus).increment(0);
        tracing::info!(
            bus = self.shared.bus.name(),
            poll_interval_ms = self.config.poll_interval.as_millis(),
            "relay started"
        );
        let mut wake = self.wake.clone();
        let mut leases: Option<Box<dyn OutboxLeases>> = None;
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        let mut next_lease_attempt = Instant::now();
        let mut store_failing = false;
        loop {
            if stopped(&stop) {
                break;
            }
            if leases.as_ref().is_some_and(|set| set.outdated()) {
                tracing::info!("database credentials changed: the relay leases its partitions again on a new connection");
                leases = None;
                next_lease_attempt = Instant::now();
            }
            if Instant::now() >= next_lease_attempt {
                next_lease_attempt = Instant::now() + self.config.lease_retry;
                match self.lease_more(&mut leases).await {
                    Ok(()) if store_failing => {
                        tracing::info!("the relay can lease partitions again");
                        store_failing = false;
                    }
                    Ok(()) => {}
                    Err(err) => {
                        if !store_failing {
                            tracing::warn!(error = %err, "the relay cannot lease outbox partitions; retrying");
                            store_failing = true;
                        }
                        leases = None;
                    }
                }
            }
            let Some(held) = leases.as_mut().filter(|set| !set.held().is_empty()) else {
                tokio::select! {
                    () = tokio::time::sleep_until(next_lease_attempt) => {}
                    _ = stop.changed() => {}
                }
                continue;
            };
            // Seen now: a commit from here on wakes the wait below.
            let seen = *wake.borrow_and_update();
            let pause = match round::pass(held.as_mut(), &self.shared, &self.config).await {
                Ok(Pass::More) => {
                    backoff.reset();
                    continue;
                }
                Ok(Pass::Done) => {
                    backoff.reset();
                    None
                }
                Ok(Pass::BusFailed) => Some(backoff.next_pause()),
                Err(err) => {
                    // The leases may be gone with the connection: all are handed back, and
                    // leased again after a pause, not in a loop against a failing store.
                    tracing::warn!(error = %err, "the relay's store access failed; handing its partitions back");
                    leases = None;
                    store_failing = true;
                    next_lease_attempt = Instant::now() + self.config.lease_retry;
                    continue;
                }
            };
            // While partitions are missing, wake for the next attempt to lease them too.
            let all_held = leases
                .as_ref()
                .is_some_and(|set| set.held().len() == usize::from(OUTBOX_PARTITIONS));
            let poll = Instant::now() + self.config.poll_interval;
            let until = if all_held {
                poll
            } else {
                poll.min(next_lease_attempt)
            };
            match pause {
                // Only time ends a pause after a failure: new commits do not make the bus work.
                Some(pause) => {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
                None => {
                    let woken = async { wake.wait_for(|commits| *commits != seen).await.is_ok() };
                    tokio::select! {
                        woken = woken => {
                            if woken {
                                tokio::time::sleep(self.config.linger).await;
                            } else {
                                // No more wake-ups (the store is closing): poll.
                                tokio::time::sleep_until(until).await;
                            }
                        }
                        () = tokio::time::sleep_until(until) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        drop(leases);
        tracing::info!("relay stopped; its partitions are handed back");
    }

    /// Leases the partitions no relay holds, starting a lease set when there is none.
    async fn lease_more(
        &self,
        leases: &mut Option<Box<dyn OutboxLeases>>,
    ) -> Result<(), StoreError> {
        let set = match leases {
            Some(set) => set,
            None => leases.insert(self.outbox.leases().await?),
        };
        let held = set.held();
        let free: Vec<u16> = (0..OUTBOX_PARTITIONS)
            .filter(|p| !held.contains(p))
            .collect();
        if free.is_empty() {
            return Ok(());
        }
        let taken = set.try_lease(&free).await?;
        if !taken.is_empty() {
            tracing::debug!(partitions = ?taken, "leased outbox partitions");
        }
        Ok(())
    }
}
