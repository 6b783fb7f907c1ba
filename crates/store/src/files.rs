//! The SQLite file holds password hashes and sealed signing keys: its directory is made
//! readable by its owner only (0700) and the file itself 0600. SQLite gives the `-wal` and
//! `-shm` files it creates beside the database the database file's mode, so creating the file
//! ourselves, before SQLite does, covers them too. Existing files are not changed (an operator
//! may have chosen their modes), but modes that let other users read them are warned about.

use crate::OpenError;
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents (0700 on Unix) unless it exists.
pub(crate) fn private_dir(dir: &Path) -> Result<(), OpenError> {
    let error = |source| OpenError::DataDir {
        path: dir.to_owned(),
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(error)
}

/// Creates the empty database file at `path` (0600 on Unix) unless it exists. Returns its
/// absolute path when this call created it, so that the caller can say a new store began.
pub(crate) fn private_file(path: &Path) -> Result<Option<PathBuf>, OpenError> {
    let error = |source| OpenError::DataFile {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(Some(
            path.canonicalize()
                .or_else(|_| std::path::absolute(path))
                .map_err(error)?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_open(path);
            Ok(None)
        }
        Err(e) => Err(error(e)),
    }
}

/// Logs a warning when users other than the owner may read `path` (or enter it, for a
/// directory).
pub(crate) fn warn_if_open(path: &Path) {
    if let Some(mode) = open_mode(path) {
        tracing::warn!(
            path = %path.display(),
            mode = %format!("{mode:03o}"),
            "other users can read the store here (it holds password hashes and sealed signing \
             keys): chmod go-rwx it"
        );
    }
}

/// The permission bits of `path` when they give the group or others any access.
#[cfg(unix)]
pub(crate) fn open_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
pub(crate) fn open_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use crate::{Store, StoreConfig};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[tokio::test]
    async fn a_sqlite_url_store_is_private_and_its_creation_reported() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("nested").join("shop.db");
        let config = StoreConfig {
            database_url: Some(format!("sqlite://{}", file.display())),
            data_dir: dir.path().join("unused"),
            max_connections: 1,
            ..Default::default()
        };
        let store = Store::open(&config).await.expect("open");
        store.migrate().await.expect("migrate");
        assert_eq!(
            store.created_file(),
            Some(file.canonicalize().expect("absolute").as_path())
        );
        assert_eq!(mode(&dir.path().join("nested")), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("nested").join("shop.db-wal")), 0o600);
        store.close().await;

        let again = Store::open(&config).await.expect("open");
        assert_eq!(again.created_file(), None);
        again.close().await;
    }
}
