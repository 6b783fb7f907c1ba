//! How long renaming an author of 10,000 books takes on PostgreSQL (issue 11, 1.3): every
//! book gets a new version, a history row and an event in the rename's transaction.
//!
//! `cargo test --release -p bookstore-store --test rename_timing -- --ignored --nocapture`

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{AuthorDraft, BookDraft, RawBook, RawContributor};
use bookstore_store::testing;
use common::{ctx, Harness};
use sqlx::{Connection, PgConnection};
use std::time::Instant;

const BOOKS: i64 = 10_000;

#[tokio::test]
#[ignore = "a measurement: run it in a release build"]
async fn rename_an_author_of_ten_thousand_books() {
    let harness = Harness::postgres().await;
    let cat = harness.store.catalog();
    let raw = RawBook {
        isbn: Some("9780261103344".into()),
        title: Some("The first".into()),
        authors: vec![RawContributor {
            name: Some("Prolific Writer".into()),
            ..RawContributor::default()
        }],
        ..RawBook::default()
    };
    let first = cat
        .create_book(&BookDraft::parse(&raw).unwrap(), &ctx(), None)
        .await
        .unwrap();
    let author = first.authors[0].author_id;
    // The other books in one statement: the write paths are not what is measured.
    let mut conn = PgConnection::connect(harness.pg_url().unwrap())
        .await
        .unwrap();
    sqlx::query(
        "WITH new AS (INSERT INTO books (id, isbn, title, sort_title, quantity, reorder_point, \
         version, created_at, updated_at) \
         SELECT gen_random_uuid(), body || ((10 - (SELECT sum(substr(body, k, 1)::int * \
         (CASE WHEN k % 2 = 1 THEN 1 ELSE 3 END)) FROM generate_series(1, 12) AS k) % 10) % 10), \
         'Book ' || i, 'book ' || i, 1, 0, 1, now(), now() \
         FROM generate_series(1, $1) AS i, LATERAL (SELECT '979' || lpad(i::text, 9, '0') AS body) n \
         RETURNING id) \
         INSERT INTO book_authors (book_id, author_id, position, role) \
         SELECT id, $2, 0, 'author' FROM new",
    )
    .bind(BOOKS - 1)
    .bind(author.as_uuid())
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    let history_before = testing::count_rows(&harness.store, "book_history").await;

    let started = Instant::now();
    cat.update_author(
        author,
        &AuthorDraft::parse(Some("Prolific Writer Jr."), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();
    println!("renaming an author of {BOOKS} books on PostgreSQL: {elapsed:?}");

    assert_eq!(
        testing::count_rows(&harness.store, "book_history").await,
        history_before + BOOKS
    );
    let versions: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, count(*) FROM books GROUP BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, [(2, BOOKS)]);
    let _ = conn.close().await;
    harness.finish().await;
}
