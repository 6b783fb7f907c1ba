//! The pool of PostgreSQL connections for reads outside transactions.
//!
//! sqlx's pool checks every connection it takes back with a round trip to the server (a
//! `Sync` message), so a one-query read costs two round trips. On a 2-core machine that
//! second round trip cost about a fifth of the throughput of `GET /books/{id}` (bench/run:
//! 6.7k against 8.6k requests/s at 8 connections, best of 3). This pool checks a connection
//! only when there is a reason to:
//!
//! - its last query did not finish (an error, or a request dropped halfway): the round trip
//!   also drains whatever the server still had to say;
//! - it sat idle long enough for a firewall or a server restart to have cut it.
//!
//! - another connection of the pool was found dead since this one was last checked: when the
//!   server restarts, or an administrator ends its sessions, all of them are, so the first
//!   read that fails has every other connection checked before its next use, and one failed
//!   read is all that the callers see.
//!
//! A connection that fails its check, or has lived past [`MAX_LIFETIME`], is replaced. (A
//! statement cannot be sent twice, its arguments are consumed, so a failed read is not
//! retried here.)

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgQueryResult, PgRow, PgStatement, PgTypeInfo, Postgres,
};
use sqlx::{Connection, Describe, Either, Execute, Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// Idle longer than this, a connection is checked before it is handed out.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);
/// Connections are replaced after this long, as sqlx's pool does, so that server-side
/// memory held per session does not grow without bound.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long a read waits for a free connection before it fails (sqlx's default too).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Whether `error` says that the connection, not the statement, failed.
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        // Class 57P: the server is shutting down or ended this session.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P")),
        _ => false,
    }
}

#[derive(Debug)]
pub(crate) struct ReadConnection {
    conn: PgConnection,
    /// Set while a query runs; still set afterwards if it did not run to completion.
    unsettled: bool,
    /// The pool's count of lost connections when this one was last known to be alive.
    checked_at_losses: u64,
    /// The credentials' generation it was opened with.
    generation: u64,
}

#[derive(Debug)]
pub(crate) struct Connector {
    options: RwLock<PgConnectOptions>,
    /// Bumped when the credentials change: older connections are not reused.
    generation: AtomicU64,
    /// Connections found dead so far.
    losses: AtomicU64,
}

impl managed::Manager for Connector {
    type Type = ReadConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<ReadConnection, sqlx::Error> {
        let generation = self.generation.load(Ordering::Acquire);
        let options = self
            .options
            .read()
            .map_err(|_| sqlx::Error::Configuration("the connect options lock is poisoned".into()))?
            .clone();
        Ok(ReadConnection {
            conn: PgConnection::connect_with(&options).await?,
            unsettled: false,
            checked_at_losses: self.losses.load(Ordering::Relaxed),
            generation,
        })
    }

    async fn recycle(
        &self,
        connection: &mut ReadConnection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if metrics.age() > MAX_LIFETIME {
            return Err(RecycleError::message("past its lifetime"));
        }
        if connection.generation != self.generation.load(Ordering::Acquire) {
            return Err(RecycleError::message(
                "opened with the previous credentials",
            ));
        }
        let losses = self.losses.load(Ordering::Relaxed);
        if connection.unsettled
            || connection.checked_at_losses != losses
            || metrics.last_used() > IDLE_CHECK_AFTER
        {
            connection
                .conn
                .ping()
                .await
                .map_err(RecycleError::Backend)?;
            connection.unsettled = false;
            connection.checked_at_losses = losses;
        }
        Ok(())
    }
}

/// Runs each statement on a connection of its own from the pool, like `&sqlx::PgPool`.
#[derive(Clone, Debug)]
pub(crate) struct ReadPool {
    pool: managed::Pool<Connector>,
}

impl ReadPool {
    pub(crate) fn new(options: PgConnectOptions, max_size: usize) -> Result<Self, sqlx::Error> {
        let connector = Connector {
            options: RwLock::new(options),
            generation: AtomicU64::new(0),
            losses: AtomicU64::new(0),
        };
        let pool = managed::Pool::builder(connector)
            .max_size(max_size.max(1))
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .create_timeout(Some(ACQUIRE_TIMEOUT))
            .recycle_timeout(Some(ACQUIRE_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        Ok(Self { pool })
    }

    /// Runs one statement on a pooled connection, which stays marked unsettled unless the
    /// statement runs to completion.
    async fn run<T>(
        &self,
        statement: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.get().await?;
        connection.unsettled = true;
        let value = self.settle(statement(&mut connection.conn).await)?;
        connection.unsettled = false;
        Ok(value)
    }

    /// Notes a failed statement: if its connection is lost, the others are suspect too.
    fn settle<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(error) = &result {
            if connection_lost(error) {
                self.pool.manager().losses.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn get(&self) -> Result<managed::Object<Connector>, sqlx::Error> {
        let waited = crate::meter::AcquireTimer::start(crate::meter::READS);
        let got = self.pool.get().await;
        waited.stop();
        got.map_err(|error| match error {
            managed::PoolError::Backend(error) => error,
            managed::PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
            managed::PoolError::Closed => sqlx::Error::PoolClosed,
            other => sqlx::Error::Configuration(other.to_string().into()),
        })
    }

    pub(crate) fn close(&self) {
        self.pool.close();
    }

    /// New connections use `options`; those opened before are replaced as they come back.
    pub(crate) fn set_options(&self, options: PgConnectOptions) {
        let manager = self.pool.manager();
        if let Ok(mut current) = manager.options.write() {
            *current = options;
        }
        manager.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn stats(&self, name: &'static str) -> crate::PoolStats {
        let status = self.pool.status();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        crate::PoolStats {
            pool: name,
            size: clamp(status.size),
            idle: clamp(status.available).min(clamp(status.size)),
            max: clamp(status.max_size),
        }
    }
}

impl<'p> Executor<'p> for &'_ ReadPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async_stream::try_stream! {
            let mut connection = pool.get().await?;
            let connection = &mut *connection;
            connection.unsettled = true;
            let mut results = connection.conn.fetch_many(query);
            while let Some(result) = pool.settle(results.try_next().await)? {
                yield result;
            }
            drop(results);
            connection.unsettled = false;
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            pool.run(async move |conn| conn.fetch_optional(query).await)
                .await
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement<'q>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            pool.run(async |conn| conn.prepare_with(sql, parameters).await)
                .await
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.run(async |conn| conn.describe(sql).await).await })
    }
}
