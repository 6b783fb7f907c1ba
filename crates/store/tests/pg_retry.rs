//! PostgreSQL aborts one of two deadlocked transactions (40P01): a write that loses is run
//! again and succeeds (issue 11, 1.11), in the catalog and in the user store alike. SQLite
//! serialises its writers and cannot deadlock.
//!
//! Each test makes the store's write the victim of a real deadlock: another transaction holds
//! a table the write needs last, and is slow to look for deadlocks; once the write waits for
//! that table, the other asks for a row the write holds.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::auth::{NewUser, UserChange, Username};
use bookstore_core::{BookDraft, Precondition, RawBook, Role, StockMovementDraft};
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

/// A transaction that holds `table` and would wait a minute before looking for a deadlock, so
/// that PostgreSQL picks the store's write as the victim.
async fn hold_table(url: &str, table: &str) -> PgConnection {
    let mut other = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&format!(
        "BEGIN; SET LOCAL deadlock_timeout = '60s'; LOCK TABLE {table} IN EXCLUSIVE MODE"
    ))
    .execute(&mut other)
    .await
    .unwrap();
    other
}

/// Waits until a statement that starts with `statement` waits for a lock.
async fn wait_for_lock_wait(watcher: &mut PgConnection, statement: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE $1 || '%'",
        )
        .bind(statement)
        .fetch_one(&mut *watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the write never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Closes the cycle: `other` asks for a row the write holds. Getting it proves the write was
/// aborted; then `other` commits, and the write's next attempt can go through.
async fn close_the_cycle(other: &mut PgConnection, lock_row: &str, id: uuid::Uuid) {
    sqlx::query(lock_row)
        .bind(id)
        .execute(&mut *other)
        .await
        .expect("the write, not this transaction, is the deadlock's victim");
    sqlx::raw_sql("COMMIT").execute(&mut *other).await.unwrap();
}

/// PostgreSQL counted the deadlock (its statistics arrive within a second or so).
async fn assert_deadlock_recorded(watcher: &mut PgConnection, before: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while deadlocks(watcher).await <= before {
        assert!(Instant::now() < deadline, "no deadlock was recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *watcher)
            .await
            .unwrap();
    }
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

    let mut other = hold_table(&url, "stock_movements").await;
    let writer = {
        let cat = cat.clone();
        tokio::spawn(async move {
            let sale = StockMovementDraft::parse("sale", 2, None).unwrap();
            cat.record_stock_movement(book.id, &Precondition::Any, &sale, &ctx(), None)
                .await
        })
    };
    // The write holds the book's row and waits for the table.
    wait_for_lock_wait(&mut watcher, "INSERT INTO stock_movements").await;
    close_the_cycle(
        &mut other,
        "SELECT 1 FROM books WHERE id = $1 FOR UPDATE",
        book.id.as_uuid(),
    )
    .await;

    let (after, movement) = writer.await.unwrap().expect("the retried write succeeds");
    assert_eq!((after.quantity.get(), after.version), (3, 2));
    assert_eq!(movement.quantity_after, 3);
    // Applied once: the receipt of the created stock and the sale.
    let moves = cat
        .stock_movements(book.id, &bookstore_core::PageRequest::default())
        .await
        .unwrap();
    assert_eq!(moves.items.len(), 2);
    assert_deadlock_recorded(&mut watcher, deadlocks_before).await;
    let _ = watcher.close().await;
    let _ = other.close().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_write_that_loses_a_deadlock_is_retried_and_succeeds() {
    let harness = Harness::postgres().await;
    let url = harness.pg_url().unwrap().to_owned();
    let users = harness.store.users();
    let user = users
        .create_user(
            &NewUser {
                username: Username::parse("contended").unwrap(),
                role: Role::Staff,
                password_hash: "$argon2id$old".into(),
            },
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    let mut watcher = PgConnection::connect(&url).await.unwrap();
    let deadlocks_before = deadlocks(&mut watcher).await;

    // A password reset locks the user's row, changes it, then revokes the user's sign-ins.
    let mut other = hold_table(&url, "refresh_tokens").await;
    let writer = {
        let users = users.clone();
        tokio::spawn(async move {
            let reset = UserChange {
                password_hash: Some("$argon2id$new".into()),
                ..UserChange::default()
            };
            users
                .update_user(
                    user.id,
                    &reset,
                    &bookstore_core::audit::AuditContext::system(),
                )
                .await
        })
    };
    wait_for_lock_wait(&mut watcher, "UPDATE refresh_tokens").await;
    close_the_cycle(
        &mut other,
        "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
        user.id.as_uuid(),
    )
    .await;

    let changed = writer.await.unwrap().expect("the retried write succeeds");
    // Applied once: the epoch moved on by one, and the new hash is stored.
    assert_eq!(changed.token_epoch, user.token_epoch + 1);
    let record = users.get_user(user.id).await.unwrap().unwrap();
    assert_eq!(record.password_hash, "$argon2id$new");
    assert_eq!(record.user.token_epoch, user.token_epoch + 1);
    assert_deadlock_recorded(&mut watcher, deadlocks_before).await;
    let _ = watcher.close().await;
    let _ = other.close().await;
    harness.finish().await;
}
