//! The NATS JetStream bus against a real `nats-server -js` of each test's own (on a port it
//! picks, with its own store directory): the stream set up at start, a subject per event
//! type, `Nats-Msg-Id` de-duplication, success only on JetStream's acknowledgement, and NATS
//! being down at start or later.

use bookstore_core::outbox::PendingEvent;
use bookstore_events::testing::{stream_messages, stream_subjects, NatsServer};
use bookstore_events::{BusError, BusHealth, EventBus, NatsBus, NatsConfig};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn config(url: &str, stream: &str) -> NatsConfig {
    NatsConfig {
        url: url.to_owned(),
        stream: stream.to_owned(),
        subjects: vec!["bookstore.>".to_owned()],
        ca_file: None,
        publish_timeout: Duration::from_secs(5),
    }
}

/// An event as the outbox holds it.
fn event(event_type: &str, book: Uuid, version: i64) -> PendingEvent {
    let id = Uuid::now_v7();
    PendingEvent {
        seq: 0,
        id,
        aggregate_id: book,
        event_type: event_type.to_owned(),
        payload: json!({
            "specversion": "1.0",
            "id": id,
            "source": "/bookstore/catalog",
            "type": event_type,
            "subject": book,
            "time": "2026-12-06T12:00:00Z",
            "datacontenttype": "application/json",
            "version": version,
            "data": {"id": book, "version": version},
        }),
        created_at: chrono::Utc::now(),
    }
}

/// Waits (up to 30 s) until the bus is connected and its stream set up: until a publish of
/// `probe` succeeds.
async fn publish_when_up(bus: &NatsBus, probe: &PendingEvent) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let results = bus.publish(std::slice::from_ref(probe)).await;
        if results[0].is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "never published: {results:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_all_ok(results: &[Result<(), BusError>]) {
    for (i, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "event {i}: {result:?}");
    }
}

#[tokio::test]
async fn each_event_is_a_message_on_its_type_with_its_id_and_cloudevent() {
    let Some(nats) = NatsServer::start("each_event_is_a_message_on_its_type") else {
        return;
    };
    let bus = NatsBus::connect(config(&nats.url(), "EVENTS_A"))
        .await
        .expect("bus");
    let book = Uuid::now_v7();
    let other = Uuid::now_v7();
    let first = event("bookstore.book.created", book, 1);
    publish_when_up(&bus, &first).await;
    let wave = [
        event("bookstore.book.stock_adjusted", book, 2),
        event("bookstore.book.created", other, 1),
        event("bookstore.book.deleted", Uuid::now_v7(), 3),
    ];
    assert_all_ok(&bus.publish(&wave).await);
    assert_eq!(bus.health().await, BusHealth::Up);

    assert_eq!(
        stream_subjects(&nats.url(), "EVENTS_A").await,
        Some(vec!["bookstore.>".to_owned()]),
        "created at start with the configured subjects"
    );
    let stored = stream_messages(&nats.url(), "EVENTS_A").await;
    let sent: Vec<&PendingEvent> = std::iter::once(&first).chain(wave.iter()).collect();
    assert_eq!(stored.len(), sent.len());
    for (message, event) in stored.iter().zip(sent) {
        assert_eq!(message.subject, event.event_type, "the type is the subject");
        assert_eq!(message.message_id, Some(event.id.to_string()));
        assert_eq!(
            message.content_type.as_deref(),
            Some("application/cloudevents+json")
        );
        assert_eq!(
            message.payload, event.payload,
            "the CloudEvent as committed"
        );
    }
}

#[tokio::test]
async fn the_same_event_twice_is_stored_once_and_both_are_successes() {
    let Some(nats) = NatsServer::start("the_same_event_twice_is_stored_once") else {
        return;
    };
    let bus = NatsBus::connect(config(&nats.url(), "EVENTS_B"))
        .await
        .expect("bus");
    let retried = event("bookstore.book.updated", Uuid::now_v7(), 4);
    publish_when_up(&bus, &retried).await;
    // A relay that crashed before marking it published sends it again; so does a second bus
    // (another process) that took over.
    assert_all_ok(&bus.publish(std::slice::from_ref(&retried)).await);
    let other_process = NatsBus::connect(config(&nats.url(), "EVENTS_B"))
        .await
        .expect("bus");
    publish_when_up(&other_process, &retried).await;
    let later = event("bookstore.book.updated", Uuid::now_v7(), 1);
    assert_all_ok(&bus.publish(&[later.clone(), retried.clone()]).await);

    let stored = stream_messages(&nats.url(), "EVENTS_B").await;
    let ids: Vec<Option<String>> = stored.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(
        ids,
        vec![Some(retried.id.to_string()), Some(later.id.to_string())],
        "one copy of each"
    );
    assert_eq!(bus.duplicates_dropped(), 2);
    assert_eq!(other_process.duplicates_dropped(), 1);
}

#[tokio::test]
async fn a_wave_is_published_whole_and_in_order() {
    let Some(nats) = NatsServer::start("a_wave_is_published_whole_and_in_order") else {
        return;
    };
    let bus = NatsBus::connect(config(&nats.url(), "EVENTS_C"))
        .await
        .expect("bus");
    publish_when_up(&bus, &event("bookstore.book.created", Uuid::now_v7(), 1)).await;
    let wave: Vec<PendingEvent> = (0..500)
        .map(|_| event("bookstore.book.created", Uuid::now_v7(), 1))
        .collect();
    let started = Instant::now();
    assert_all_ok(&bus.publish(&wave).await);
    let took = started.elapsed();
    let stored = stream_messages(&nats.url(), "EVENTS_C").await;
    let ids: Vec<String> = stored[1..]
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    let sent: Vec<String> = wave.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, sent);
    // Pipelined: 500 round trips one after the other would take far longer on a busy machine;
    // this only guards against a wave that waits for each acknowledgement in turn.
    assert!(took < Duration::from_secs(5), "a wave of 500 took {took:?}");
}

/// Success means JetStream acknowledged storing the event: one it refuses (here a stream its
/// operator limited to one message, refusing new ones past that) is an error for the relay
/// to retry, never a success.
#[tokio::test]
async fn only_an_acknowledged_event_is_a_success() {
    let Some(nats) = NatsServer::start("only_an_acknowledged_event_is_a_success") else {
        return;
    };
    let bus = NatsBus::connect(config(&nats.url(), "EVENTS_D"))
        .await
        .expect("bus");
    let first = event("bookstore.book.created", Uuid::now_v7(), 1);
    publish_when_up(&bus, &first).await;
    limit_to_one_message(&nats.url(), "EVENTS_D").await;

    let refused = event("bookstore.book.created", Uuid::now_v7(), 1);
    let results = bus.publish(std::slice::from_ref(&refused)).await;
    assert!(
        matches!(
            &results[0],
            Err(BusError::Unavailable(_)) | Err(BusError::Rejected { .. })
        ),
        "{results:?}"
    );
    assert!(
        matches!(bus.health().await, BusHealth::Degraded(_)),
        "a bus that refuses events is degraded"
    );
    assert_eq!(stream_messages(&nats.url(), "EVENTS_D").await.len(), 1);

    // The operator's limit is theirs: a bus starting again keeps it (it only sets subjects).
    let again = NatsBus::connect(config(&nats.url(), "EVENTS_D"))
        .await
        .expect("bus");
    let results = wait_connected_then_publish(&again, &refused).await;
    assert!(results[0].is_err(), "{results:?}");
}

async fn wait_connected_then_publish(
    bus: &NatsBus,
    event: &PendingEvent,
) -> Vec<Result<(), BusError>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bus.connected() {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bus.publish(std::slice::from_ref(event)).await
}

/// Sets the stream's limits as an operator would with the `nats` CLI.
async fn limit_to_one_message(url: &str, stream: &str) {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut handle = js.get_stream(stream).await.expect("stream");
    let mut config = handle.info().await.expect("info").config.clone();
    config.max_messages = 1;
    config.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    js.update_stream(config).await.expect("update");
}

#[tokio::test]
async fn a_stream_with_other_subjects_gets_the_configured_ones() {
    let Some(nats) = NatsServer::start("a_stream_with_other_subjects") else {
        return;
    };
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "EVENTS_E".into(),
        subjects: vec!["legacy.>".into()],
        max_messages: 1000,
        ..Default::default()
    })
    .await
    .expect("create");

    let mut wider = config(&nats.url(), "EVENTS_E");
    wider.subjects = vec!["bookstore.book.*".into(), "legacy.>".into()];
    let bus = NatsBus::connect(wider).await.expect("bus");
    publish_when_up(&bus, &event("bookstore.book.created", Uuid::now_v7(), 1)).await;
    let mut handle = js.get_stream("EVENTS_E").await.expect("stream");
    let info = handle.info().await.expect("info");
    let mut subjects = info.config.subjects.clone();
    subjects.sort();
    assert_eq!(subjects, vec!["bookstore.book.*", "legacy.>"]);
    assert_eq!(info.config.max_messages, 1000, "the operator's limit stays");
}

#[tokio::test]
async fn nats_down_at_start_or_later_never_blocks_and_recovers() {
    let Some(mut nats) = NatsServer::start("nats_down_at_start_or_later") else {
        return;
    };
    nats.stop();
    let started = Instant::now();
    let bus = NatsBus::connect(config(&nats.url(), "EVENTS_F"))
        .await
        .expect("a bus even with NATS down");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "start waited for NATS: {:?}",
        started.elapsed()
    );
    assert!(matches!(bus.health().await, BusHealth::Degraded(_)));
    let waiting = event("bookstore.book.created", Uuid::now_v7(), 1);
    let started = Instant::now();
    let results = bus.publish(std::slice::from_ref(&waiting)).await;
    assert!(
        matches!(results[0], Err(BusError::Unavailable(_))),
        "{results:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a publish while NATS is down waited"
    );

    nats.restart();
    publish_when_up(&bus, &waiting).await;
    assert_eq!(bus.health().await, BusHealth::Up);

    // Down again, later: answered at once, degraded; back: published, once each.
    nats.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bus.connected() {
        assert!(Instant::now() < deadline, "the outage was not noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during = event("bookstore.book.updated", waiting.aggregate_id, 2);
    let results = bus.publish(std::slice::from_ref(&during)).await;
    assert!(
        matches!(results[0], Err(BusError::Unavailable(_))),
        "{results:?}"
    );
    assert!(matches!(bus.health().await, BusHealth::Degraded(_)));
    nats.restart();
    publish_when_up(&bus, &during).await;
    assert_eq!(bus.health().await, BusHealth::Up);

    let stored = stream_messages(&nats.url(), "EVENTS_F").await;
    let ids: Vec<Option<String>> = stored.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(
        ids,
        vec![Some(waiting.id.to_string()), Some(during.id.to_string())]
    );
}

#[tokio::test]
async fn a_configuration_that_cannot_work_stops_the_start() {
    let mut narrow = config("nats://127.0.0.1:1", "EVENTS_G");
    narrow.subjects = vec!["bookstore.book.created".into()];
    let err = NatsBus::connect(narrow).await.err().expect("refused");
    assert!(err.to_string().contains("bookstore.book.updated"), "{err}");
    let mut missing_ca = config("nats://127.0.0.1:1", "EVENTS_G");
    missing_ca.ca_file = Some("/nonexistent/ca.pem".into());
    let err = NatsBus::connect(missing_ca).await.err().expect("refused");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
