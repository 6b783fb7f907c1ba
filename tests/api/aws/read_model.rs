//! The DynamoDB read model (issue 19 §5): the `subscribers` role keeps a table of the books
//! from the events on an SQS FIFO queue subscribed to the SNS topic, each write conditional on
//! the book's version. Shown: after 1,000 mixed writes the table equals the store, also with a
//! shuffled, doubled copy of every event sent to the queue again and written by a second
//! consumer racing the subscriber, and a table fed only that shuffled copy converges too;
//! `bookstore index rebuild --target dynamodb`, run while writes go on, restores lost items,
//! removes those of books the store does not have, and keeps books created meanwhile; a
//! message that is not an event and a book event without its book go to the dead-letter queue.

use super::mixed::{compare, converges, mixed_writes, snapshot, store_books, Dice};
use super::{env_with, fanout, unique, Fanout};
use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use bookstore_aws::dynamodb::subscriber::{apply, Outcome};
use bookstore_aws::dynamodb::Written;
use bookstore_aws::testing::{create_books_table, Moto};
use bookstore_aws::BooksTable;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WRITES: u32 = 1_000;

/// A second FIFO queue subscribed to the topic: the test's own copy of every event.
async fn copy_queue(config: &aws_config::SdkConfig, fanout: &Fanout) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("copy")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create the copy queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    aws_sdk_sns::Client::new(config)
        .subscribe()
        .topic_arn(&fanout.topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe the copy queue");
    url
}

/// Every message of `queue` until `count` have been read (each deleted once read), within
/// `seconds`.
async fn drain(
    config: &aws_config::SdkConfig,
    queue: &str,
    count: usize,
    seconds: u64,
) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while bodies.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} events reached the copy queue",
            bodies.len()
        );
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for message in received.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    bodies
}

/// Sends `bodies` to the FIFO `queue` again, each in a group of its own (so that nothing keeps
/// them in order) with a fresh deduplication id (so that none is dropped as a copy).
///
/// With a `backlog`, each batch waits until the queue holds no more than that many messages
/// (visible or in flight): every message moto sends or receives costs time in proportion to
/// the messages on its queue, so 2,000 sent at once took minutes of moto's CPU (about 4 of the
/// test's 7.5), against seconds when its consumer keeps up. The messages, their order and
/// their groups are the same either way.
async fn resend(
    config: &aws_config::SdkConfig,
    queue: &str,
    bodies: &[String],
    backlog: Option<u64>,
) {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    let sqs = aws_sdk_sqs::Client::new(config);
    let deadline = Instant::now() + Duration::from_secs(300);
    for (n, chunk) in bodies.chunks(10).enumerate() {
        if let Some(backlog) = backlog {
            loop {
                let left = queued(config, queue).await;
                if left <= backlog {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the queue's consumer left {left} messages on it"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_group_id(format!("replay-{n}-{i}"))
                    .message_deduplication_id(uuid::Uuid::now_v7().simple().to_string())
                    .build()
                    .expect("entry")
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("send again");
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
}

/// Writes `events` to `table` by several writers at once; counts what was applied and stale.
async fn apply_all(table: &BooksTable, events: &[Value]) -> (usize, usize) {
    use futures_util::StreamExt;
    let outcomes: Vec<Outcome> = futures_util::stream::iter(events)
        .map(|event| async move { apply(table, event).await.expect("apply") })
        .buffer_unordered(8)
        .collect()
        .await;
    let applied = outcomes
        .iter()
        .filter(|o| **o == Outcome::Written(Written::Applied))
        .count();
    let stale = outcomes
        .iter()
        .filter(|o| **o == Outcome::Written(Written::Stale))
        .count();
    (applied, stale)
}

/// Messages on `queue`, visible or in flight.
async fn queued(config: &aws_config::SdkConfig, queue: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName;
    aws_sdk_sqs::Client::new(config)
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default()
        .values()
        .map(|n| n.parse::<u64>().unwrap_or(0))
        .sum()
}

async fn table(config: &aws_config::SdkConfig) -> BooksTable {
    let name = unique("books");
    create_books_table(config, &name).await;
    BooksTable::new(config, name)
}

async fn serve(moto: &Moto, fanout: &Fanout, table: &BooksTable) -> TestApp {
    let moto_env = moto.env();
    let env = env_with(
        &moto_env,
        &[
            ("BOOKSTORE_SNS_TOPIC_ARN", fanout.topic_arn.as_str()),
            ("BOOKSTORE_SQS_QUEUE_URL", fanout.queue_url.as_str()),
            ("BOOKSTORE_SQS_VISIBILITY_TIMEOUT", "5"),
            ("BOOKSTORE_DYNAMODB_TABLE", table.name()),
            ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ],
    );
    spawn_with(Backend::Sqlite, &env).await
}

#[tokio::test]
async fn the_dynamodb_table_converges_after_1000_mixed_writes_delivered_twice_out_of_order() {
    let Some(moto) = Moto::start("the_dynamodb_table_converges_after_1000_mixed_writes") else {
        return;
    };
    let _turn = heavy_turn().await;
    let config = moto.sdk_config();
    let fanout = fanout(&config, 3).await;
    let copy = copy_queue(&config, &fanout).await;
    let live = table(&config).await;
    let app = serve(&moto, &fanout, &live).await;

    let started = Instant::now();
    // The copy of every event is taken off the copy queue as the relay publishes it (a short
    // queue costs moto little, see `resend`); when all are there, for the figures: what of
    // the time to converge is the relay's and what the subscriber's.
    let (([created, updated, moved, deleted], written), bodies) = tokio::join!(
        async {
            let counts = mixed_writes(&app, 100_000, WRITES, 4).await;
            (counts, started.elapsed())
        },
        drain(&config, &copy, WRITES as usize, 600)
    );
    let writes = (created + updated + moved + deleted) as usize;
    assert_eq!(writes, WRITES as usize);
    let published = started.elapsed();
    let live_state = converges(&app, &live, 300, "the live subscriber").await;
    let converged = started.elapsed();
    assert_eq!(live_state.tombstones, deleted as usize);

    // Every event again, twice, shuffled: sent to the subscriber's queue in groups of their
    // own, and written at once by a second consumer racing the subscriber.
    let mut events: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).expect("a CloudEvent"))
        .collect();
    events.extend(events.clone());
    let mut dice = Dice::new(19);
    dice.shuffle(&mut events);
    let again: Vec<String> = events.iter().map(Value::to_string).collect();
    // The second consumer writes while the copies are being sent and the subscriber takes
    // them off its queue.
    let ((), (applied, stale)) = tokio::join!(
        resend(&config, &fanout.queue_url, &again, Some(100)),
        apply_all(&live, &events)
    );
    assert_eq!(
        (applied, stale),
        (0, 2 * writes),
        "every copy is older than or equal to what the table has"
    );
    // A table fed only the shuffled, doubled events ends equal to the store as well.
    let fresh = table(&config).await;
    let (fresh_applied, fresh_stale) = apply_all(&fresh, &events).await;
    assert!(fresh_stale >= writes, "each event's second copy is stale");
    converges(&app, &fresh, 10, "a table fed the shuffled, doubled events").await;
    // The subscriber has taken the copies off its queue and the table is unchanged.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = queued(&config, &fanout.queue_url).await;
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} copies still on the queue"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let store = store_books(&app).await;
    compare(&store, &snapshot(&live).await).expect("the live table after the copies");
    eprintln!(
        "DynamoDB read model: {WRITES} writes ({created} creates, {updated} updates, {moved} \
         stock moves, {deleted} deletes) by 4 clients in {:.1} s, all published to SNS after \
         {:.1} s, table equal to the store {:.1} s after the first write; {} events sent again twice shuffled: all {stale} \
         stale on the live table; a fresh table fed them: {fresh_applied} applied, \
         {fresh_stale} stale, equal to the store",
        written.as_secs_f64(),
        published.as_secs_f64(),
        converged.as_secs_f64(),
        writes,
    );
}

#[tokio::test]
async fn index_rebuild_target_dynamodb_restores_the_table_while_writes_go_on() {
    let Some(moto) = Moto::start("index_rebuild_target_dynamodb_restores_the_table") else {
        return;
    };
    let _turn = heavy_turn().await;
    let config = moto.sdk_config();
    let fanout = fanout(&config, 3).await;
    let live = table(&config).await;
    // Poison: a message that is not an event, and a book event the table cannot take (an
    // update without its book). Both end in the dead-letter queue; the rest goes on.
    let poison = [
        "not an event".to_owned(),
        json!({"id": uuid::Uuid::now_v7(), "type": "bookstore.book.updated",
               "subject": uuid::Uuid::now_v7(), "version": 2})
        .to_string(),
    ];
    resend(&config, &fanout.queue_url, &poison, None).await;
    let app = serve(&moto, &fanout, &live).await;
    mixed_writes(&app, 200_000, 300, 3).await;
    converges(&app, &live, 300, "before the rebuild").await;

    // Damage: items lost, and items of books the store never had.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let before = snapshot(&live).await;
    let lost: Vec<&String> = before.books.keys().step_by(3).collect();
    for id in &lost {
        dynamodb
            .delete_item()
            .table_name(live.name())
            .key("id", AttributeValue::S((*id).clone()))
            .send()
            .await
            .expect("delete an item");
    }
    let strays = 5;
    for n in 0..strays {
        let mut book = before.books.values().next().expect("a book").clone();
        book["id"] = json!(uuid::Uuid::now_v7());
        book["isbn"] = json!(isbn(290_000 + n));
        live.put_book(&book).await.expect("a stray item");
    }

    // The rebuild, while clients write (creates and deletes included).
    let moto_env = moto.env();
    let data_dir = app.data_dir.path().to_owned();
    let table_name = live.name().to_owned();
    let rebuild = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(binary());
        command
            .args(["index", "rebuild", "--target", "dynamodb"])
            .env("BOOKSTORE_DATA_DIR", data_dir)
            .env("BOOKSTORE_DYNAMODB_TABLE", table_name)
            .env("BOOKSTORE_LOG", "warn");
        for (name, value) in moto_env {
            command.env(name, value);
        }
        command.output().expect("run bookstore index rebuild")
    });
    let (rebuilt, writes) = tokio::join!(rebuild, mixed_writes(&app, 300_000, 300, 3));
    let rebuilt = rebuilt.expect("join");
    let said = String::from_utf8_lossy(&rebuilt.stdout).into_owned();
    assert!(
        rebuilt.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let removed: u64 = said
        .split(", ")
        .find_map(|part| part.strip_suffix(" items of deleted books removed"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count of removed items in: {said}"));
    assert!(removed >= strays as u64, "{said}");
    // Every book of the store is there (the lost items too), the strays are not.
    converges(&app, &live, 300, "after the rebuild").await;
    let dead = drain(&config, &fanout.dlq_url, poison.len(), 300).await;
    let mut dead_sorted = dead.clone();
    dead_sorted.sort();
    let mut poison_sorted = poison.to_vec();
    poison_sorted.sort();
    assert_eq!(dead_sorted, poison_sorted, "the dead-letter queue");
    eprintln!(
        "index rebuild --target dynamodb during {} more writes: {} lost items and {strays} \
         stray ones; {}",
        writes.iter().sum::<u32>(),
        lost.len(),
        said.trim()
    );
}
