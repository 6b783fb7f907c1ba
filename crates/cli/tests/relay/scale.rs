//! Two relays on one PostgreSQL, and a third that takes over when one stops: many events over
//! many books, each published exactly once, each book's in version order, positions strictly
//! increasing and none missing.

use super::*;
use bookstore_core::outbox::OUTBOX_PARTITIONS;
use std::sync::atomic::AtomicUsize;

/// Counts what one relay published, on the bus all of them share.
struct CountingBus {
    shared: Arc<RecordingBus>,
    accepted: AtomicUsize,
}

#[async_trait]
impl EventBus for CountingBus {
    fn name(&self) -> &'static str {
        "counting"
    }

    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        let results = self.shared.publish(events).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        self.accepted.fetch_add(ok, Ordering::SeqCst);
        results
    }

    async fn health(&self) -> BusHealth {
        BusHealth::Up
    }
}

fn counting(shared: &Arc<RecordingBus>) -> Arc<CountingBus> {
    Arc::new(CountingBus {
        shared: shared.clone(),
        accepted: AtomicUsize::new(0),
    })
}

const WRITERS: u32 = 4;
const BOOKS_PER_WRITER: u32 = 10;

/// Creates a writer's books and edits each once.
async fn create_books(cat: Arc<dyn CatalogStore>, writer: u32) -> Vec<Book> {
    let mut books = Vec::new();
    for i in 0..BOOKS_PER_WRITER {
        books.push(create(&cat, writer * 1000 + i).await);
    }
    edit(cat, writer, books, 1).await
}

/// Edits each of a writer's books `rounds` times, round by round.
async fn edit(
    cat: Arc<dyn CatalogStore>,
    writer: u32,
    mut books: Vec<Book>,
    rounds: u32,
) -> Vec<Book> {
    for round in 0..rounds {
        for (i, book) in books.iter_mut().enumerate() {
            let n = writer * 1000 + u32::try_from(i).unwrap();
            *book = retitle(&cat, book, n, &format!("Edit {round} {}", book.version)).await;
        }
    }
    books
}

/// The catalog of the replica writer `writer` writes through.
fn catalog(writer: u32, a: &Store, b: &Store) -> Arc<dyn CatalogStore> {
    if writer & 1 == 0 {
        a.catalog()
    } else {
        b.catalog()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_relays_publish_each_event_once_in_book_order() {
    let harness = Harness::postgres().await;
    let a_store = &harness.store;
    let b_store = harness.replica().await;
    let shared = RecordingBus::new();

    // Relay A gets half of the partitions (the other half is held here meanwhile), and does
    // not come back for more for an hour; relay B gets the rest.
    let mut held = b_store.outbox().leases().await.unwrap();
    let half: Vec<u16> = (OUTBOX_PARTITIONS / 2..OUTBOX_PARTITIONS).collect();
    assert_eq!(held.try_lease(&half).await.unwrap(), half);
    let a_bus = counting(&shared);
    let (a, _) = relay(
        a_store,
        a_bus.clone(),
        config(Duration::from_millis(200), Duration::from_secs(3600)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(held);
    let b_bus = counting(&shared);
    let (b, _) = relay(
        &b_store,
        b_bus.clone(),
        config(Duration::from_millis(200), Duration::from_millis(100)),
    )
    .await;

    // Writers on both replicas at once.
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let cat = catalog(writer, a_store, &b_store);
        writers.push(tokio::spawn(create_books(cat, writer)));
    }
    let mut books = Vec::new();
    for writer in writers {
        books.push(writer.await.unwrap());
    }
    let first = usize::try_from(WRITERS * BOOKS_PER_WRITER * 2).unwrap();
    eventually(
        Duration::from_secs(20),
        "the first events published",
        || shared.count() == first,
    )
    .await;
    assert!(a_bus.accepted.load(Ordering::SeqCst) > 0, "A published");
    assert!(b_bus.accepted.load(Ordering::SeqCst) > 0, "B published");

    // B stops (handing its partitions back); C takes over while the writers go on.
    b.stop().await;
    let c_bus = counting(&shared);
    let (c, _) = relay(
        &b_store,
        c_bus.clone(),
        config(Duration::from_millis(200), Duration::from_millis(100)),
    )
    .await;
    let mut writers = Vec::new();
    for (writer, books) in (0..WRITERS).zip(books) {
        let cat = catalog(writer, a_store, &b_store);
        writers.push(tokio::spawn(edit(cat, writer, books, 2)));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let total = first * 2;
    eventually(Duration::from_secs(30), "every event published", || {
        shared.count() == total
    })
    .await;
    // Marked after the bus took them: wait for the log to be whole.
    let log = a_store.event_log();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.head().await.unwrap() < i64::try_from(total).unwrap() {
        assert!(Instant::now() < deadline, "not all marked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(shared.count(), total, "nothing published twice");
    assert_once_in_book_order(&shared.accepted());
    assert_log_is_whole(a_store, total).await;
    assert!(
        c_bus.accepted.load(Ordering::SeqCst) > 0,
        "C took B's partitions over"
    );
    assert_eq!(a_store.outbox().backlog().await.unwrap().unpublished, 0);

    a.stop().await;
    c.stop().await;
    b_store.close().await;
    harness.finish().await;
}
