//! The consumers of the published events (issue 12, point 5): `GET /events` (Server-Sent
//! Events) and `bookstore events tail`, on both stores, with the relay of `serve` publishing.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an event may take from commit to a stream: the relay wakes at commit, so this is
/// a bound for a slow test machine, not an expectation.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// Reads Server-Sent Events from a response as they come.
pub struct SseReader {
    response: Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), 200);
        assert!(
            header(&response, reqwest::header::CONTENT_TYPE).starts_with("text/event-stream"),
            "{:?}",
            response.headers()
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event with data (comments, keep-alives and `retry:` skipped), or `None` when
    /// the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// `n` events, panicking if they do not come in time.
    pub async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while events.len() < n {
            let event = self.next(WAIT).await;
            events
                .push(event.unwrap_or_else(|| panic!("only {} of {n} events came", events.len())));
        }
        events
    }

    /// Whether the stream ends (the server closed it) within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, String::from("message"), Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse().expect("a numeric id")),
            "event" => event = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
    Some(SseEvent {
        id: id.expect("every event has an id"),
        event,
        data,
    })
}

async fn open(app: &TestApp, path: &str, last_event_id: Option<i64>) -> SseReader {
    let mut request = app.request(Method::GET, path);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.expect("GET /events");
    let status = response.status();
    if status != 200 {
        panic!(
            "{path}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    SseReader::new(response)
}

fn book(n: u32) -> Value {
    json!({
        "isbn": isbn(n),
        "title": format!("Book {n}"),
        "authors": ["Ursula K. Le Guin"],
        "quantity": 3
    })
}

both_stores!(a_create_is_streamed_with_its_trace, |backend| async move {
    let app = spawn(backend).await;
    let mut stream = open(&app, "/events", None).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = app
        .request(Method::POST, "/books")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&book(1))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let created = body(response).await;

    let event = stream.take(1).await.remove(0);
    assert_eq!(event.event, "bookstore.book.created");
    assert!(event.id >= 1, "{event:?}");
    let cloud = &event.data;
    assert_eq!(cloud["specversion"], "1.0");
    assert_eq!(cloud["type"], "bookstore.book.created");
    assert_eq!(cloud["subject"], created["id"]);
    assert_eq!(cloud["data"]["title"], "Book 1");
    assert_eq!(cloud["version"], 1);
    assert_eq!(cloud["actor"], "admin");
    let traceparent = cloud["traceparent"].as_str().expect("traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")) && traceparent.ends_with("-01"),
        "{traceparent}"
    );
});

both_stores!(last_event_id_resumes_exactly_after, |backend| async move {
    let app = spawn(backend).await;
    for n in 1..=3 {
        app.create_book(book(n)).await;
    }
    let all = open(&app, "/events", Some(0)).await.take(3).await;
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let titles: Vec<&Value> = all.iter().map(|e| &e.data["data"]["title"]).collect();
    assert_eq!(titles, ["Book 1", "Book 2", "Book 3"]);

    let mut resumed = open(&app, "/events", Some(ids[0])).await;
    let next: Vec<i64> = resumed.take(2).await.iter().map(|e| e.id).collect();
    assert_eq!(next, ids[1..]);
    // The query parameter does the same, for clients that cannot send the header...
    let mut by_query = open(&app, &format!("/events?last_event_id={}", ids[1]), None).await;
    assert_eq!(by_query.take(1).await[0].id, ids[2]);
    // ...and the header wins when both are sent (a browser reconnecting to a URL with one).
    let mut both = open(&app, "/events?last_event_id=0", Some(ids[1])).await;
    assert_eq!(both.take(1).await[0].id, ids[2]);
    // Nothing more after the last one, until the next change; then it follows.
    assert!(resumed.next(Duration::from_millis(500)).await.is_none());
    app.create_book(book(4)).await;
    let fourth = resumed.take(1).await.remove(0);
    assert!(fourth.id > ids[2]);
    assert_eq!(fourth.data["data"]["title"], "Book 4");

    for bad in ["-1", "abc", "1.5"] {
        let response = app
            .request(Method::GET, "/events")
            .header("Last-Event-ID", bad)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 422, "{bad}");
        assert_eq!(body(response).await["errors"][0]["field"], "Last-Event-ID");
    }
});

both_stores!(types_filter_the_stream, |backend| async move {
    let app = spawn(backend).await;
    let created = app.create_book(book(1)).await;
    let id = created["id"].as_str().expect("id");
    let response = app
        .post_json(
            &format!("/books/{id}/stock-movements"),
            &json!({"kind": "sale", "quantity": 1}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let second = app.create_book(book(2)).await;

    let mut stock = open(&app, "/events?types=bookstore.book.stock_adjusted", Some(0)).await;
    let only = stock.take(1).await.remove(0);
    assert_eq!(only.event, "bookstore.book.stock_adjusted");
    assert_eq!(only.data["data"]["quantity"], 2);
    assert!(stock.next(Duration::from_millis(500)).await.is_none());

    let mut two = open(
        &app,
        "/events?types=bookstore.book.created,bookstore.book.stock_adjusted",
        Some(0),
    )
    .await;
    // Per-book order is the contract; two books' events may interleave either way (the relay
    // publishes the outbox's partitions side by side).
    let received = two.take(3).await;
    let of_book = |book: &str| -> Vec<String> {
        received
            .iter()
            .filter(|e| e.data["subject"] == book)
            .map(|e| e.event.clone())
            .collect()
    };
    assert_eq!(
        of_book(id),
        ["bookstore.book.created", "bookstore.book.stock_adjusted"]
    );
    assert_eq!(
        of_book(second["id"].as_str().expect("id")),
        ["bookstore.book.created"]
    );
    assert!(received.windows(2).all(|w| w[0].id < w[1].id));

    let response = app
        .get("/events?types=bookstore.book.created,book.eaten")
        .await;
    assert_eq!(response.status(), 422);
    let problem = body(response).await;
    assert_eq!(problem["errors"][0]["field"], "types", "{problem}");
    assert!(problem["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("book.eaten")));
});

both_stores!(staff_watch_and_strangers_do_not, |backend| async move {
    let app = spawn(backend).await;
    let response = app
        .anonymous(Method::GET, "/events")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    assert!(header(&response, reqwest::header::WWW_AUTHENTICATE).starts_with("Bearer"));

    app.add_user("clerk", "tram orbit velvet quinoa", "staff")
        .await;
    let staff = app.sign_in("clerk", "tram orbit velvet quinoa").await;
    let response = app
        .anonymous(Method::GET, "/events")
        .bearer_auth(&staff)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .expect("GET");
    let mut stream = SseReader::new(response);
    app.create_book(book(1)).await;
    assert_eq!(stream.take(1).await[0].event, "bookstore.book.created");
});

both_stores!(a_failed_write_publishes_nothing, |backend| async move {
    let app = spawn(backend).await;
    let first = app.create_book(book(1)).await;
    // The same ISBN again: 409, nothing committed, so nothing to publish.
    let response = app.post_json("/books", &book(1)).await;
    assert_eq!(response.status(), 409);
    // Too little stock: 409 as well.
    let id = first["id"].as_str().expect("id");
    let response = app
        .post_json(
            &format!("/books/{id}/stock-movements"),
            &json!({"kind": "sale", "quantity": 99}),
        )
        .await;
    assert_eq!(response.status(), 409);
    app.create_book(book(2)).await;

    let mut stream = open(&app, "/events", Some(0)).await;
    let events = stream.take(2).await;
    let seen: Vec<(&Value, &Value)> = events
        .iter()
        .map(|e| (&e.data["type"], &e.data["data"]["title"]))
        .collect();
    assert_eq!(
        seen,
        [
            (&json!("bookstore.book.created"), &json!("Book 1")),
            (&json!("bookstore.book.created"), &json!("Book 2")),
        ]
    );
    assert!(stream.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(app.count("outbox").await, 2);
});

both_stores!(shutdown_ends_the_streams, |backend| async move {
    let mut app = spawn_with(backend, &[("BOOKSTORE_SHUTDOWN_GRACE", "30")]).await;
    let mut stream = open(&app, "/events", None).await;
    let started = Instant::now();
    let status = app.terminate();
    assert!(status.success(), "{status}");
    // Within the grace period's first seconds, not at its end: the stream did not hold it.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(stream.ends_within(Duration::from_secs(5)).await);
});

/// `bookstore events tail` on the test server's store, with `args`.
fn tail_command(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["events", "tail"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    command
}

both_stores!(events_tail_prints_json_lines, |backend| async move {
    let app = spawn(backend).await;
    let created = app.create_book(book(1)).await;
    let id = created["id"].as_str().expect("id");
    let response = app
        .post_json(
            &format!("/books/{id}/stock-movements"),
            &json!({"kind": "receive", "quantity": 2}),
        )
        .await;
    assert_eq!(response.status(), 201);

    // Following: it prints what is there, then what comes.
    let mut child = tail_command(&app, &["--from", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("events tail");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = || {
        lines
            .recv_timeout(WAIT)
            .expect("a line from events tail in time")
    };
    let mut printed: Vec<Value> = Vec::new();
    for _ in 0..2 {
        printed.push(serde_json::from_str(&next_line()).expect("a JSON line"));
    }
    app.create_book(book(2)).await;
    printed.push(serde_json::from_str(&next_line()).expect("a JSON line"));
    let _ = child.kill();
    let _ = child.wait();

    let types: Vec<&Value> = printed.iter().map(|l| &l["event"]["type"]).collect();
    assert_eq!(
        types,
        [
            "bookstore.book.created",
            "bookstore.book.stock_adjusted",
            "bookstore.book.created"
        ]
    );
    let positions: Vec<i64> = printed
        .iter()
        .map(|l| l["position"].as_i64().expect("position"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(printed[0]["event"]["subject"], created["id"]);
    assert!(printed[0]["published_at"].is_string());

    // The same log, as the stream shows it: same positions, same events.
    let streamed = open(&app, "/events", Some(0)).await.take(3).await;
    for (line, event) in printed.iter().zip(&streamed) {
        assert_eq!(line["position"], event.id);
        assert_eq!(line["event"], event.data);
    }

    // Not following, resuming after a position, one type only.
    let output = tail_command(
        &app,
        &[
            "--from",
            &positions[0].to_string(),
            "--types",
            "bookstore.book.created",
            "--no-follow",
        ],
    )
    .stdout(Stdio::piped())
    .output()
    .expect("events tail --no-follow");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["position"], positions[2]);
    assert_eq!(lines[0]["event"]["data"]["title"], "Book 2");

    let output = tail_command(&app, &["--types", "book.eaten", "--no-follow"])
        .stdout(Stdio::piped())
        .output()
        .expect("events tail");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("book.eaten"));
});

both_stores!(streams_are_capped_per_process, |backend| async move {
    let app = spawn_with(backend, &[("BOOKSTORE_EVENT_STREAMS", "1")]).await;
    let first = open(&app, "/events", None).await;
    let response = app.get("/events").await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, reqwest::header::RETRY_AFTER), "5");
    assert_eq!(body(response).await["status"], 503);
    // A client that goes away gives its place back.
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = app.get("/events").await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "the place was not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
});
