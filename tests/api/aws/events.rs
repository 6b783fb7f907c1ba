//! Events on SNS (issue 19 §2): a burst of writes arrives on an SQS FIFO queue subscribed to
//! the FIFO topic in each book's order, once each; a poison message on the queue goes to its
//! dead-letter queue and holds nothing up. The queue is read by `bookstore events tail --sqs`.

use super::{env_with, fanout, run_cli};
use crate::helpers::*;
use bookstore_aws::testing::Moto;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const BOOKS: u32 = 8;
/// Stock movements per book after its creation.
const MOVES: usize = 6;

/// Creates a book and moves its stock `MOVES` times; returns its id and last version.
async fn write_book(app: &TestApp, n: u32) -> (String, i64) {
    let mut book = hobbit();
    book["isbn"] = json!(isbn(9_000 + n));
    book["title"] = json!(format!("Burst {n}"));
    let created = app.create_book(book).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let mut version = created["version"].as_i64().expect("version");
    for _ in 0..MOVES {
        let response = app
            .request(Method::POST, &format!("/books/{id}/stock-movements"))
            .json(&json!({"kind": "receive", "quantity": 1}))
            .send()
            .await
            .expect("POST");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
        version += 1;
    }
    (id, version)
}

#[tokio::test]
async fn a_burst_of_writes_reaches_an_sqs_fifo_queue_in_per_book_order_once_each() {
    let Some(moto) = Moto::start("a_burst_of_writes_reaches_an_sqs_fifo_queue") else {
        return;
    };
    let config = moto.sdk_config();
    let fanout = fanout(&config, 2).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    sqs.send_message()
        .queue_url(&fanout.queue_url)
        .message_body("this is not an event")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .expect("send poison");

    let moto_env = moto.env();
    let env = env_with(
        &moto_env,
        &[
            ("BOOKSTORE_SNS_TOPIC_ARN", fanout.topic_arn.as_str()),
            ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ],
    );
    let app = spawn_with(Backend::Sqlite, &env).await;
    let writes = futures_util::future::join_all((0..BOOKS).map(|n| write_book(&app, n))).await;
    let expected: BTreeMap<String, i64> = writes.into_iter().collect();
    let total: i64 = expected.values().sum();

    // Read as an operator would, a few runs of the tail (each deletes what it printed).
    let mut received: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while (received.len() as i64) < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} events arrived; server log:\n{}",
            received.len(),
            app.logs()
        );
        let output = run_cli(
            &moto,
            &[
                "events",
                "tail",
                "--sqs",
                &fanout.queue_url,
                "--no-follow",
                "--sqs-visibility-timeout",
                "5",
            ],
        );
        assert!(
            output.status.success(),
            "tail failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let line: Value = serde_json::from_str(line).expect("a JSON line");
            received.push(line["event"].clone());
        }
    }

    let mut ids = HashSet::new();
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for event in &received {
        assert!(
            ids.insert(event["id"].as_str().expect("id").to_owned()),
            "twice: {event}"
        );
        versions
            .entry(event["subject"].as_str().expect("subject").to_owned())
            .or_default()
            .push(event["version"].as_i64().expect("version"));
    }
    for (book, last) in &expected {
        let seen = versions.get(book).cloned().unwrap_or_default();
        let want: Vec<i64> = (1..=*last).collect();
        assert_eq!(seen, want, "events of {book} out of order or missing");
    }
    assert_eq!(received.len() as i64, total);

    // The poison message: received, handed back, and moved to the dead-letter queue after
    // its second receive; the tail carried on past it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dead = sqs
            .receive_message()
            .queue_url(&fanout.dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the dlq");
        if let Some(message) = dead.messages().first() {
            assert_eq!(message.body(), Some("this is not an event"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the DLQ"
        );
        let output = run_cli(
            &moto,
            &["events", "tail", "--sqs", &fanout.queue_url, "--no-follow"],
        );
        assert!(output.status.success());
        assert!(output.stdout.is_empty(), "no event is left to print");
    }
    eprintln!(
        "SNS/SQS: {total} events from {BOOKS} books arrived once each, in per-book order; \
         the poison message went to the dead-letter queue"
    );
}
