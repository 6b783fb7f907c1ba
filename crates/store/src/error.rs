//! Errors of opening a store, and the mapping of database errors onto the port's
//! [`StoreError`]. Constraint violations are recognised by their kind
//! ([`sqlx::error::DatabaseError::is_unique_violation`] and friends), never by message text.

use bookstore_core::StoreError;
use std::path::PathBuf;
use thiserror::Error;

/// Why a store could not be opened or migrated.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error(
        "unsupported database URL scheme '{scheme}': use sqlite://<path> or postgres://<host>/<db>"
    )]
    UnsupportedUrl { scheme: String },
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the database file {}", path.display())]
    DataFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the database URL is not valid")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("read replica {number} of DATABASE_READ_URL is not a valid PostgreSQL URL")]
    InvalidReadUrl {
        number: usize,
        #[source]
        source: sqlx::Error,
    },
    #[error("DATABASE_READ_URL (read replicas) needs PostgreSQL: DATABASE_URL is SQLite, which has no replicas")]
    ReadReplicasNeedPostgres,
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("the database schema migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl OpenError {
    /// Whether the database could not be reached (refused, cut, timed out, or still starting:
    /// class 57P, `cannot_connect_now`), as opposed to refusing what was asked: worth waiting
    /// for.
    pub fn is_unreachable(&self) -> bool {
        let error = match self {
            Self::Connect(error) => error,
            Self::Migrate(sqlx::migrate::MigrateError::Execute(error)) => error,
            _ => return false,
        };
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P")),
            _ => false,
        }
    }
}

/// Data in the database that the domain model rejects: a bug or a hand-edited row.
#[derive(Debug, Error)]
#[error("corrupt {what} in the database: {detail}")]
pub(crate) struct CorruptData {
    pub(crate) what: &'static str,
    pub(crate) detail: String,
}

pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::backend(CorruptData {
        what,
        detail: detail.to_string(),
    })
}

/// The schema this binary expects is not (fully) applied.
#[derive(Debug, Error)]
#[error(
    "database schema is not up to date: migration(s) {missing:?} not applied; run the migration"
)]
pub(crate) struct NotMigrated {
    pub(crate) missing: Vec<i64>,
}

pub(crate) fn backend(err: sqlx::Error) -> StoreError {
    StoreError::backend(err)
}

pub(crate) fn json_error(err: serde_json::Error) -> StoreError {
    StoreError::backend(err)
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A unique violation as [`StoreError::DuplicateName`] of `entity` named `name`; any other error
/// as a backend error.
pub(crate) fn duplicate_name(err: sqlx::Error, entity: &'static str, name: &str) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::DuplicateName {
            entity,
            name: name.to_owned(),
        }
    } else {
        backend(err)
    }
}

pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
