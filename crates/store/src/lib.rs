//! SQLite and PostgreSQL adapters for the Bookstore ports.
//!
//! [`Store::open`] picks the database from the configuration: SQLite in the data directory by
//! default, or the database a `sqlite://` or `postgres://` URL names. Both implement
//! [`CatalogStore`] and [`UserStore`] with one shared implementation each and pass one contract
//! test suite (`tests/contract.rs`, `tests/users.rs`).
//!
//! Every mutation of a book commits in one transaction with its `book_history` row and its
//! `outbox` event (and, for a create with an `Idempotency-Key`, the idempotency record).

mod audit;
pub mod backup;
mod catalog;
mod consistency;
mod cursor;
mod error;
mod event_log;
mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod imports;
mod janitor;
mod meter;
mod pg_read_pool;
mod postgres;
mod read_router;
mod retry;
mod rows;
mod sealed;
mod search;
mod sql;
mod sqlite;
mod sqlite_fts;
mod time;
mod users;
mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

pub use consistency::ReplicaReadiness;
pub use error::OpenError;
pub use event_log::{OutboxCommits, Wakeups};
pub use janitor::{JanitorReport, Retention};
pub use read_router::ReplicaStatus;

use bookstore_core::audit::AuditLog;
use bookstore_core::auth::UserStore;
use bookstore_core::consistency::{DirectReads, ReadRouting};
use bookstore_core::import::ImportStore;
use bookstore_core::outbox::{EventLog, Outbox};
use bookstore_core::webhook::WebhookStore;
use bookstore_core::{CatalogStore, InventoryStore};
use postgres::PgStore;
use sqlite::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The file the embedded default keeps in the data directory.
pub const SQLITE_FILE_NAME: &str = "bookstore.db";

/// Where the store lives.
#[derive(Clone)]
pub struct StoreConfig {
    /// `sqlite://…`, `postgres://…` or `postgresql://…`; `None` for SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    /// Upper bound of each connection pool: on PostgreSQL, of the reads and of the write
    /// transactions (so up to twice this many connections); on SQLite, of the readers (its
    /// writer pool has exactly one connection).
    pub max_connections: u32,
    /// PostgreSQL read replicas of `database_url`'s server (streaming replicas): reads of
    /// read requests go there when they are caught up enough. Not for SQLite.
    pub read_urls: Vec<String>,
    /// A replica that has not replayed what the primary had written this long ago leaves the
    /// rotation until it catches up.
    pub read_max_lag: std::time::Duration,
    /// Hand out consistency tokens even without replicas (PostgreSQL): for caches that more
    /// than one process keeps of the same store.
    pub consistency_tokens: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from("./data"),
            max_connections: 10,
            read_urls: Vec::new(),
            read_max_lag: std::time::Duration::from_secs(1),
            consistency_tokens: false,
        }
    }
}

impl StoreConfig {
    /// The database the URL names, as [`Store::open`] reads it; `None` for a scheme it refuses.
    pub fn backend(&self) -> Option<Backend> {
        let url = self
            .database_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        match url.map(|url| scheme(url).map(str::to_ascii_lowercase)) {
            None => Some(Backend::Sqlite),
            Some(scheme) => match scheme.as_deref() {
                Some("sqlite") => Some(Backend::Sqlite),
                Some("postgres" | "postgresql") => Some(Backend::Postgres),
                _ => None,
            },
        }
    }
}

/// Never prints the URL: it may hold a password.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("data_dir", &self.data_dir)
            .field("max_connections", &self.max_connections)
            .field(
                "read_urls",
                &format_args!("<{} redacted>", self.read_urls.len()),
            )
            .field("read_max_lag", &self.read_max_lag)
            .field("consistency_tokens", &self.consistency_tokens)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone)]
enum Inner {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

/// How full one connection pool is, for the metrics (`bookstore_db_pool_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `reads` or `writes`.
    pub pool: &'static str,
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl PoolStats {
    pub(crate) fn of_sqlx<DB: sqlx::Database>(pool: &'static str, of: &sqlx::Pool<DB>) -> Self {
        let size = of.size();
        Self {
            pool,
            size,
            idle: u32::try_from(of.num_idle()).unwrap_or(u32::MAX).min(size),
            max: of.options().get_max_connections(),
        }
    }

    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}

/// An open store: connection pools of the chosen database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Inner,
    created: Option<PathBuf>,
    /// The shared lock of a SQLite file, held while the store is open: a restore waits for
    /// no one and replaces no file in use (see [`backup`]).
    _lock: Option<Arc<std::fs::File>>,
    /// Tests only: a catalog port answering in this store's place (a search index over it).
    #[cfg(feature = "testing")]
    catalog_override: Option<Arc<dyn CatalogStore>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// The scheme of a database URL (`sqlite` of `sqlite::memory:`, `postgres` of
/// `postgres://…`); `None` if it has none.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Prepares a SQLite file and its directory, readable by their owner only (see [`files`]).
fn prepare_sqlite_file(path: &Path) -> Result<Option<PathBuf>, OpenError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        files::private_dir(dir)?;
    }
    files::private_file(path)
}

impl Store {
    /// Connects to the configured database (creating the SQLite file and its directory if
    /// needed, readable by their owner only). Does not migrate: call [`Store::migrate`].
    pub async fn open(config: &StoreConfig) -> Result<Store, OpenError> {
        let url = config
            .database_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        let mut created = None;
        let mut lock = None;
        let postgres = url.and_then(scheme).is_some_and(|s| {
            s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql")
        });
        if !config.read_urls.is_empty() && !postgres {
            return Err(OpenError::ReadReplicasNeedPostgres);
        }
        let inner = match url {
            None => {
                let path = config.data_dir.join(SQLITE_FILE_NAME);
                created = prepare_sqlite_file(&path)?;
                lock = Some(Arc::new(backup::lock_shared(&path)?));
                files::warn_if_open(&config.data_dir);
                let options = SqliteConnectOptions::new().filename(path);
                Inner::Sqlite(Arc::new(
                    SqliteStore::open(options, config.max_connections, false).await?,
                ))
            }
            Some(url) => match scheme(url).map(str::to_ascii_lowercase).as_deref() {
                Some("sqlite") => {
                    let options =
                        SqliteConnectOptions::from_str(url).map_err(OpenError::InvalidUrl)?;
                    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                    if !in_memory {
                        created = prepare_sqlite_file(options.get_filename())?;
                        lock = Some(Arc::new(backup::lock_shared(options.get_filename())?));
                    }
                    Inner::Sqlite(Arc::new(
                        SqliteStore::open(options, config.max_connections, in_memory).await?,
                    ))
                }
                Some("postgres" | "postgresql") => Inner::Postgres(Arc::new(
                    PgStore::open(
                        url,
                        &config.read_urls,
                        config.max_connections,
                        config.read_max_lag,
                        config.consistency_tokens,
                    )
                    .await?,
                )),
                other => {
                    return Err(OpenError::UnsupportedUrl {
                        scheme: other.unwrap_or_default().to_owned(),
                    })
                }
            },
        };
        Ok(Store {
            inner,
            created,
            _lock: lock,
            #[cfg(feature = "testing")]
            catalog_override: None,
        })
    }

    /// The absolute path of the SQLite file this open created: a new, empty store.
    pub fn created_file(&self) -> Option<&Path> {
        self.created.as_deref()
    }

    /// Applies the embedded migrations of the backend that are not applied yet.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match &self.inner {
            Inner::Sqlite(store) => store.migrate().await,
            Inner::Postgres(store) => store.migrate().await,
        }
    }

    /// New database connections use `url` from now on (rotated credentials), and those
    /// opened before drain. PostgreSQL only: `false` on SQLite, which has no credentials.
    pub fn set_database_url(&self, url: &str) -> Result<bool, OpenError> {
        match &self.inner {
            Inner::Sqlite(_) => Ok(false),
            Inner::Postgres(store) => store.set_url(url).map(|()| true),
        }
    }

    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Tests only: `catalog()` answers with `catalog` from now on (the contract tests run
    /// against a search index that way).
    #[cfg(feature = "testing")]
    pub fn with_catalog(mut self, catalog: Arc<dyn CatalogStore>) -> Self {
        self.catalog_override = Some(catalog);
        self
    }

    /// Tests only: whether `catalog()` answers with another port ([`Store::with_catalog`]).
    #[cfg(feature = "testing")]
    pub fn catalog_is_overridden(&self) -> bool {
        self.catalog_override.is_some()
    }

    /// The catalog port, backed by this store.
    pub fn catalog(&self) -> Arc<dyn CatalogStore> {
        #[cfg(feature = "testing")]
        if let Some(catalog) = &self.catalog_override {
            return catalog.clone();
        }
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The inventory port (locations, stock per location, transfers), backed by this store.
    pub fn inventory(&self) -> Arc<dyn InventoryStore> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The user store of sign-in (users, refresh tokens, failed sign-ins, signing keys),
    /// backed by this store.
    pub fn users(&self) -> Arc<dyn UserStore> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The security audit log, backed by this store.
    /// What is sealed under the key-encryption key, for its rotation.
    pub fn sealed(&self) -> Arc<dyn bookstore_core::auth::SealedStore> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    pub fn audit(&self) -> Arc<dyn AuditLog> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// Webhooks, their deliveries and the fan-out position, backed by this store.
    pub fn webhooks(&self) -> Arc<dyn WebhookStore> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The record of imports, backed by this store.
    pub fn imports(&self) -> Arc<dyn ImportStore> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The outbox as the relays see it, backed by this store.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// The published events by position, backed by this store.
    pub fn event_log(&self) -> Arc<dyn EventLog> {
        match &self.inner {
            Inner::Sqlite(store) => store.clone(),
            Inner::Postgres(store) => store.clone(),
        }
    }

    /// What wakes a relay (outbox rows committed) and a reader of the event log (it grew).
    /// On PostgreSQL the first call starts listening for every replica's notifications;
    /// call it from within the runtime.
    pub fn wakeups(&self) -> Wakeups {
        match &self.inner {
            Inner::Sqlite(store) => store.wakeups.receivers(),
            Inner::Postgres(store) => store.wakeups(),
        }
    }

    /// How full each connection pool is now: reads, then writes.
    pub fn pool_stats(&self) -> [PoolStats; 2] {
        match &self.inner {
            Inner::Sqlite(store) => [
                PoolStats::of_sqlx(meter::READS, &store.reader),
                PoolStats::of_sqlx(meter::WRITES, &store.writer),
            ],
            Inner::Postgres(store) => [
                store.router().primary_pool().stats(meter::READS),
                PoolStats::of_sqlx(meter::WRITES, &store.writer),
            ],
        }
    }

    /// How reads are routed between the primary and the read replicas, and the consistency
    /// tokens of writes.
    pub fn read_routing(&self) -> Arc<dyn ReadRouting> {
        match &self.inner {
            Inner::Sqlite(_) => Arc::new(DirectReads),
            Inner::Postgres(store) => Arc::new(consistency::PgReadRouting(store.clone())),
        }
    }

    /// The read replicas' states, in `read_urls` order (empty without replicas).
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        match &self.inner {
            Inner::Sqlite(_) => Vec::new(),
            Inner::Postgres(store) => store.router().statuses(),
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite(store) => store.close().await,
            Inner::Postgres(store) => store.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        let backend = |url: Option<&str>| {
            StoreConfig {
                database_url: url.map(str::to_owned),
                ..StoreConfig::default()
            }
            .backend()
        };
        assert_eq!(backend(None), Some(Backend::Sqlite));
        assert_eq!(backend(Some(" ")), Some(Backend::Sqlite));
        assert_eq!(backend(Some("sqlite://x.db")), Some(Backend::Sqlite));
        assert_eq!(
            backend(Some("PostgreSQL://u@h/db")),
            Some(Backend::Postgres)
        );
        assert_eq!(backend(Some("mysql://u@h/db")), None);
        assert_eq!(scheme("sqlite::memory:"), Some("sqlite"));
        assert_eq!(scheme("postgres://u@h/db"), Some("postgres"));
        assert_eq!(scheme("./data/bookstore.db"), None);
        assert_eq!(scheme("c:\\x"), Some("c"));
    }
}
