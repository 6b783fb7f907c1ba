//! An identity column's order is not commit order: a transaction that took an outbox row's
//! `seq` early and commits late must still be published, after the ones that committed
//! first, and a reader of "events after the last position I saw" must not skip it.

use super::*;
use bookstore_core::outbox::partition_of;
use sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_late_commit_is_published_and_nothing_is_skipped() {
    let harness = Harness::postgres().await;
    let store = &harness.store;
    let cat = store.catalog();
    let bus = RecordingBus::new();
    let (relay, signal) = relay(
        store,
        bus.clone(),
        config(Duration::from_secs(60), Duration::from_secs(60)),
    )
    .await;
    let first = create(&cat, 1).await;
    eventually(Duration::from_secs(5), "the first event", || {
        bus.count() == 1
    })
    .await;

    // A reader of the log that resumes after the last position it saw, as a consumer does.
    let log = store.event_log();
    let reader = {
        let log = log.clone();
        let signal = signal.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = 0;
            while seen.len() < 12 {
                for event in log.read_after(last, 100, &[]).await.unwrap() {
                    last = event.position;
                    seen.push((event.position, event.id));
                }
                let _ = tokio::time::timeout(
                    Duration::from_millis(50),
                    bookstore_core::outbox::EventLogSignal::grown_past(&signal, last),
                )
                .await;
            }
            seen
        })
    };

    // Held open: an outbox row of a book in the first book's partition, inserted (so its seq
    // is taken) before the later writes, committed after them.
    let held_book = loop {
        let id = Uuid::now_v7();
        if partition_of(id) == partition_of(first.id.as_uuid()) {
            break id;
        }
    };
    let held_event = Uuid::now_v7();
    let mut held = PgConnection::connect(harness.pg_url.as_deref().unwrap())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at, \
         partition) VALUES ($1, 'book', $2, 'bookstore.book.updated', $3, now(), $4)",
    )
    .bind(held_event)
    .bind(held_book)
    .bind(serde_json::json!({"id": held_event.to_string(), "version": 1}))
    .bind(i16::try_from(partition_of(held_book)).unwrap())
    .execute(&mut held)
    .await
    .unwrap();

    // Later writes, of the same partition and of others, commit and are published.
    let mut book = first.clone();
    for i in 0..5 {
        book = retitle(&cat, &book, 1, &format!("Title {i}")).await;
    }
    for n in 2..7 {
        create(&cat, n).await;
    }
    // Accepted by the bus, then marked: the relay announces the head once marked.
    eventually(Duration::from_secs(5), "the later events", || {
        signal.head() == 11
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        bus.accepted().iter().all(|e| e.id != held_event),
        "an uncommitted event is never published"
    );
    assert_eq!(log.head().await.unwrap(), 11);

    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    // What the store does after each commit of a write (`CommitNotifier`), from this process.
    sqlx::query("SELECT pg_notify('bookstore_outbox', 'late writer')")
        .execute(&mut held)
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the late event", || {
        signal.head() == 12
    })
    .await;
    let accepted = bus.accepted();
    assert_eq!(accepted[11].id, held_event, "published after it committed");
    assert_once_in_book_order(&accepted);

    // The log: what was published, the late event last, nothing skipped. (Partitions are
    // relayed side by side: across partitions, the order of marking and that of the bus's
    // answers may differ.)
    let logged = log.read_after(0, 100, &[]).await.unwrap();
    let mut ids: Vec<Uuid> = logged.iter().map(|e| e.id).collect();
    let mut published: Vec<Uuid> = accepted.iter().map(|e| e.id).collect();
    assert_eq!(logged[11].id, held_event);
    assert_eq!(logged[11].position, 12);
    ids.sort();
    published.sort();
    assert_eq!(ids, published);
    let seen = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the reader saw all twelve")
        .unwrap();
    assert_eq!(
        seen,
        logged
            .iter()
            .map(|e| (e.position, e.id))
            .collect::<Vec<_>>(),
        "the resuming reader skipped nothing"
    );
    assert_log_is_whole(store, 12).await;

    let _ = held.close().await;
    relay.stop().await;
    harness.finish().await;
}
