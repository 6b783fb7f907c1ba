//! The files of the embedded store: private to their owner, and a new store is announced.

use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_store_is_private_to_its_owner_and_announced() {
    let parent = tempfile::tempdir().expect("dir");
    let data = parent.path().join("shop").join("data");
    let data_dir = data.display().to_string();
    let env = [("BOOKSTORE_DATA_DIR", data_dir.as_str())];
    let mut app = spawn_with(Backend::Sqlite, &env).await;
    app.create_book(hobbit()).await;

    for dir in [parent.path().join("shop"), data.clone()] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for name in [
        "bookstore.db",
        "bookstore.db-wal",
        "bookstore.db-shm",
        "kek",
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let absolute = data.join("bookstore.db").canonicalize().expect("absolute");
    let logs = app.logs();
    assert!(
        logs.contains(&format!("Created a new store: {}", absolute.display())),
        "{logs}"
    );
    assert!(app.terminate().success());

    // Started again on the same store: nothing new to announce; modes opened by hand are
    // warned about.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(data.join("kek"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let again = spawn_with(Backend::Sqlite, &env).await;
    assert_eq!(again.get("/books").await.status(), 200);
    let logs = again.logs();
    assert!(!logs.contains("Created a new store"), "{logs}");
    assert!(
        logs.contains("other users can read the store here"),
        "{logs}"
    );
    assert!(
        logs.contains("other users can read the key-encryption key"),
        "{logs}"
    );
}
