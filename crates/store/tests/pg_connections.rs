//! PostgreSQL connections that die or are abandoned halfway: the store's pools recover
//! without handing the failure to more than the read that found it.

#![allow(clippy::unwrap_used)]

mod common;

use bookstore_core::{BookDraft, BookId, CatalogStore, RawBook};
use bookstore_store::testing;
use common::{ctx, Harness};
use futures_util::future::join_all;
use sqlx::Connection;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

async fn create(catalog: &Arc<dyn CatalogStore>, isbn: &str, title: &str) -> BookId {
    let draft = BookDraft::parse(&RawBook {
        isbn: Some(isbn.into()),
        title: Some(title.into()),
        ..RawBook::default()
    })
    .unwrap();
    catalog.create_book(&draft, &ctx(), None).await.unwrap().id
}

/// Ends every session of the store (as a server restart or an administrator would).
async fn terminate_sessions(url: &str) -> i64 {
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&testing::admin_url())
        .await
        .unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'bookstore'",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    ended
}

#[tokio::test]
async fn reads_and_writes_recover_after_the_server_ends_their_sessions() {
    let harness = Harness::postgres().await;
    let catalog = harness.store.catalog();
    let id = create(&catalog, "9780261102217", "The Hobbit").await;
    // Several pooled read connections, all alive.
    let reads = (0..4).map(|_| catalog.get_book(id));
    for read in join_all(reads).await {
        assert!(read.unwrap().is_some());
    }

    assert!(terminate_sessions(harness.pg_url().unwrap()).await >= 1);

    // The first read may land on a dead connection and fail; every later one must succeed,
    // on whichever pooled connection it gets.
    let mut failures = 0;
    for attempt in 0..10 {
        match catalog.get_book(id).await {
            Ok(book) => assert_eq!(book.unwrap().title, "The Hobbit"),
            Err(error) => {
                assert_eq!(attempt, 0, "read {attempt} failed after recovery: {error}");
                failures += 1;
            }
        }
    }
    assert!(failures <= 1);
    // Writes check their connection before use.
    create(&catalog, "9780547928227", "The Hobbit (anniversary)").await;

    harness.finish().await;
}

#[tokio::test]
async fn a_read_dropped_halfway_does_not_leak_its_answer_into_the_next() {
    let harness = Harness::postgres().await;
    let catalog = harness.store.catalog();
    let first = create(&catalog, "9780261102217", "The Hobbit").await;
    let second = create(&catalog, "9780547928227", "Dune").await;

    for _ in 0..20 {
        // Polled once, the read has sent its statement and waits for the answer; then the
        // caller goes away (a client that disconnected, a request timeout).
        {
            let mut abandoned = pin!(catalog.get_book(first));
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if let Poll::Ready(done) = abandoned.as_mut().poll(&mut cx) {
                done.unwrap();
            }
        }
        let book = catalog.get_book(second).await.unwrap().unwrap();
        assert_eq!(book.title, "Dune");
        assert_eq!(book.id, second);
    }

    harness.finish().await;
}
