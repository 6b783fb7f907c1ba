//! Backups of the SQLite store, taken while the server runs, and their restore.
//!
//! A backup is `VACUUM INTO` a new file: SQLite writes it from one read transaction, so it is
//! the database as of one commit even while writers go on (WAL readers never block writers,
//! nor writers them), and it is compact and self-contained (journal mode `DELETE`, no `-wal`
//! beside it). PostgreSQL has `pg_dump` and `pg_restore` for this (see the README).
//!
//! A restore checks the file first (a SQLite database, a Bookstore one, at a migration level
//! this binary knows, passing SQLite's integrity check), refuses a store that holds data
//! unless forced, and refuses one that a process has open (every [`Store::open`] of a SQLite
//! file holds a shared lock on `<file>.lock`; a restore takes it exclusively). The file is
//! then copied beside the store and renamed over it, so a store is never half restored.

use crate::error::OpenError;
use crate::sqlite::MIGRATOR;
use crate::{Store, StoreConfig, SQLITE_FILE_NAME};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What went wrong with a backup or a restore.
#[derive(Debug, Error)]
pub enum BackupError {
    #[error(
        "`bookstore backup` and `restore` are for the SQLite store; on PostgreSQL use pg_dump \
         and pg_restore (see the README, Backups)"
    )]
    Postgres,
    #[error("the store is in memory: there is no file to back up or restore into")]
    InMemory,
    #[error("{} exists already: name a new file", path.display())]
    Exists { path: PathBuf },
    #[error("{} is not a SQLite database", path.display())]
    NotSqlite { path: PathBuf },
    #[error("{} is not a Bookstore database (it has no migration record)", path.display())]
    NotBookstore { path: PathBuf },
    #[error(
        "{} has migration {version}, which this version of Bookstore does not know (a newer \
         version wrote it, or the file was changed): restore it with that version",
        path.display()
    )]
    UnknownMigration { path: PathBuf, version: i64 },
    #[error("{} is damaged: {detail}", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "the store {} is not empty ({books} books, {users} users): pass --force to replace it",
        path.display()
    )]
    NotEmpty {
        path: PathBuf,
        books: i64,
        users: i64,
    },
    #[error("the store {} is in use by another process: stop the server first", path.display())]
    InUse { path: PathBuf },
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error on {}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// What a backup file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The highest migration applied to it.
    pub migration: i64,
    pub books: i64,
    pub users: i64,
    /// Its size in bytes.
    pub bytes: u64,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn db(path: &Path) -> impl FnOnce(sqlx::Error) -> BackupError + '_ {
    move |source| BackupError::Database {
        path: path.to_owned(),
        source,
    }
}

/// `path` with `suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The SQLite file a configuration names; `Ok(None)` for PostgreSQL.
pub fn sqlite_file(config: &StoreConfig) -> Result<Option<PathBuf>, BackupError> {
    let url = config
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let Some(url) = url else {
        return Ok(Some(config.data_dir.join(SQLITE_FILE_NAME)));
    };
    match crate::scheme(url).map(str::to_ascii_lowercase).as_deref() {
        Some("sqlite") => {
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Err(BackupError::InMemory);
            }
            let options = SqliteConnectOptions::from_str(url).map_err(OpenError::InvalidUrl)?;
            Ok(Some(options.get_filename().to_owned()))
        }
        Some("postgres" | "postgresql") => Ok(None),
        other => Err(OpenError::UnsupportedUrl {
            scheme: other.unwrap_or_default().to_owned(),
        }
        .into()),
    }
}

/// The lock every process that opens the SQLite file at `database` holds: shared by servers
/// and commands, exclusive for a restore.
pub(crate) fn lock_file(database: &Path) -> Result<File, OpenError> {
    let path = beside(database, ".lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&path)
        .map_err(|source| OpenError::DataFile { path, source })
}

/// Takes the shared lock of the SQLite file at `database`, waiting while a restore holds it.
pub(crate) fn lock_shared(database: &Path) -> Result<File, OpenError> {
    let file = lock_file(database)?;
    file.lock_shared().map_err(|source| OpenError::DataFile {
        path: beside(database, ".lock"),
        source,
    })?;
    Ok(file)
}

impl Store {
    /// Writes a consistent copy of the SQLite store to `destination`, a file that must not
    /// exist, while writes go on; returns what it holds.
    pub async fn backup(&self, destination: &Path) -> Result<BackupInfo, BackupError> {
        let crate::Inner::Sqlite(store) = &self.inner else {
            return Err(BackupError::Postgres);
        };
        if destination.exists() {
            return Err(BackupError::Exists {
                path: destination.to_owned(),
            });
        }
        let partial = beside(destination, ".partial");
        if partial.exists() {
            // Left by a backup that was interrupted: never a finished backup.
            std::fs::remove_file(&partial).map_err(io("cannot remove", &partial))?;
        }
        let target = partial
            .to_str()
            .ok_or_else(|| BackupError::Io {
                what: "the path is not UTF-8:",
                path: partial.clone(),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            })?
            .to_owned();
        // A reader: it reads one snapshot and never waits for, nor holds up, the writer.
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&store.reader)
            .await
            .map_err(db(&partial))?;
        {
            // A backup is one file: out of WAL mode, whatever the store's header said.
            let conn = SqliteConnectOptions::new()
                .filename(&partial)
                .journal_mode(SqliteJournalMode::Delete)
                .connect()
                .await
                .map_err(db(&partial))?;
            conn.close().await.map_err(db(&partial))?;
        }
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io("cannot sync", &partial))?;
        std::fs::rename(&partial, destination).map_err(io("cannot rename to", destination))?;
        sync_dir(destination);
        inspect(destination).await
    }
}

/// Checks that `path` is a Bookstore SQLite database this binary can serve (after applying
/// the migrations it lacks), and says what it holds. Opens it read-only and changes nothing.
pub async fn inspect(path: &Path) -> Result<BackupInfo, BackupError> {
    let mut header = [0u8; 16];
    let bytes = {
        use std::io::Read;
        let mut file = File::open(path).map_err(io("cannot open", path))?;
        let bytes = file.metadata().map_err(io("cannot read", path))?.len();
        if file.read_exact(&mut header).is_err() || &header != SQLITE_HEADER {
            return Err(BackupError::NotSqlite {
                path: path.to_owned(),
            });
        }
        bytes
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        // Nothing may be written beside it (no -shm, no -wal), whatever its journal mode.
        .immutable(true)
        .connect()
        .await
        .map_err(db(path))?;
    let result = examine(&mut conn, path, bytes).await;
    let _ = conn.close().await;
    result
}

async fn examine(
    conn: &mut SqliteConnection,
    path: &Path,
    bytes: u64,
) -> Result<BackupInfo, BackupError> {
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| match err {
            sqlx::Error::Database(_) => BackupError::NotSqlite {
                path: path.to_owned(),
            },
            other => BackupError::Database {
                path: path.to_owned(),
                source: other,
            },
        })?;
    if check != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_owned(),
            detail: check,
        });
    }
    let has_record: bool = sqlx::query_scalar(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db(path))?;
    if !has_record {
        return Err(BackupError::NotBookstore {
            path: path.to_owned(),
        });
    }
    let applied: Vec<(i64, Vec<u8>, bool)> =
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(db(path))?;
    let Some(&(migration, _, _)) = applied.last() else {
        return Err(BackupError::NotBookstore {
            path: path.to_owned(),
        });
    };
    for (version, checksum, success) in &applied {
        let known = MIGRATOR
            .iter()
            .any(|m| m.version == *version && *m.checksum == **checksum);
        if !known {
            return Err(BackupError::UnknownMigration {
                path: path.to_owned(),
                version: *version,
            });
        }
        if !success {
            return Err(BackupError::Damaged {
                path: path.to_owned(),
                detail: format!("migration {version} did not finish"),
            });
        }
    }
    let (books, users) = counts(conn).await.map_err(db(path))?;
    Ok(BackupInfo {
        migration,
        books,
        users,
        bytes,
    })
}

/// Books and users, 0 for a table the schema does not have yet.
async fn counts(conn: &mut SqliteConnection) -> Result<(i64, i64), sqlx::Error> {
    let mut found = [0i64; 2];
    for (slot, table) in found.iter_mut().zip(["books", "users"]) {
        let exists: bool = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        if exists {
            *slot = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *conn)
                .await?;
        }
    }
    Ok((found[0], found[1]))
}

/// Replaces the SQLite store that `config` names with the backup at `backup`, after checking
/// it (see [`inspect`]). Refuses a store that holds books or users unless `force`, and a store
/// that any process has open. The next start applies the migrations the backup lacks.
pub async fn restore(
    config: &StoreConfig,
    backup: &Path,
    force: bool,
) -> Result<BackupInfo, BackupError> {
    let target = sqlite_file(config)?.ok_or(BackupError::Postgres)?;
    let info = inspect(backup).await?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::private_dir(dir)?;
    }
    // Held until the restored file is in place: no server or command opens the store meanwhile.
    let lock = lock_file(&target)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(BackupError::InUse { path: target }),
        Err(TryLockError::Error(source)) => {
            return Err(BackupError::Io {
                what: "cannot lock",
                path: beside(&target, ".lock"),
                source,
            })
        }
    }
    if target.exists() && std::fs::metadata(&target).is_ok_and(|m| m.len() > 0) {
        let mut conn = SqliteConnectOptions::new()
            .filename(&target)
            .read_only(true)
            .connect()
            .await
            .map_err(db(&target))?;
        let found = counts(&mut conn).await.map_err(db(&target));
        let _ = conn.close().await;
        let (books, users) = found?;
        if (books > 0 || users > 0) && !force {
            return Err(BackupError::NotEmpty {
                path: target,
                books,
                users,
            });
        }
    }
    let partial = beside(&target, ".restoring");
    std::fs::copy(backup, &partial).map_err(io("cannot copy the backup to", &partial))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot set the mode of", &partial))?;
    }
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot sync", &partial))?;
    // The old store's journal and shared memory would be read as the new file's.
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = beside(&target, suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot remove", &side)(e)),
        }
    }
    std::fs::rename(&partial, &target).map_err(io("cannot rename to", &target))?;
    sync_dir(&target);
    drop(lock);
    Ok(info)
}

/// Makes a rename in the directory of `path` durable (best effort: not every file system
/// lets a directory be synced).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}
