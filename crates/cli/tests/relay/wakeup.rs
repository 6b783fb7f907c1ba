//! A commit wakes the relay: with the safety-net poll an hour apart, an event is published
//! within a second of its commit (both stores).

use super::*;

async fn a_commit_is_published_within_a_second(harness: Harness) {
    let store = &harness.store;
    let bus = RecordingBus::new();
    let hour = Duration::from_secs(3600);
    let (relay, signal) = relay(store, bus.clone(), config(hour, hour)).await;
    // Let the relay lease its partitions and go to sleep.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cat = store.catalog();
    for n in 0..3 {
        let committed = Instant::now();
        let book = create(&cat, n).await;
        eventually(Duration::from_secs(1), "published within a second", || {
            bus.accepted()
                .iter()
                .any(|e| e.aggregate_id == book.id.as_uuid())
        })
        .await;
        assert!(committed.elapsed() < Duration::from_secs(1));
    }
    eventually(
        Duration::from_secs(1),
        "the relay announces what it marked",
        || signal.head() == 3,
    )
    .await;
    relay.stop().await;
    harness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_commit_wakes_the_relay() {
    a_commit_is_published_within_a_second(Harness::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_commit_wakes_the_relay() {
    a_commit_is_published_within_a_second(Harness::postgres().await).await;
}
