//! The outbox and the event log on SQLite, where one process owns the file: a lease is an
//! in-process lock of the partition, and the single writer connection serialises the marking
//! transactions.

use super::{
    partition_column, positions_ending_at, LoggedRow, NoSuchPartition, NotMarkable, PendingRow,
    BACKLOG, BUMP_HEAD, HEAD, PENDING, PRUNE_BATCH,
};
use crate::error::backend;
use crate::event_log::WakeupSenders;
use crate::sqlite::SqliteStore;
use crate::time::{self, DbTime};
use async_trait::async_trait;
use bookstore_core::outbox::{
    Backlog, EventLog, LoggedEvent, Outbox, OutboxLease, PendingEvent, OUTBOX_PARTITIONS,
};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const MARK: &str = "UPDATE outbox SET published_at = $1, position = $2 \
    WHERE id = $3 AND partition = $4 AND published_at IS NULL";
const READ_AFTER: &str = "SELECT position, id, aggregate_id, event_type, payload, created_at, \
    published_at FROM outbox WHERE position > $1 \
    AND ($3 = '[]' OR event_type IN (SELECT value FROM json_each($3))) \
    ORDER BY position LIMIT $2";
const PRUNE: &str = "DELETE FROM outbox WHERE seq IN \
    (SELECT seq FROM outbox WHERE published_at < $1 LIMIT $2)";

/// Which partitions are leased in this process.
#[derive(Default)]
pub(crate) struct SqliteLeases {
    held: Mutex<[bool; OUTBOX_PARTITIONS as usize]>,
}

impl SqliteLeases {
    fn take(&self, partition: u16) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        match held.get_mut(usize::from(partition)) {
            Some(slot) if !*slot => {
                *slot = true;
                true
            }
            _ => false,
        }
    }

    fn release(&self, partition: u16) {
        if let Ok(mut held) = self.held.lock() {
            if let Some(slot) = held.get_mut(usize::from(partition)) {
                *slot = false;
            }
        }
    }
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn lease(&self, partition: u16) -> Result<Option<Box<dyn OutboxLease>>, StoreError> {
        let column = partition_column(partition)
            .ok_or_else(|| StoreError::backend(NoSuchPartition(partition)))?;
        if !self.leases.take(partition) {
            return Ok(None);
        }
        Ok(Some(Box::new(SqliteLease {
            partition,
            column,
            leases: self.leases.clone(),
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            wakeups: self.wakeups.clone(),
        })))
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let (unpublished, oldest): (i64, Option<DbTime>) = sqlx::query_as(BACKLOG)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(Backlog {
            unpublished,
            oldest: oldest.map(|t| t.0),
        })
    }

    async fn prune_published(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE)
            .bind(DbTime(before))
            .bind(PRUNE_BATCH)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

struct SqliteLease {
    partition: u16,
    column: i16,
    leases: Arc<SqliteLeases>,
    writer: SqlitePool,
    reader: SqlitePool,
    wakeups: Arc<WakeupSenders>,
}

impl Drop for SqliteLease {
    fn drop(&mut self) {
        self.leases.release(self.partition);
    }
}

#[async_trait]
impl OutboxLease for SqliteLease {
    fn partition(&self) -> u16 {
        self.partition
    }

    async fn pending(&mut self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        // A reader (WAL) sees every commit made before the query began, marks included,
        // and does not queue behind the writes.
        let rows: Vec<PendingRow> = sqlx::query_as(PENDING)
            .bind(self.column)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(PendingEvent::from).collect())
    }

    async fn mark_published(&mut self, ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let head: i64 = sqlx::query_scalar(BUMP_HEAD)
            .bind(n)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let positions = positions_ending_at(head, ids.len());
        let now = DbTime(time::now());
        let mut marked = 0;
        for (id, position) in ids.iter().zip(&positions) {
            marked += sqlx::query(MARK)
                .bind(now)
                .bind(position)
                .bind(id)
                .bind(self.column)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        if marked != ids.len() as u64 {
            // Rolled back now, not when the connection is next used: the head's row lock
            // must not wait that long.
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::backend(NotMarkable {
                partition: self.partition,
                wanted: ids.len(),
                found: marked,
            }));
        }
        tx.commit().await.map_err(backend)?;
        self.wakeups.head_reached(head);
        Ok(positions)
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn read_after(
        &self,
        after: i64,
        limit: u32,
        types: &[String],
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let types = serde_json::Value::from(types.to_vec()).to_string();
        let rows: Vec<LoggedRow> = sqlx::query_as(READ_AFTER)
            .bind(after)
            .bind(i64::from(limit))
            .bind(types)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.into_iter().map(LoggedEvent::try_from).collect()
    }

    async fn head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(HEAD)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
    }
}
