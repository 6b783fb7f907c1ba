//! Reads routed between the PostgreSQL primary and its streaming replicas
//! (`DATABASE_READ_URL`).
//!
//! - A read made inside a request's [`ReadScope::Replica`] goes to a replica that is in
//!   rotation: reachable, and not further behind the primary than the lag bound. With a
//!   consistency token, only to one that has replayed the token's log position; if none has,
//!   the read waits for one a short while ([`TOKEN_WAIT`]), then goes to the primary.
//! - Every other read (writes' requests, background work, anything outside a scope) goes to
//!   the primary. So does every statement of a transaction: those never pass through here.
//! - A read that fails on a replica because of the replica (connection lost, server down,
//!   a recovery conflict) is run again on the primary, and the replica leaves the rotation
//!   until the next poll finds it well: a replica going down costs no request.
//!
//! A background task polls every [`POLL_INTERVAL`] the primary's log position and each
//! replica's replay position. The lag of a replica is time-based: it is in rotation while it
//! has replayed what the primary had written `max_lag` ago (by the poller's samples), which
//! holds on an idle primary too (replay timestamps would grow old there).

mod poller;

use crate::pg_read_pool::{connection_lost, ReadPool};
use bookstore_core::consistency::{ConsistencyToken, ReadScope, ScopedFuture};
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use poller::Poller;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgQueryResult, PgRow, PgStatement, PgTypeInfo,
    Postgres,
};
use sqlx::{Connection, Describe, Either, Execute, Executor};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// How often the poller reads the log positions (sooner when a read waits for a replica).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The longest a read with a token waits for a replica to replay it before it reads from
/// the primary.
pub(crate) const TOKEN_WAIT: Duration = Duration::from_millis(50);
/// A poll that takes longer than this finds the server unreachable.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

const PRIMARY_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";
/// NULL on a server that is not in recovery (a promoted replica): not a replica any more.
const REPLAY_LSN: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";

tokio::task_local! {
    static SCOPE: RequestScope;
}

/// The routing of one request: its scope, and the replica its first read went to (later
/// reads stay there, so that one request never sees a replica's state and then an older
/// one's).
struct RequestScope {
    scope: ReadScope,
    pinned: AtomicUsize,
}

const NOT_PINNED: usize = usize::MAX;

/// What a replica looks like to the router, as of the last poll.
#[derive(Debug)]
struct Replica {
    pool: ReadPool,
    options: PgConnectOptions,
    /// Replay position, as a byte offset in the log.
    replay: AtomicU64,
    reachable: AtomicBool,
    in_rotation: AtomicBool,
}

/// One replica's state for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Its place in `DATABASE_READ_URL`, from 1.
    pub number: usize,
    pub reachable: bool,
    pub in_rotation: bool,
}

#[derive(Debug)]
struct Shared {
    primary: ReadPool,
    /// Replaced when the credentials rotate.
    primary_options: std::sync::RwLock<PgConnectOptions>,
    /// Counts those replacements: the poller's own connection is opened again after one.
    options_generation: AtomicU64,
    replicas: Vec<Replica>,
    max_lag: Duration,
    /// The primary's log position as last known (polled, or minted into a token).
    primary_lsn: AtomicU64,
    /// Where round-robin starts next.
    next: AtomicUsize,
    /// Asks the poller to poll now: a read waits for a replica to catch up.
    wanted: Notify,
    /// Counts the polls done, for those waiting for the next one.
    polls: watch::Sender<u64>,
    /// The primary's log positions of the last `max_lag` and a bit, oldest first.
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

/// The reads of a PostgreSQL store: a sqlx `Executor` that picks, for each statement, the
/// primary or a replica.
#[derive(Debug, Clone)]
pub(crate) struct ReadRouter {
    shared: Arc<Shared>,
    /// This router ignores the request's scope and reads from the primary: for the reads that
    /// must see every committed write wherever they are made (sign-in state, idempotency).
    primary_only: bool,
}

impl ReadRouter {
    pub(crate) fn new(
        primary: ReadPool,
        primary_options: PgConnectOptions,
        replicas: Vec<(ReadPool, PgConnectOptions)>,
        max_lag: Duration,
    ) -> Self {
        let replicas = replicas
            .into_iter()
            .map(|(pool, options)| Replica {
                pool,
                options,
                replay: AtomicU64::new(0),
                reachable: AtomicBool::new(false),
                in_rotation: AtomicBool::new(false),
            })
            .collect();
        Self {
            shared: Arc::new(Shared {
                primary,
                primary_options: std::sync::RwLock::new(primary_options),
                options_generation: AtomicU64::new(0),
                replicas,
                max_lag,
                primary_lsn: AtomicU64::new(0),
                next: AtomicUsize::new(0),
                wanted: Notify::new(),
                polls: watch::Sender::new(0),
                samples: Mutex::new(VecDeque::new()),
            }),
            primary_only: false,
        }
    }

    /// The same pools, always reading from the primary.
    pub(crate) fn primary_only(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            primary_only: true,
        }
    }

    pub(crate) fn has_replicas(&self) -> bool {
        !self.shared.replicas.is_empty()
    }

    /// New connections to the primary use `options` (rotated credentials); those open drain.
    pub(crate) fn set_primary_options(&self, options: PgConnectOptions) {
        self.shared.primary.set_options(options.clone());
        match self.shared.primary_options.write() {
            Ok(mut current) => *current = options,
            Err(poisoned) => *poisoned.into_inner() = options,
        }
        self.shared
            .options_generation
            .fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn primary_pool(&self) -> &ReadPool {
        &self.shared.primary
    }

    /// Closes every pool.
    pub(crate) fn close(&self) {
        self.shared.primary.close();
        for replica in &self.shared.replicas {
            replica.pool.close();
        }
    }

    /// Polls once now (so that the rotation is known before the first request), then every
    /// [`POLL_INTERVAL`] until the returned task is aborted.
    pub(crate) async fn start_polling(&self) -> tokio::task::JoinHandle<()> {
        let mut poller = Poller::new(self.shared.clone());
        poller.poll().await;
        tokio::spawn(async move { poller.run().await })
    }

    /// Notes a log position of the primary known to be reached (a token just minted).
    pub(crate) fn primary_reached(&self, lsn: u64) {
        self.shared.primary_lsn.fetch_max(lsn, Ordering::Relaxed);
    }

    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        self.shared
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| ReplicaStatus {
                number: i + 1,
                reachable: r.reachable.load(Ordering::Relaxed),
                in_rotation: r.in_rotation.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Runs `request` with its reads routed as `scope` says.
    pub(crate) fn scoped<'a>(scope: ReadScope, request: ScopedFuture<'a>) -> ScopedFuture<'a> {
        Box::pin(SCOPE.scope(
            RequestScope {
                scope,
                pinned: AtomicUsize::new(NOT_PINNED),
            },
            request,
        ))
    }

    /// A log position that every read starting now in the current scope sees (see
    /// `ReadRouting::read_floor`). A position polled from the primary counts one byte less:
    /// a commit's record can be in the log an instant before the commit is visible.
    pub(crate) fn read_floor(&self) -> u64 {
        let primary = self
            .shared
            .primary_lsn
            .load(Ordering::Relaxed)
            .saturating_sub(1);
        let scope = SCOPE.try_with(|s| s.scope).ok();
        match scope {
            Some(ReadScope::Replica { at_least }) if !self.primary_only => {
                let replicas = self
                    .shared
                    .replicas
                    .iter()
                    .filter(|r| r.in_rotation.load(Ordering::Relaxed))
                    .map(|r| r.replay.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(u64::MAX);
                let any = primary.min(replicas);
                at_least.map_or(any, |t| any.max(t.lsn().saturating_sub(1)))
            }
            _ => primary,
        }
    }

    /// The replica the current read goes to, or `None` for the primary.
    async fn pick(&self) -> Option<usize> {
        if self.primary_only || self.shared.replicas.is_empty() {
            return None;
        }
        let (at_least, pinned) = SCOPE
            .try_with(|s| match s.scope {
                ReadScope::Primary => None,
                ReadScope::Replica { at_least } => Some((
                    at_least.map_or(0, ConsistencyToken::lsn),
                    s.pinned.load(Ordering::Relaxed),
                )),
            })
            .ok()
            .flatten()?;
        let replicas = &self.shared.replicas;
        let usable = |i: usize| {
            replicas.get(i).is_some_and(|r| {
                r.in_rotation.load(Ordering::Relaxed)
                    && r.replay.load(Ordering::Relaxed) >= at_least
            })
        };
        if pinned != NOT_PINNED && usable(pinned) {
            return Some(pinned);
        }
        let deadline = Instant::now() + TOKEN_WAIT;
        let mut polls = self.shared.polls.subscribe();
        loop {
            let start = self.shared.next.fetch_add(1, Ordering::Relaxed);
            if let Some(i) = (0..replicas.len())
                .map(|k| (start + k) % replicas.len())
                .find(|&i| usable(i))
            {
                let _ = SCOPE.try_with(|s| s.pinned.store(i, Ordering::Relaxed));
                return Some(i);
            }
            // Waiting helps only where a replica in rotation is behind the token.
            let worth_waiting = at_least > 0
                && replicas
                    .iter()
                    .any(|r| r.in_rotation.load(Ordering::Relaxed));
            let left = deadline.saturating_duration_since(Instant::now());
            if !worth_waiting || left.is_zero() {
                return None;
            }
            polls.borrow_and_update();
            self.shared.wanted.notify_one();
            if tokio::time::timeout(left, polls.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// Takes replica `i` out of rotation after a read failed because of it.
    fn replica_failed(&self, i: usize, error: &sqlx::Error) {
        if let Some(replica) = self.shared.replicas.get(i) {
            if replica.in_rotation.swap(false, Ordering::Relaxed) {
                tracing::warn!(replica = i + 1, error = %error,
                    "a read replica failed a read; reading from the primary until it is back");
            }
            replica.reachable.store(false, Ordering::Relaxed);
        }
    }

    fn pool(&self, replica: Option<usize>) -> &ReadPool {
        replica
            .and_then(|i| self.shared.replicas.get(i))
            .map_or(&self.shared.primary, |r| &r.pool)
    }
}

/// Whether a read that failed on a replica should be run again on the primary: the replica,
/// not the statement, failed.
fn replica_at_fault(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        // 40001: canceled by a conflict with recovery; 57014: canceled (max_standby_*_delay).
        sqlx::Error::Database(db) => {
            connection_lost(error) || matches!(db.code().as_deref(), Some("40001" | "57014"))
        }
        _ => connection_lost(error),
    }
}

/// A statement taken apart, so that it can be sent twice (sqlx's queries give their
/// arguments away when sent).
struct Replayable<'q> {
    sql: &'q str,
    arguments: Option<PgArguments>,
    persistent: bool,
}

impl<'q> Replayable<'q> {
    fn of<E: Execute<'q, Postgres>>(mut query: E) -> Result<Self, sqlx::Error> {
        Ok(Self {
            sql: query.sql(),
            arguments: query.take_arguments().map_err(sqlx::Error::Encode)?,
            persistent: query.persistent(),
        })
    }

    fn once(&self) -> Replayable<'q> {
        Replayable {
            sql: self.sql,
            arguments: self.arguments.clone(),
            persistent: self.persistent,
        }
    }
}

impl<'q> Execute<'q, Postgres> for Replayable<'q> {
    fn sql(&self) -> &'q str {
        self.sql
    }

    fn statement(&self) -> Option<&PgStatement<'q>> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, sqlx::error::BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

impl<'p> Executor<'p> for &'_ ReadRouter {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let router = self.clone();
        Box::pin(async_stream::try_stream! {
            let replica = router.pick().await;
            let Some(i) = replica else {
                let mut results = router.pool(None).fetch_many(query);
                while let Some(result) = results.try_next().await? {
                    yield result;
                }
                return;
            };
            let statement = Replayable::of(query)?;
            let mut results = router.pool(Some(i)).fetch_many(statement.once());
            // Until the first result, the statement can go to the primary instead.
            match results.next().await {
                Some(Ok(first)) => {
                    yield first;
                    while let Some(result) = results.try_next().await? {
                        yield result;
                    }
                }
                None => {}
                Some(Err(error)) if replica_at_fault(&error) => {
                    drop(results);
                    router.replica_failed(i, &error);
                    let mut results = router.pool(None).fetch_many(statement.once());
                    while let Some(result) = results.try_next().await? {
                        yield result;
                    }
                }
                Some(Err(error)) => Err(error)?,
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let router = self.clone();
        Box::pin(async move {
            let Some(i) = router.pick().await else {
                return router.pool(None).fetch_optional(query).await;
            };
            let statement = Replayable::of(query)?;
            match router.pool(Some(i)).fetch_optional(statement.once()).await {
                Err(error) if replica_at_fault(&error) => {
                    router.replica_failed(i, &error);
                    router.pool(None).fetch_optional(statement.once()).await
                }
                other => other,
            }
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>> {
        let router = self.clone();
        Box::pin(async move { router.pool(None).prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>> {
        let router = self.clone();
        Box::pin(async move { router.pool(None).describe(sql).await })
    }
}
