//! The PostgreSQL store: for several replicas. One pool serves reads and writes; write
//! transactions lock the book row they change (`FOR UPDATE`).

use crate::catalog::{impl_catalog_store, Dialect};
use crate::error::OpenError;
use crate::sql::BookSql;
use crate::users::{impl_user_store, UserDialect};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::LazyLock;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const AUTHORS_JSON: &str = "(SELECT coalesce(json_agg(json_build_object('author_id', a.id, \
    'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) \
    FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id)";
const GENRES_JSON: &str = "(SELECT coalesce(json_agg(json_build_object('id', g.id, \
    'name', g.name) ORDER BY bg.position), '[]'::json) \
    FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id)";

static BOOK_SQL: LazyLock<BookSql> = LazyLock::new(|| BookSql::new(AUTHORS_JSON, GENRES_JSON));

pub(crate) struct PgStore {
    writer: PgPool,
    reader: PgPool,
}

impl PgStore {
    pub(crate) async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(OpenError::InvalidUrl)?
            .application_name("bookstore");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }
}

impl Dialect for PgStore {
    type Db = sqlx::Postgres;

    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_BOOK: Option<&'static str> = Some("SELECT 1 FROM books WHERE id = $1 FOR UPDATE");
    /// A transaction-scoped advisory lock (an arbitrary constant key) around re-parenting.
    const GENRE_TREE_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(7262591030)");

    fn book_sql() -> &'static BookSql {
        &BOOK_SQL
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn writer(&self) -> &PgPool {
        &self.writer
    }

    fn reader(&self) -> &PgPool {
        &self.reader
    }
}

impl_catalog_store!(PgStore, sqlx::Postgres);

impl UserDialect for PgStore {
    const LOCK_USER: &'static str = "SELECT id FROM users WHERE id = $1 FOR UPDATE";
    /// Conflicts with itself, not with readers.
    const LOCK_SIGNING_KEYS: Option<&'static str> =
        Some("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE");
    /// Skips rows a concurrent prune holds: no waiting, no deadlock.
    const PRUNE_LOGIN_FAILURES: &'static str =
        "DELETE FROM login_failures WHERE ctid = ANY (ARRAY(\
        SELECT ctid FROM login_failures WHERE at < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED))";
}

impl_user_store!(PgStore, sqlx::Postgres);
