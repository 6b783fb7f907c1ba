//! The shared book cache against a real Redis (`BOOKSTORE_TEST_REDIS_URL`, by default the one
//! on 127.0.0.1:6379 that `./scripts/test` starts), each test under a key prefix of its own;
//! two connections under one prefix stand for two replicas.

use bookstore_core::shared_cache::SharedBookCache;
use bookstore_core::{Book, BookId, Isbn, Quantity};
use bookstore_redis::{RedisBookCache, RedisSettings};
use chrono::Utc;
use std::time::Duration;

async fn replica(prefix: &str) -> RedisBookCache {
    let url = std::env::var("BOOKSTORE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let settings = RedisSettings {
        url,
        prefix: prefix.to_owned(),
        timeout: Duration::from_millis(500),
    };
    let cache = RedisBookCache::connect(settings, Duration::from_secs(30))
        .await
        .expect("valid URL");
    assert_eq!(
        cache.degraded(),
        None,
        "Redis must be running for these tests"
    );
    cache
}

fn fresh_prefix() -> String {
    format!("bookstore-test:{}:", uuid::Uuid::now_v7().simple())
}

fn book(version: i64) -> Book {
    Book {
        id: BookId::from_uuid(uuid::Uuid::from_u128(42)),
        isbn: Isbn::parse("9780306406157").expect("valid"),
        title: format!("Version {version}"),
        subtitle: None,
        description: Some("Kept in Redis".into()),
        authors: Vec::new(),
        genres: Vec::new(),
        publisher: None,
        published_year: Some(1937),
        language: None,
        format: None,
        page_count: None,
        price: None,
        quantity: Quantity::ZERO,
        reorder_point: Quantity::ZERO,
        reorder_quantity: Quantity::ZERO,
        location: None,
        version,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

async fn cached(cache: &RedisBookCache, id: BookId) -> Option<Book> {
    cache
        .get(id)
        .await
        .expect("Redis answers")
        .entry
        .map(|e| e.book)
}

#[tokio::test]
async fn a_book_stored_by_one_replica_is_served_to_another_by_id_and_isbn() {
    let prefix = fresh_prefix();
    let (a, b) = (replica(&prefix).await, replica(&prefix).await);
    let v1 = book(1);
    let miss = a.get(v1.id).await.expect("Redis answers");
    assert!(miss.entry.is_none());
    a.put(&v1, 17, miss.stamp).await;
    let hit = b.get(v1.id).await.expect("Redis answers");
    let entry = hit.entry.expect("stored");
    assert_eq!(entry.book, v1, "the whole book comes back as it was stored");
    assert_eq!(entry.floor, 17);
    assert_eq!(b.id_of(&v1.isbn).await, Some(v1.id));
}

#[tokio::test]
async fn an_announced_version_drops_older_entries_and_keeps_late_reads_out() {
    let prefix = fresh_prefix();
    let (reader, writer) = (replica(&prefix).await, replica(&prefix).await);
    let id = book(1).id;
    let before = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(1), 1, before).await;
    // A read of version 1 starts; meanwhile version 2 is written and announced.
    let slow_read = reader.get(id).await.expect("answers").stamp;
    writer.saw_version(id, 2).await;
    assert_eq!(cached(&reader, id).await, None, "version 1 is gone");
    reader.put(&book(1), 1, slow_read).await;
    assert_eq!(
        cached(&reader, id).await,
        None,
        "the late read of 1 is not stored"
    );
    let fresh = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(2), 2, fresh).await;
    assert_eq!(cached(&writer, id).await.map(|b| b.version), Some(2));
    // An older announcement (an event that arrives late) changes nothing.
    writer.saw_version(id, 1).await;
    assert_eq!(cached(&reader, id).await.map(|b| b.version), Some(2));
    // A deletion drops every version.
    writer.saw_version(id, i64::MAX).await;
    assert_eq!(cached(&reader, id).await, None);
    let after = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(2), 2, after).await;
    assert_eq!(
        cached(&reader, id).await,
        None,
        "a deleted book is not stored again"
    );
}

#[tokio::test]
async fn a_drop_without_a_version_keeps_reads_from_before_it_out() {
    let prefix = fresh_prefix();
    let (reader, writer) = (replica(&prefix).await, replica(&prefix).await);
    let id = book(1).id;
    let before = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(3), 3, before).await;
    let slow_read = reader.get(id).await.expect("answers").stamp;
    writer.drop_book(id).await;
    assert_eq!(cached(&reader, id).await, None);
    reader.put(&book(3), 3, slow_read).await;
    assert_eq!(cached(&reader, id).await, None, "read before the drop");
    let fresh = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(4), 4, fresh).await;
    assert_eq!(cached(&reader, id).await.map(|b| b.version), Some(4));
}

#[tokio::test]
async fn a_clear_hides_everything_and_keeps_reads_from_before_it_out() {
    let prefix = fresh_prefix();
    let (reader, writer) = (replica(&prefix).await, replica(&prefix).await);
    let id = book(1).id;
    let before = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(1), 1, before).await;
    let slow_read = reader.get(id).await.expect("answers").stamp;
    writer.clear().await;
    assert_eq!(cached(&reader, id).await, None);
    reader.put(&book(1), 1, slow_read).await;
    assert_eq!(cached(&reader, id).await, None);
    let fresh = reader.get(id).await.expect("answers").stamp;
    reader.put(&book(1), 1, fresh).await;
    assert_eq!(cached(&reader, id).await.map(|b| b.version), Some(1));
}

#[tokio::test]
async fn an_unreachable_redis_answers_nothing_and_says_why() {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("address").port();
    let settings = RedisSettings {
        url: format!("redis://127.0.0.1:{port}"),
        prefix: fresh_prefix(),
        timeout: Duration::from_millis(100),
    };
    let cache = RedisBookCache::connect(settings, Duration::from_secs(30))
        .await
        .expect("valid URL");
    assert!(cache.degraded().is_some());
    assert!(cache.get(book(1).id).await.is_none());
    assert_eq!(cache.id_of(&book(1).isbn).await, None);
    // Writes to it return at once without failing anything.
    cache.saw_version(book(1).id, 2).await;
    cache.clear().await;
}
