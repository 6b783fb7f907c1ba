//! The ports of the event pipeline: the outbox that relays drain, and the event log that
//! consumers (the live stream, `events tail`, webhooks) read.
//!
//! Every write commits its change, its history row and an outbox row in one transaction. A
//! relay publishes those rows to the bus and then marks them published, which gives each the
//! next **position** of the store's event log. Positions only grow, in publish order, and are
//! visible in that order: a reader of "events after position N" never skips one that commits
//! late (unlike the outbox's own insertion order, which is not commit order).
//!
//! Relays share the outbox by **partition**: an event's partition follows from its aggregate
//! (the book), so all events of one book are in one partition, and one relay at a time holds
//! the lease of a partition. That keeps per-book order with any number of relays.

use crate::error::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// How many partitions the outbox is split into: the most relays that can publish at once.
pub const OUTBOX_PARTITIONS: u16 = 16;

/// The partition of an aggregate's events. UUIDv7 ids end in random bits, so the last byte
/// spreads books evenly.
pub fn partition_of(aggregate_id: Uuid) -> u16 {
    u16::from(aggregate_id.as_bytes()[15]) % OUTBOX_PARTITIONS
}

/// An event committed to the outbox and not yet published.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// The outbox's insertion order; within one aggregate it is commit order, because writes
    /// to one book are serialised by its row lock.
    pub seq: i64,
    pub id: Uuid,
    pub aggregate_id: Uuid,
    pub event_type: String,
    /// The CloudEvent, as JSON.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A published event in the store's event log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub position: i64,
    pub id: Uuid,
    pub aggregate_id: Uuid,
    pub event_type: String,
    /// The CloudEvent, as JSON.
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub published_at: DateTime<Utc>,
}

/// How far the relays are behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub unpublished: i64,
    pub oldest: Option<DateTime<Utc>>,
}

/// The outbox as the relays see it.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// A new set of leases for one relay, holding no partition yet.
    async fn leases(&self) -> Result<Box<dyn OutboxLeases>, StoreError>;

    async fn backlog(&self) -> Result<Backlog, StoreError>;

    /// Deletes a bounded batch of events published before `before`; returns how many.
    async fn prune_published(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// One relay's hold on partitions of the outbox. A relay drains every partition it holds
/// together (one read, one publication, one marking transaction per round), which is what
/// lets it keep up: per-partition rounds would each pay the round trips and the event log's
/// serialised marking. Dropping the set hands every partition back; so does the death of the
/// process that holds it.
#[async_trait]
pub trait OutboxLeases: Send {
    /// The partitions held, ascending.
    fn held(&self) -> Vec<u16>;

    /// Whether the set's connection was opened with database credentials that have since
    /// changed: the relay then hands its partitions back and leases them again on a new
    /// connection, so that the old credentials' sessions end.
    fn outdated(&self) -> bool {
        false
    }

    /// Leases each of `partitions` that no relay holds; returns the ones newly taken. A
    /// partition outside `0..OUTBOX_PARTITIONS` is an error.
    async fn try_lease(&mut self, partitions: &[u16]) -> Result<Vec<u16>, StoreError>;

    /// The oldest unpublished events of the held partitions, in `seq` order.
    async fn pending(&mut self, limit: u32) -> Result<Vec<PendingEvent>, StoreError>;

    /// Marks these events published, in this order, and gives each the next position of the
    /// event log; returns the positions. Fails, and marks nothing, if one of them is not an
    /// unpublished event of a held partition (the lease was lost, or another relay took it
    /// over and published it).
    async fn mark_published(&mut self, ids: &[Uuid]) -> Result<Vec<i64>, StoreError>;
}

/// The published events, by position.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Events after `after`, in position order, at most `limit`; only of `types` when some
    /// are given.
    async fn read_after(
        &self,
        after: i64,
        limit: u32,
        types: &[String],
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// The last position given (0 when nothing was published yet).
    async fn head(&self) -> Result<i64, StoreError>;

    /// The last position whose event may have been pruned (the outbox keeps published events
    /// for a retention period): a reader at a position below it has lost events and must
    /// start again from a snapshot. 0 when nothing was pruned; the default, for logs that
    /// never prune.
    async fn pruned_through(&self) -> Result<i64, StoreError> {
        Ok(0)
    }

    /// Whether [`EventLog::position_of_token`] can place consistency tokens in the log.
    fn places_tokens(&self) -> bool {
        false
    }

    /// Where a reader of the log finds every event of the writes that `token` covers (the
    /// writes committed before the token was handed out): `Some(head)` when none of their
    /// events is still unpublished, `None` while one is (or where the log cannot tell: the
    /// default, for stores that hand out no tokens).
    async fn position_of_token(
        &self,
        token: crate::consistency::ConsistencyToken,
    ) -> Result<Option<i64>, StoreError> {
        let _ = token;
        Ok(None)
    }
}

/// Tells a reader of the event log that it may have grown.
#[async_trait]
pub trait EventLogSignal: Send + Sync + 'static {
    /// Resolves once this process has seen the log grow past `position` (published here, or
    /// announced by another replica). A reader still polls now and then: a signal can be
    /// missed while its connection is being re-established.
    async fn grown_past(&self, position: i64);
}
