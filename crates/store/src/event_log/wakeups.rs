//! What wakes the pipeline: a relay when outbox rows were committed, a reader of the event log
//! when it grew. On PostgreSQL a listener hears both from every replica (`LISTEN`, the outbox
//! trigger of migration 0008 and `mark_published`'s `pg_notify`); on SQLite, where only this
//! process writes, the store signals them itself after each commit.

use super::HEAD;
use bookstore_core::outbox::OUTBOX_PARTITIONS;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::time::Duration;
use tokio::sync::watch;

/// Notified by the outbox's insert trigger with the partition of the row (folded per
/// transaction and partition).
pub(crate) const OUTBOX_CHANNEL: &str = "bookstore_outbox";
/// Notified with the new head by each marking transaction, at its commit.
pub(crate) const EVENT_LOG_CHANNEL: &str = "bookstore_event_log";

/// The pause before connecting the listener again after its connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The store's wake-ups. Each receiver sees the latest value, so a wake-up that comes while
/// its reader is busy is not lost; a reader still polls now and then, as one can be missed
/// while the listener reconnects (which is followed by a wake-up of both, though).
#[derive(Clone)]
pub struct Wakeups {
    /// A count per outbox partition, which changes when rows of the partition may have been
    /// committed.
    pub outbox: watch::Receiver<OutboxCommits>,
    /// The highest event-log position announced (by this process on SQLite, by any replica
    /// on PostgreSQL).
    pub head: watch::Receiver<i64>,
}

/// Per outbox partition, a count of the wake-ups.
pub type OutboxCommits = [u64; OUTBOX_PARTITIONS as usize];

/// The sending side, kept by the store.
pub(crate) struct WakeupSenders {
    outbox: watch::Sender<OutboxCommits>,
    head: watch::Sender<i64>,
}

impl Default for WakeupSenders {
    fn default() -> Self {
        Self {
            outbox: watch::Sender::new([0; OUTBOX_PARTITIONS as usize]),
            head: watch::Sender::new(0),
        }
    }
}

impl WakeupSenders {
    pub(crate) fn receivers(&self) -> Wakeups {
        Wakeups {
            outbox: self.outbox.subscribe(),
            head: self.head.subscribe(),
        }
    }

    /// Rows of `partition` (of any, when `None`) may have been committed.
    pub(crate) fn outbox_committed(&self, partition: Option<u16>) {
        self.outbox.send_modify(|counts| match partition {
            Some(p) => {
                if let Some(n) = counts.get_mut(usize::from(p)) {
                    *n = n.wrapping_add(1);
                }
            }
            None => {
                for n in counts.iter_mut() {
                    *n = n.wrapping_add(1);
                }
            }
        });
    }

    pub(crate) fn head_reached(&self, position: i64) {
        self.head.send_if_modified(|head| {
            let grew = position > *head;
            if grew {
                *head = position;
            }
            grew
        });
    }
}

/// Listens on both channels until aborted, reconnecting when the connection drops; after each
/// (re)connection wakes the relay and reads the head, for what was missed in between.
pub(crate) async fn listen_postgres(pool: PgPool, senders: std::sync::Arc<WakeupSenders>) {
    // A pool of its own: the listener holds its connection for good.
    let options = pool.connect_options();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*options).clone());
    let mut lost = false;
    loop {
        let mut listener = match PgListener::connect_with(&own).await {
            Ok(listener) => listener,
            Err(err) => {
                if !lost {
                    tracing::warn!(error = %err, "cannot listen for event notifications; retrying");
                    lost = true;
                }
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        listener.eager_reconnect(false);
        if let Err(err) = listener
            .listen_all([OUTBOX_CHANNEL, EVENT_LOG_CHANNEL])
            .await
        {
            tracing::warn!(error = %err, "cannot listen for event notifications; retrying");
            lost = true;
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        }
        if lost {
            tracing::info!("listening for event notifications again");
        }
        senders.outbox_committed(None);
        match sqlx::query_scalar::<_, i64>(HEAD).fetch_one(&pool).await {
            Ok(head) => senders.head_reached(head),
            Err(err) => tracing::warn!(error = %err, "cannot read the event log's head"),
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.channel() {
                    OUTBOX_CHANNEL => {
                        senders.outbox_committed(notification.payload().parse::<u16>().ok())
                    }
                    _ => match notification.payload().parse::<i64>() {
                        Ok(head) => senders.head_reached(head),
                        Err(_) => tracing::warn!(
                            payload = notification.payload(),
                            "an event-log notification without a position"
                        ),
                    },
                },
                Ok(None) => {
                    tracing::warn!(
                        "lost the connection that listens for event notifications; reconnecting"
                    );
                    lost = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "listening for event notifications failed; reconnecting");
                    lost = true;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    break;
                }
            }
        }
    }
}
