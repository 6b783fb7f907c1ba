//! Books from before the stock ledger get the movement that explains their stock when the
//! ledger migration runs (postgres 0006, sqlite 0005), on both stores; and the locations
//! migration (postgres 0011, sqlite 0010) then puts their stock and movements at the default
//! location.

#![allow(clippy::unwrap_used)]

use bookstore_core::location::DEFAULT_LOCATION;
use bookstore_core::{BookId, PageRequest, StockMovement};
use bookstore_store::{testing, Store, StoreConfig};
use sqlx::migrate::Migrator;
use std::path::Path;
use uuid::Uuid;

/// The migrations of `store` before `ledger`, as a migrator.
async fn before_ledger(store: &str, ledger: i64) -> (Migrator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(store);
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < ledger {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    (Migrator::new(dir.path()).await.unwrap(), dir)
}

/// A valid ISBN-13 numbered `n`.
fn isbn(n: u32) -> String {
    bookstore_core::Isbn::numbered(n).as_str().to_owned()
}

const CREATED: &str = "2024-01-02T03:04:05.123456Z";

/// Three books of the old schema: 5 on hand and no movement; 3 on hand after a receipt of 5
/// (an edit took 2 without a movement); none on hand and no movement.
fn old_rows(uuid: fn(Uuid) -> String) -> (String, [Uuid; 3]) {
    let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let mut sql = String::new();
    for (id, isbn, quantity) in [
        (ids[0], isbn(11), 5),
        (ids[1], isbn(12), 3),
        (ids[2], isbn(13), 0),
    ] {
        sql.push_str(&format!(
            "INSERT INTO books (id, isbn, title, sort_title, quantity, reorder_point, version, \
             created_at, updated_at) VALUES ({}, '{isbn}', 'Old', 'old', {quantity}, 0, 1, \
             '{CREATED}', '{CREATED}');",
            uuid(id)
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO stock_movements (id, book_id, kind, quantity, delta, quantity_after, actor, \
         at) VALUES ({}, {}, 'receive', 5, 5, 5, 'alice', '{CREATED}');",
        uuid(Uuid::now_v7()),
        uuid(ids[1])
    ));
    (sql, ids)
}

async fn movements(store: &Store, id: Uuid) -> Vec<StockMovement> {
    let page = store
        .catalog()
        .stock_movements(BookId::from_uuid(id), &PageRequest::default())
        .await
        .unwrap();
    page.items
}

async fn check(store: &Store, ids: [Uuid; 3]) {
    let cat = store.catalog();
    for id in ids {
        let book = cat.get_book(BookId::from_uuid(id)).await.unwrap().unwrap();
        let sum: i64 = movements(store, id).await.iter().map(|m| m.delta).sum();
        assert_eq!(sum, book.quantity.get(), "book {id}");
    }
    let opening = movements(store, ids[0]).await;
    assert_eq!(opening.len(), 1);
    let m = &opening[0];
    assert_eq!(
        (m.kind.as_str(), m.quantity, m.quantity_after),
        ("receive", 5, 5)
    );
    assert_eq!(m.reason.as_deref(), Some("opening balance"));
    assert_eq!(
        m.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        CREATED
    );
    // A UUIDv7 of the movement's time: it lists in time order.
    assert_eq!(m.id.get_version_num(), 7);
    let (secs, _) = m.id.get_timestamp().unwrap().to_unix();
    assert_eq!(i64::try_from(secs).unwrap(), m.at.timestamp());
    let edited = movements(store, ids[1]).await;
    assert_eq!(edited.len(), 2);
    assert_eq!(
        (
            edited[0].kind.as_str(),
            edited[0].delta,
            edited[0].quantity_after
        ),
        ("adjustment", -2, 3)
    );
    assert!(movements(store, ids[2]).await.is_empty());
    assert_eq!(testing::count_rows(store, "stock_movements").await, 3);

    // Stock per location: everything at the default location, `main`.
    for id in ids {
        let book = cat.get_book(BookId::from_uuid(id)).await.unwrap().unwrap();
        let levels: Vec<(String, i64)> = store
            .inventory()
            .book_stock(book.id)
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|l| (l.code, l.quantity))
            .collect();
        let expected: Vec<(String, i64)> = (book.quantity.get() > 0)
            .then(|| ("main".to_owned(), book.quantity.get()))
            .into_iter()
            .collect();
        assert_eq!(levels, expected, "book {id}");
        for m in movements(store, id).await {
            assert_eq!(
                (
                    m.location.as_str(),
                    m.location_id,
                    m.location_quantity_after
                ),
                ("main", DEFAULT_LOCATION, m.quantity_after)
            );
        }
    }
}

#[tokio::test]
async fn sqlite_books_get_their_opening_movement() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let (old, _keep) = before_ledger("sqlite", 5).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    old.run(&pool).await.unwrap();
    let (sql, ids) = old_rows(|id| format!("X'{}'", id.simple()));
    sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    pool.close().await;

    let store = Store::open(&StoreConfig {
        database_url: Some(url),
        data_dir: dir.path().to_path_buf(),
        max_connections: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    check(&store, ids).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_books_get_their_opening_movement() {
    let url = testing::fresh_postgres_url().await;
    let (old, _keep) = before_ledger("postgres", 6).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    old.run(&pool).await.unwrap();
    let (sql, ids) = old_rows(|id| format!("'{id}'::uuid"));
    sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    pool.close().await;

    let store = Store::open(&StoreConfig {
        database_url: Some(url.clone()),
        data_dir: "unused".into(),
        max_connections: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    check(&store, ids).await;
    store.close().await;
    testing::drop_postgres_database(&url).await;
}
