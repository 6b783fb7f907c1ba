//! The outbox and the event log on SQLite, where one process owns the file: a lease is an
//! in-process lock of the partition, and the single writer connection serialises the marking
//! transactions.

use super::{
    partition_columns, positions_ending_at, LoggedRow, NotMarkable, PendingRow, BACKLOG, BUMP_HEAD,
    HEAD, PRUNED_THROUGH, PRUNE_BATCH,
};
use crate::error::backend;
use crate::event_log::WakeupSenders;
use crate::sqlite::SqliteStore;
use crate::time::{self, DbTime};
use async_trait::async_trait;
use bookstore_core::outbox::{
    Backlog, EventLog, LoggedEvent, Outbox, OutboxLeases, PendingEvent, OUTBOX_PARTITIONS,
};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// `$1` is the held partitions as a JSON array.
const PENDING: &str = "SELECT seq, id, aggregate_id, event_type, payload, created_at \
    FROM outbox WHERE published_at IS NULL \
    AND partition IN (SELECT value FROM json_each($1)) ORDER BY seq LIMIT $2";
const MARK: &str = "UPDATE outbox SET published_at = $1, position = $2 \
    WHERE id = $3 AND published_at IS NULL AND partition IN (SELECT value FROM json_each($4))";
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
    async fn leases(&self) -> Result<Box<dyn OutboxLeases>, StoreError> {
        Ok(Box::new(SqliteLeaseSet {
            held: Vec::new(),
            leases: self.leases.clone(),
            writer: self.writer.clone(),
            reader: self.reader.clone(),
            wakeups: self.wakeups.clone(),
        }))
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

struct SqliteLeaseSet {
    /// Ascending.
    held: Vec<u16>,
    leases: Arc<SqliteLeases>,
    writer: SqlitePool,
    reader: SqlitePool,
    wakeups: Arc<WakeupSenders>,
}

impl SqliteLeaseSet {
    fn held_json(&self) -> String {
        serde_json::Value::from(self.held.clone()).to_string()
    }
}

impl Drop for SqliteLeaseSet {
    fn drop(&mut self) {
        for &partition in &self.held {
            self.leases.release(partition);
        }
    }
}

#[async_trait]
impl OutboxLeases for SqliteLeaseSet {
    fn held(&self) -> Vec<u16> {
        self.held.clone()
    }

    async fn try_lease(&mut self, partitions: &[u16]) -> Result<Vec<u16>, StoreError> {
        partition_columns(partitions)?;
        let mut taken = Vec::new();
        for &partition in partitions {
            if !self.held.contains(&partition) && self.leases.take(partition) {
                taken.push(partition);
            }
        }
        self.held.extend(&taken);
        self.held.sort_unstable();
        Ok(taken)
    }

    async fn pending(&mut self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        if self.held.is_empty() {
            return Ok(Vec::new());
        }
        // A reader (WAL) sees every commit made before the query began, marks included,
        // and does not queue behind the writes.
        let rows: Vec<PendingRow> = sqlx::query_as(PENDING)
            .bind(self.held_json())
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
        let held = self.held_json();
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let mut tx = crate::meter::acquired(
            crate::meter::WRITES,
            self.writer.begin_with("BEGIN IMMEDIATE"),
        )
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
                .bind(&held)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        if marked != ids.len() as u64 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::backend(NotMarkable {
                held: self.held.clone(),
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

    async fn pruned_through(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(PRUNED_THROUGH)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
    }
}
