//! The event pipeline of `bookstore serve` (ARCHITECTURE.md, "Roles", "Events"): the signal
//! that tells readers of the event log that it grew (in every role), and, in the `relay`
//! role, the relay and the retention janitor.

use crate::config::{Role, Settings};
use anyhow::Context;
use bookstore_events::{EventBus, InProcessBus, LogSignal, Relay, RelayConfig, RelayHandle};
use bookstore_store::{Retention, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The first sweep waits this long after start: a restart loop should not sweep each time.
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(30);

pub struct Pipeline {
    /// The event log's growth, as this process knows it: what its relay published and, on
    /// PostgreSQL, what every replica's relays announced.
    pub signal: LogSignal,
    relay: Option<RelayHandle>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts what the configured roles run: the relay publishes to `bus` when given, else
    /// to the in-process bus, and the log's growth is announced to `signal` (the one the live
    /// event streams wait on).
    pub async fn start(
        settings: &Settings,
        store: &Store,
        bus: Option<Arc<dyn EventBus>>,
        signal: LogSignal,
    ) -> anyhow::Result<Self> {
        let head = store
            .event_log()
            .head()
            .await
            .context("reading the event log's head")?;
        signal.announce(head);
        let wakeups = store.wakeups();
        let mut tasks = vec![tokio::spawn(announce_heads(wakeups.head, signal.clone()))];
        let roles = &settings.roles.roles;
        let relay = if roles.has(Role::Relay) {
            let bus: Arc<dyn EventBus> = match bus {
                Some(bus) => bus,
                None => Arc::new(InProcessBus),
            };
            let config = RelayConfig {
                poll_interval: settings.roles.relay_poll_interval,
                ..RelayConfig::default()
            };
            tasks.push(tokio::spawn(janitor(
                store.clone(),
                settings.roles.outbox_retention,
                settings.roles.audit_retention,
                settings.roles.janitor_interval,
            )));
            Some(Relay::new(store.outbox(), bus, signal.clone(), wakeups.outbox, config).spawn())
        } else {
            None
        };
        tracing::info!(roles = %roles, "roles");
        Ok(Self {
            signal,
            relay,
            tasks,
        })
    }

    /// Stops the relay (which hands its partitions back) and the other tasks.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        tracing::info!(head = self.signal.head(), "event pipeline stopped");
    }
}

/// Passes the heads the store hears of (other replicas' relays on PostgreSQL) to the signal.
async fn announce_heads(mut heads: tokio::sync::watch::Receiver<i64>, signal: LogSignal) {
    loop {
        let head = *heads.borrow_and_update();
        signal.announce(head);
        if heads.changed().await.is_err() {
            return;
        }
    }
}

/// Sweeps every `interval`: one replica at a time does (the store makes sure).
async fn janitor(store: Store, outbox: Duration, audit: Duration, interval: Duration) {
    let retention = match (
        chrono::Duration::from_std(outbox),
        chrono::Duration::from_std(audit),
    ) {
        (Ok(outbox), Ok(audit)) => Retention { outbox, audit },
        _ => {
            tracing::error!("a retention is too long; the janitor is off");
            return;
        }
    };
    tokio::time::sleep(FIRST_SWEEP_AFTER.min(interval)).await;
    loop {
        match store.sweep(retention, chrono::Utc::now()).await {
            Ok(Some(report)) if report.total() > 0 => tracing::info!(
                outbox_events = report.outbox_events,
                idempotency_keys = report.idempotency_keys,
                refresh_tokens = report.refresh_tokens,
                trusted_devices = report.trusted_devices,
                login_failures = report.login_failures,
                audit_entries = report.audit_entries,
                webhook_deliveries = report.webhook_deliveries,
                "janitor pruned what is past its retention"
            ),
            Ok(Some(_)) => tracing::debug!("janitor found nothing to prune"),
            Ok(None) => tracing::debug!("another replica's janitor is sweeping"),
            Err(err) => tracing::warn!(error = %err, "the janitor's sweep failed; retrying later"),
        }
        tokio::time::sleep(interval).await;
    }
}
