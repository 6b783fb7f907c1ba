//! The outbox and the event log on PostgreSQL. A lease is a session advisory lock on a
//! connection of its own, which the lease owns: a relay that dies (or whose connection is
//! cut) loses its leases with its session, and whatever the lease does runs on that session,
//! so a lease that was lost cannot mark anything.

use super::{
    partition_column, positions_ending_at, LoggedRow, NoSuchPartition, NotMarkable, PendingRow,
    BACKLOG, BUMP_HEAD, HEAD, PENDING, PRUNE_BATCH,
};
use crate::error::backend;
use crate::postgres::PgStore;
use crate::time::{self, DbTime};
use async_trait::async_trait;
use bookstore_core::outbox::{Backlog, EventLog, LoggedEvent, Outbox, OutboxLease, PendingEvent};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use std::sync::Mutex;
use uuid::Uuid;

/// The first key of the leases' advisory locks (the second is the partition): a constant of
/// this application, "bkrl".
const LEASE_LOCK_CLASS: i32 = 0x626b_726c;

const TRY_LEASE: &str = "SELECT pg_try_advisory_lock($1, $2)";
const MARK: &str = "UPDATE outbox o SET published_at = $1, position = v.position \
    FROM unnest($2::uuid[], $3::bigint[]) AS v(id, position) \
    WHERE o.id = v.id AND o.partition = $4 AND o.published_at IS NULL";
const ANNOUNCE: &str = "SELECT pg_notify('bookstore_event_log', $1)";
const READ_AFTER: &str = "SELECT position, id, aggregate_id, event_type, payload, created_at, \
    published_at FROM outbox WHERE position > $1 \
    AND (cardinality($3::text[]) = 0 OR event_type = ANY($3)) ORDER BY position LIMIT $2";
/// Skips rows a concurrent prune holds: no waiting, no deadlock.
const PRUNE: &str = "DELETE FROM outbox WHERE ctid = ANY (ARRAY(SELECT ctid FROM outbox \
    WHERE published_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// What the PostgreSQL store keeps for its leases.
#[derive(Default)]
pub(crate) struct PgLeases {
    /// A connection whose lease attempt failed, for the next attempt: a relay retries the
    /// partitions other relays hold every few seconds.
    spare: Mutex<Option<PgConnection>>,
}

impl PgStore {
    /// A connection for a lease: the spare one if there is one (then `true`), else a new one.
    async fn lease_connection(&self) -> Result<(PgConnection, bool), StoreError> {
        let spare = self
            .leases
            .spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.take());
        match spare {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.new_lease_connection().await?, false)),
        }
    }

    async fn new_lease_connection(&self) -> Result<PgConnection, StoreError> {
        PgConnection::connect_with(&self.writer.connect_options())
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn lease(&self, partition: u16) -> Result<Option<Box<dyn OutboxLease>>, StoreError> {
        let column = partition_column(partition)
            .ok_or_else(|| StoreError::backend(NoSuchPartition(partition)))?;
        let (mut conn, spare) = self.lease_connection().await?;
        let attempt = sqlx::query_scalar(TRY_LEASE)
            .bind(LEASE_LOCK_CLASS)
            .bind(i32::from(column))
            .fetch_one(&mut conn)
            .await;
        let taken: bool = match attempt {
            Ok(taken) => taken,
            // The spare connection may have been cut while it waited: once more, on a new one.
            Err(_) if spare => {
                conn = self.new_lease_connection().await?;
                sqlx::query_scalar(TRY_LEASE)
                    .bind(LEASE_LOCK_CLASS)
                    .bind(i32::from(column))
                    .fetch_one(&mut conn)
                    .await
                    .map_err(backend)?
            }
            Err(err) => return Err(backend(err)),
        };
        if !taken {
            if let Ok(mut spare) = self.leases.spare.lock() {
                *spare = Some(conn);
            }
            return Ok(None);
        }
        Ok(Some(Box::new(PgLease {
            partition,
            column,
            conn,
        })))
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let (unpublished, oldest): (i64, Option<DbTime>) = sqlx::query_as(BACKLOG)
            .fetch_one(&self.writer)
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

/// A partition's lease: the advisory lock held by `conn`'s session. Dropping it closes the
/// connection, which ends the session and so releases the lock.
struct PgLease {
    partition: u16,
    column: i16,
    conn: PgConnection,
}

#[async_trait]
impl OutboxLease for PgLease {
    fn partition(&self) -> u16 {
        self.partition
    }

    async fn pending(&mut self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        let rows: Vec<PendingRow> = sqlx::query_as(PENDING)
            .bind(self.column)
            .bind(i64::from(limit))
            .fetch_all(&mut self.conn)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(PendingEvent::from).collect())
    }

    async fn mark_published(&mut self, ids: &[Uuid]) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let mut tx = self.conn.begin().await.map_err(backend)?;
        // The head's row lock is held to the commit: the next marking transaction (of any
        // relay) waits here, so positions become visible in the order they are given.
        let head: i64 = sqlx::query_scalar(BUMP_HEAD)
            .bind(n)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let positions = positions_ending_at(head, ids.len());
        let marked = sqlx::query(MARK)
            .bind(DbTime(time::now()))
            .bind(ids)
            .bind(&positions)
            .bind(self.column)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
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
        sqlx::query(ANNOUNCE)
            .bind(head.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(positions)
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn read_after(
        &self,
        after: i64,
        limit: u32,
        types: &[String],
    ) -> Result<Vec<LoggedEvent>, StoreError> {
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
