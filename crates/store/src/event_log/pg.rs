//! The outbox and the event log on PostgreSQL. A relay's leases are session advisory locks,
//! one per partition, all on one connection that the lease set owns: a relay that dies (or
//! whose connection is cut) loses its leases with its session, and whatever the set does runs
//! on that session, so leases that were lost cannot mark anything.

use super::{
    partition_columns, positions_ending_at, LoggedRow, NotMarkable, PendingRow, BACKLOG, BUMP_HEAD,
    HEAD, PRUNED_THROUGH, PRUNE_BATCH,
};
use crate::error::backend;
use crate::postgres::PgStore;
use crate::time::{self, DbTime};
use async_trait::async_trait;
use bookstore_core::consistency::ConsistencyToken;
use bookstore_core::outbox::{Backlog, EventLog, LoggedEvent, Outbox, OutboxLeases, PendingEvent};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The first key of the leases' advisory locks (the second is the partition): a constant of
/// this application, "bkrl".
const LEASE_LOCK_CLASS: i32 = 0x626b_726c;

/// The partitions of `$2` whose lock this session took (a lock it holds already is taken
/// again, which the caller avoids: session locks stack).
const TRY_LEASE: &str =
    "SELECT p::smallint FROM unnest($2::int[]) AS p WHERE pg_try_advisory_lock($1, p)";
const PENDING: &str = "SELECT seq, id, aggregate_id, event_type, payload, created_at \
    FROM outbox WHERE published_at IS NULL AND partition = ANY($1) ORDER BY seq LIMIT $2";
const MARK: &str = "UPDATE outbox o SET published_at = $1, position = v.position \
    FROM unnest($2::uuid[], $3::bigint[]) AS v(id, position) \
    WHERE o.id = v.id AND o.partition = ANY($4) AND o.published_at IS NULL";
/// The head, when no event written before the token (`$1`, a WAL position) is unpublished.
/// One statement, so one snapshot: an event seen published there has its position at or
/// below the head seen with it (both are set by one marking transaction).
const POSITION_OF_TOKEN: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM outbox \
    WHERE published_at IS NULL AND (insert_lsn IS NULL OR insert_lsn <= $1::text::pg_lsn)) \
    THEN NULL ELSE (SELECT position FROM event_log_head WHERE id = 1) END";
const ANNOUNCE: &str = "SELECT pg_notify('bookstore_event_log', $1)";
const READ_AFTER: &str = "SELECT position, id, aggregate_id, event_type, payload, created_at, \
    published_at FROM outbox WHERE position > $1 \
    AND (cardinality($3::text[]) = 0 OR event_type = ANY($3)) ORDER BY position LIMIT $2";
/// Skips rows a concurrent prune holds: no waiting, no deadlock.
const PRUNE: &str = "DELETE FROM outbox WHERE ctid = ANY (ARRAY(SELECT ctid FROM outbox \
    WHERE published_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))";

#[async_trait]
impl Outbox for PgStore {
    async fn leases(&self) -> Result<Box<dyn OutboxLeases>, StoreError> {
        let conn = PgConnection::connect_with(&self.writer.connect_options())
            .await
            .map_err(backend)?;
        Ok(Box::new(PgLeaseSet {
            conn,
            held: Vec::new(),
            rotation: self.rotation.clone(),
            generation: self.rotation.generation(),
        }))
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

/// A relay's leases: the advisory locks held by `conn`'s session. Dropping the set closes the
/// connection, which ends the session and so releases the locks.
struct PgLeaseSet {
    conn: PgConnection,
    /// Ascending.
    held: Vec<u16>,
    rotation: std::sync::Arc<crate::postgres::Rotation>,
    /// The credentials' generation `conn` was opened with.
    generation: u64,
}

impl PgLeaseSet {
    fn held_columns(&self) -> Result<Vec<i16>, StoreError> {
        partition_columns(&self.held)
    }
}

#[async_trait]
impl OutboxLeases for PgLeaseSet {
    fn held(&self) -> Vec<u16> {
        self.held.clone()
    }

    fn outdated(&self) -> bool {
        self.rotation.generation() != self.generation
    }

    async fn try_lease(&mut self, partitions: &[u16]) -> Result<Vec<u16>, StoreError> {
        let wanted: Vec<i32> = partition_columns(partitions)?
            .into_iter()
            .zip(partitions)
            .filter(|(_, p)| !self.held.contains(p))
            .map(|(column, _)| i32::from(column))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let taken: Vec<i16> = sqlx::query_scalar(TRY_LEASE)
            .bind(LEASE_LOCK_CLASS)
            .bind(&wanted)
            .fetch_all(&mut self.conn)
            .await
            .map_err(backend)?;
        let taken: Vec<u16> = taken
            .into_iter()
            .filter_map(|column| u16::try_from(column).ok())
            .collect();
        self.held.extend(&taken);
        self.held.sort_unstable();
        self.held.dedup();
        Ok(taken)
    }

    async fn pending(&mut self, limit: u32) -> Result<Vec<PendingEvent>, StoreError> {
        if self.held.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<PendingRow> = sqlx::query_as(PENDING)
            .bind(self.held_columns()?)
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
        let columns = self.held_columns()?;
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
            .bind(&columns)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if marked != ids.len() as u64 {
            // Rolled back now, not when the connection is next used: the head's row lock
            // must not wait that long.
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::backend(NotMarkable {
                held: self.held.clone(),
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

    fn places_tokens(&self) -> bool {
        true
    }

    async fn position_of_token(&self, token: ConsistencyToken) -> Result<Option<i64>, StoreError> {
        // The primary: the write is there (a replica may not have replayed it yet).
        let head: Option<i64> = sqlx::query_scalar(POSITION_OF_TOKEN)
            .bind(token.to_string())
            .fetch_one(&self.writer)
            .await
            .map_err(backend)?;
        Ok(head)
    }

    async fn pruned_through(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(PRUNED_THROUGH)
            .fetch_one(&self.reader)
            .await
            .map_err(backend)
    }
}
