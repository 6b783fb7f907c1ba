//! PostgreSQL aborts one of two deadlocked transactions (40P01): a write that loses is run
//! again and succeeds (issue 11, 1.11). SQLite serialises its writers and cannot deadlock.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{BookDraft, Precondition, RawBook, StockMovementDraft};
use common::{ctx, Harness};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

async fn deadlocks(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(deadlocks, 0) FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_loses_a_deadlock_is_retried_and_succeeds() {
    let harness = Harness::postgres().await;
    let url = harness.pg_url().unwrap().to_owned();
    let cat = harness.store.catalog();
    let raw = RawBook {
        isbn: Some("9780261103344".into()),
        title: Some("Contended".into()),
        quantity: Some(5),
        ..RawBook::default()
    };
    let book = cat
        .create_book(&BookDraft::parse(&raw).unwrap(), &ctx(), None)
        .await
        .unwrap();
    let mut watcher = PgConnection::connect(&url).await.unwrap();
    let deadlocks_before = deadlocks(&mut watcher).await;

    // The other transaction holds what the write needs last (the movements table) and is
    // slow to look for deadlocks, so that the write is the one PostgreSQL aborts.
    let mut other = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "BEGIN; SET LOCAL deadlock_timeout = '60s'; \
         LOCK TABLE stock_movements IN EXCLUSIVE MODE",
    )
    .execute(&mut other)
    .await
    .unwrap();

    let writer = {
        let cat = cat.clone();
        tokio::spawn(async move {
            let sale = StockMovementDraft::parse("sale", 2, None).unwrap();
            cat.record_stock_movement(book.id, &Precondition::Any, &sale, &ctx(), None)
                .await
        })
    };
    // Wait until the write holds the book's row and waits for the table.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO stock_movements%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Now wait for the book: a cycle. Getting the row proves the write was aborted.
    sqlx::query("SELECT 1 FROM books WHERE id = $1 FOR UPDATE")
        .bind(book.id.as_uuid())
        .execute(&mut other)
        .await
        .expect("the write, not this transaction, is the deadlock's victim");
    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();

    let (after, movement) = writer.await.unwrap().expect("the retried write succeeds");
    assert_eq!((after.quantity.get(), after.version), (3, 2));
    assert_eq!(movement.quantity_after, 3);
    // Applied once: the receipt of the created stock and the sale.
    let moves = cat
        .stock_movements(book.id, &bookstore_core::PageRequest::default())
        .await
        .unwrap();
    assert_eq!(moves.items.len(), 2);
    // And PostgreSQL counted the deadlock (its statistics arrive within a second or so).
    let deadline = Instant::now() + Duration::from_secs(10);
    while deadlocks(&mut watcher).await <= deadlocks_before {
        assert!(Instant::now() < deadline, "no deadlock was recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut watcher)
            .await
            .unwrap();
    }
    let _ = watcher.close().await;
    let _ = other.close().await;
    harness.finish().await;
}
