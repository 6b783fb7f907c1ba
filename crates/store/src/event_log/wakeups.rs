//! What wakes the pipeline: a relay when outbox rows were committed, a reader of the event log
//! when it grew. The store signals both in its own process after each commit. On PostgreSQL
//! a listener also hears them from the other replicas (`LISTEN`): each replica notifies its
//! outbox commits after they commit (`CommitNotifier`), and `mark_published` notifies the new
//! head at its commit.

use super::HEAD;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Notified after outbox rows were committed, with the notifying process's token.
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
    /// A count that changes when outbox rows may have been committed.
    pub outbox: watch::Receiver<OutboxCommits>,
    /// The highest event-log position announced (by this process on SQLite, by any replica
    /// on PostgreSQL).
    pub head: watch::Receiver<i64>,
}

/// A count of the outbox wake-ups.
pub type OutboxCommits = u64;

/// The sending side, kept by the store.
pub(crate) struct WakeupSenders {
    outbox: watch::Sender<OutboxCommits>,
    head: watch::Sender<i64>,
    /// Tells this process's own outbox notifications from the other replicas' (PostgreSQL).
    token: String,
}

impl Default for WakeupSenders {
    fn default() -> Self {
        Self {
            outbox: watch::Sender::new(0),
            head: watch::Sender::new(0),
            token: uuid::Uuid::now_v7().simple().to_string(),
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

    /// What this process's outbox notifications carry, so that its listener can skip them.
    pub(crate) fn token(&self) -> String {
        self.token.clone()
    }

    /// Outbox rows may have been committed.
    pub(crate) fn outbox_committed(&self) {
        self.outbox.send_modify(|n| *n = n.wrapping_add(1));
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
/// How often the listener looks whether the credentials changed.
const ROTATION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) async fn listen_postgres(
    pool: PgPool,
    senders: std::sync::Arc<WakeupSenders>,
    rotation: std::sync::Arc<crate::postgres::Rotation>,
) {
    let mut lost = false;
    loop {
        let generation = rotation.generation();
        // A pool of its own: the listener holds its connection for good. Made anew for each
        // connection, with the credentials of the moment (they may have been rotated).
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
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
        senders.outbox_committed();
        match sqlx::query_scalar::<_, i64>(HEAD).fetch_one(&pool).await {
            Ok(head) => senders.head_reached(head),
            Err(err) => tracing::warn!(error = %err, "cannot read the event log's head"),
        }
        // Checked at each notification and every little while without one: a connection
        // opened with credentials that have since changed is replaced (notifications sent
        // meanwhile are made up for by the catch-up after each connect).
        let mut check = tokio::time::interval(ROTATION_CHECK);
        loop {
            if rotation.generation() != generation {
                tracing::info!("database credentials changed: listening on a new connection");
                break;
            }
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = check.tick() => continue,
            };
            match received {
                Ok(Some(notification)) => match notification.channel() {
                    // This process's own commits woke its relay already.
                    OUTBOX_CHANNEL if notification.payload() == senders.token => {}
                    OUTBOX_CHANNEL => senders.outbox_committed(),
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

/// Tells the other replicas' relays that this process committed outbox rows, after the
/// commit and off the request's path: a `NOTIFY` inside the write transaction would take
/// PostgreSQL's notification lock at every commit, which serialises the commits of all
/// notifying transactions (their WAL flushes included). Commits made while a notification is
/// on its way are told by the next one, so there is at most one in flight per process. One
/// lost with a crash is made up by the relays' poll.
pub(crate) struct CommitNotifier {
    commits: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl CommitNotifier {
    pub(crate) fn start(pool: PgPool, token: String) -> Self {
        let commits = watch::Sender::new(0);
        let task = tokio::spawn(notify_commits(pool, commits.subscribe(), token));
        Self { commits, task }
    }

    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Drop for CommitNotifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn notify_commits(pool: PgPool, mut commits: watch::Receiver<u64>, token: String) {
    let mut failing = false;
    while commits.changed().await.is_ok() {
        commits.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(OUTBOX_CHANNEL)
            .bind(&token)
            .execute(&pool)
            .await;
        match sent {
            Ok(_) if failing => {
                tracing::info!("notifying outbox commits again");
                failing = false;
            }
            Ok(_) => {}
            Err(err) if !failing => {
                tracing::warn!(error = %err, "cannot notify outbox commits; other replicas' relays will poll");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
