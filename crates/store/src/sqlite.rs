//! The SQLite store: the embedded default. One file in the data directory, WAL journal, a
//! writer pool of exactly one connection (so write transactions queue in the application,
//! never on SQLite's lock) and a separate pool of readers.

use crate::catalog::{impl_catalog_store, Dialect};
use crate::error::OpenError;
use crate::sql::BookSql;
use crate::users::{impl_user_store, UserDialect};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::sync::LazyLock;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// UUIDs are BLOBs, which JSON cannot hold: they travel as 32 hex digits, which `Uuid`
/// deserialises.
const AUTHORS_JSON: &str = "(SELECT json_group_array(json_object('author_id', lower(hex(a.id)), \
    'name', a.name, 'role', ba.role) ORDER BY ba.position) \
    FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id)";
const GENRES_JSON: &str = "(SELECT json_group_array(json_object('id', lower(hex(g.id)), \
    'name', g.name) ORDER BY bg.position) \
    FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id)";

static BOOK_SQL: LazyLock<BookSql> = LazyLock::new(|| BookSql::new(AUTHORS_JSON, GENRES_JSON));

pub(crate) struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database `options` name. An in-memory database lives in
    /// its one connection, which then serves reads and writes alike.
    pub(crate) async fn open(
        options: SqliteConnectOptions,
        max_readers: u32,
        in_memory: bool,
    ) -> Result<Self, OpenError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Normal);
        if in_memory {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            return Ok(Self {
                writer: pool.clone(),
                reader: pool,
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_readers.max(1))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { writer, reader })
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// No row locks in SQLite: the single writer connection and `BEGIN IMMEDIATE` serialise
    /// every write transaction.
    const LOCK_BOOK: Option<&'static str> = None;
    const GENRE_TREE_LOCK: Option<&'static str> = None;

    fn book_sql() -> &'static BookSql {
        &BOOK_SQL
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

impl_catalog_store!(SqliteStore, sqlx::Sqlite);

impl UserDialect for SqliteStore {
    /// No row locks: the single writer connection serialises every write transaction.
    const LOCK_USER: &'static str = "SELECT id FROM users WHERE id = $1";
    const LOCK_SIGNING_KEYS: Option<&'static str> = None;
    /// A batch at a time, like PostgreSQL's.
    const PRUNE_LOGIN_FAILURES: &'static str = "DELETE FROM login_failures WHERE rowid IN \
        (SELECT rowid FROM login_failures WHERE at < $1 LIMIT 1000)";
}

impl_user_store!(SqliteStore, sqlx::Sqlite);
