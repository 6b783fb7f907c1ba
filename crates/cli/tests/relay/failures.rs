//! A bus that fails: events wait in the outbox, unpublished, and go out later, each once and
//! in per-book order, even when the bus takes some events of a wave and not others.

use super::*;

async fn a_failing_bus_loses_nothing_and_keeps_book_order(harness: Harness) {
    let store = &harness.store;
    let cat = store.catalog();
    let bus = RecordingBus::refusing(|_, _| true);
    let (relay, signal) = relay(
        store,
        bus.clone(),
        config(Duration::from_millis(100), Duration::from_millis(100)),
    )
    .await;
    let mut books = Vec::new();
    for n in 0..6 {
        books.push(create(&cat, n).await);
    }
    for round in 0..3 {
        for (n, book) in books.iter_mut().enumerate() {
            let n = u32::try_from(n).unwrap();
            *book = retitle(&cat, book, n, &format!("Round {round}")).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bus.count(), 0);
    assert_eq!(store.outbox().backlog().await.unwrap().unpublished, 24);
    assert_eq!(store.event_log().head().await.unwrap(), 0);

    // Back, but taking only two events of three for a while: waves go through in part.
    bus.set_refuse(|_, n| n % 3 == 0 && n < 200);
    eventually(
        Duration::from_secs(20),
        "every event published and marked",
        || signal.head() == 24,
    )
    .await;
    assert_eq!(bus.count(), 24);
    assert_once_in_book_order(&bus.accepted());
    assert_eq!(store.outbox().backlog().await.unwrap().unpublished, 0);
    assert_log_is_whole(store, 24).await;
    relay.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_failing_bus_loses_nothing() {
    a_failing_bus_loses_nothing_and_keeps_book_order(Harness::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_failing_bus_loses_nothing() {
    a_failing_bus_loses_nothing_and_keeps_book_order(Harness::postgres().await).await;
}
