//! The store side of the event pipeline (`bookstore_core::outbox`): the event log that
//! consumers read by position, the outbox that relays drain by partition, and the wake-ups
//! that tell a relay that rows were committed and a reader that the log grew.
//!
//! Positions are given by `mark_published`, which bumps `event_log_head` in the same
//! transaction as it marks the rows: the head row's lock serialises the marking transactions,
//! so a transaction that gives later positions commits after the one that gave earlier ones,
//! and a reader of "after position N" never skips an event that becomes visible later.

mod pg;
mod sqlite;
mod wakeups;

pub(crate) use sqlite::SqliteLeases;
pub(crate) use wakeups::{listen_postgres, CommitNotifier, WakeupSenders};
pub use wakeups::{OutboxCommits, Wakeups};

use crate::error::corrupt;
use crate::time::DbTime;
use bookstore_core::outbox::{LoggedEvent, PendingEvent, OUTBOX_PARTITIONS};
use bookstore_core::StoreError;
use sqlx::types::Json;
use thiserror::Error;
use uuid::Uuid;

/// How many rows a prune deletes at a time: short transactions, however large the backlog.
pub(crate) const PRUNE_BATCH: i64 = 1000;

pub(crate) const HEAD: &str = "SELECT position FROM event_log_head WHERE id = 1";
/// Every position before the first the outbox still holds was pruned; when it holds none,
/// every position up to the head may have been.
pub(crate) const PRUNED_THROUGH: &str = "SELECT COALESCE( \
    (SELECT min(position) FROM outbox WHERE position IS NOT NULL) - 1, \
    (SELECT position FROM event_log_head WHERE id = 1), 0)";
pub(crate) const BUMP_HEAD: &str =
    "UPDATE event_log_head SET position = position + $1 WHERE id = 1 RETURNING position";
pub(crate) const BACKLOG: &str =
    "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL";

/// The partition as the column holds it; `None` for one that does not exist.
pub(crate) fn partition_column(partition: u16) -> Option<i16> {
    (partition < OUTBOX_PARTITIONS)
        .then(|| i16::try_from(partition).ok())
        .flatten()
}

/// Marking failed and marked nothing: some of the events are not unpublished events of the
/// held partitions (published already, by a relay whose lease this one took over, or never
/// there).
#[derive(Debug, Error)]
#[error("{wanted} events to mark published in partitions {held:?}, but only {found} are unpublished there")]
pub(crate) struct NotMarkable {
    pub(crate) held: Vec<u16>,
    pub(crate) wanted: usize,
    pub(crate) found: u64,
}

/// The partitions as the column holds them, or the first that does not exist.
pub(crate) fn partition_columns(partitions: &[u16]) -> Result<Vec<i16>, StoreError> {
    partitions
        .iter()
        .map(|&p| partition_column(p).ok_or_else(|| StoreError::backend(NoSuchPartition(p))))
        .collect()
}

/// A partition outside `0..OUTBOX_PARTITIONS`.
#[derive(Debug, Error)]
#[error("there is no outbox partition {0}")]
pub(crate) struct NoSuchPartition(pub(crate) u16);

#[derive(sqlx::FromRow)]
pub(crate) struct PendingRow {
    seq: i64,
    id: Uuid,
    aggregate_id: Uuid,
    event_type: String,
    payload: Json<serde_json::Value>,
    created_at: DbTime,
}

impl From<PendingRow> for PendingEvent {
    fn from(row: PendingRow) -> Self {
        PendingEvent {
            seq: row.seq,
            id: row.id,
            aggregate_id: row.aggregate_id,
            event_type: row.event_type,
            payload: row.payload.0,
            created_at: row.created_at.0,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LoggedRow {
    position: i64,
    id: Uuid,
    aggregate_id: Uuid,
    event_type: String,
    payload: Json<serde_json::Value>,
    created_at: DbTime,
    published_at: Option<DbTime>,
}

impl TryFrom<LoggedRow> for LoggedEvent {
    type Error = StoreError;

    fn try_from(row: LoggedRow) -> Result<Self, StoreError> {
        let published_at = row.published_at.ok_or_else(|| {
            corrupt(
                "event log entry",
                format_args!("event {} has a position but no publication time", row.id),
            )
        })?;
        Ok(LoggedEvent {
            position: row.position,
            id: row.id,
            aggregate_id: row.aggregate_id,
            event_type: row.event_type,
            payload: row.payload.0,
            created_at: row.created_at.0,
            published_at: published_at.0,
        })
    }
}

/// The positions given to `n` events when the head moved to `head`, in order.
pub(crate) fn positions_ending_at(head: i64, n: usize) -> Vec<i64> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    ((head - n + 1)..=head).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_run_up_to_the_new_head() {
        assert_eq!(positions_ending_at(7, 3), vec![5, 6, 7]);
        assert_eq!(positions_ending_at(1, 1), vec![1]);
        assert!(positions_ending_at(4, 0).is_empty());
    }

    #[test]
    fn partitions_exist_below_the_count() {
        assert_eq!(partition_column(0), Some(0));
        assert_eq!(partition_column(15), Some(15));
        assert_eq!(partition_column(16), None);
    }
}
