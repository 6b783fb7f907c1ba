//! Events on NATS JetStream, shown as issue 12 asks: a broker outage under load loses no write
//! and no event; the server killed with `kill -9` at five random moments loses nothing and
//! publishes nothing twice or out of order. Each test runs its own `nats-server -js` on a free
//! port with its own store directory (`bookstore_events::testing`).
//!
//! They print their figures (writes acknowledged, events found, duplicates dropped, missing).

use crate::helpers::*;
use crate::load::{Ledger, Load, Target};
use bookstore_events::testing::{stream_messages, NatsServer, StoredMessage};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Seconds NATS stays down in the outage test; the issue asks for 30, a quick local run may
/// ask for less.
const OUTAGE_SECS_VAR: &str = "BOOKSTORE_TEST_NATS_OUTAGE_SECS";
const CLIENTS: usize = 4;
/// Replicas must share their issuer to accept each other's tokens.
const PUBLIC_URL: &str = "http://bookstore.test";

fn outage() -> Duration {
    let secs = std::env::var(OUTAGE_SECS_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

fn stream_name() -> String {
    format!("TEST_{}", uuid::Uuid::now_v7().simple())
}

/// The server's settings: NATS, its stream, and rate limits out of the load's way.
fn nats_env<'a>(url: &'a str, stream: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("BOOKSTORE_NATS_URL", url),
        ("BOOKSTORE_NATS_STREAM", stream),
        ("BOOKSTORE_PUBLIC_URL", PUBLIC_URL),
        ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
        ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
    ]
}

async fn readiness(app: &TestApp) -> (u16, Value) {
    let response = app.get("/readyz").await;
    let status = response.status().as_u16();
    (status, body(response).await)
}

/// NATS stopped for 30 s under a steady mix of writes from several clients (PostgreSQL): no
/// write fails, `/readyz` says the bus is degraded (and the service ready), and once NATS is
/// back every event arrives, once, in each book's version order.
#[tokio::test]
async fn a_nats_outage_under_load_loses_no_write_and_no_event() {
    let Some(mut nats) = NatsServer::start("a_nats_outage_under_load") else {
        return;
    };
    let stream = stream_name();
    let url = nats.url();
    let app = spawn_with(Backend::Postgres, &nats_env(&url, &stream)).await;
    let target = Target::new(&app.base, &app.admin_token);
    let load = Load::start(&target, CLIENTS);
    tokio::time::sleep(Duration::from_secs(3)).await;

    nats.stop();
    let stopped = Instant::now();
    let before = load.acknowledged();
    // The bus notices at once (the connection closes); allow for a busy machine.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let (status, ready) = readiness(&app).await;
        assert_eq!(status, 200, "ready while NATS is down: {ready}");
        if ready["degraded"] == serde_json::json!(["nats"]) {
            break ready;
        }
        assert!(Instant::now() < deadline, "never degraded: {ready}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["failed"], serde_json::json!(["nats"]), "{ready}");
    assert!(!ready.to_string().contains("127.0.0.1"), "{ready}");
    tokio::time::sleep(outage().saturating_sub(stopped.elapsed())).await;
    let during = load.acknowledged() - before;
    nats.restart();
    let outage_took = stopped.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ledger = load.finish().await;

    assert!(
        ledger.failed.is_empty(),
        "writes failed: {:?}",
        ledger.failed
    );
    assert_eq!(
        (ledger.unknown, ledger.refused),
        (0, 0),
        "requests were lost"
    );
    assert!(during > 0, "no write went through while NATS was down");
    let figures = verify(&app, &url, &stream, &ledger, &[app.logs()]).await;
    eprintln!(
        "broker outage ({} s, {CLIENTS} clients, PostgreSQL): {} writes acknowledged ({during} \
         while NATS was down), {} events on JetStream, {} duplicates dropped, {} missing",
        outage_took.as_secs(),
        figures.acknowledged,
        figures.events,
        figures.duplicates,
        figures.missing
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while readiness(&app).await.1["status"] != "ok" {
        assert!(
            Instant::now() < deadline,
            "still degraded after NATS came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With NATS unreachable from the start, the server starts, is ready, and writes succeed.
#[tokio::test]
async fn nats_unreachable_at_start_does_not_stop_the_service() {
    let (_reserved, port) = closed_port();
    let url = format!("nats://127.0.0.1:{port}");
    let stream = stream_name();
    let app = spawn_with(Backend::Sqlite, &nats_env(&url, &stream)).await;
    app.create_book(hobbit()).await;
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["degraded"], serde_json::json!(["nats"]), "{ready}");
    let detail = ready["detail"].as_str().expect("detail");
    assert!(detail.contains("writes still succeed"), "{detail}");
    assert!(!ready.to_string().contains(&port.to_string()), "{ready}");
}

/// Only the relay publishes: a process without it does not use NATS, nor report on it.
#[tokio::test]
async fn a_process_without_the_relay_role_leaves_nats_alone() {
    let (_reserved, port) = closed_port();
    let url = format!("nats://127.0.0.1:{port}");
    let stream = stream_name();
    let mut env = nats_env(&url, &stream);
    env.push(("BOOKSTORE_ROLES", "api"));
    let app = spawn_with(Backend::Sqlite, &env).await;
    let (status, ready) = readiness(&app).await;
    assert_eq!(
        (status, &ready["status"]),
        (200, &Value::from("ok")),
        "{ready}"
    );
    let logs = app.logs();
    assert!(!logs.contains("events go to NATS"), "{logs}");
    assert!(!logs.contains("async_nats"), "{logs}");
}

/// The figures of a run.
struct Figures {
    acknowledged: usize,
    events: usize,
    duplicates: u64,
    missing: usize,
}

/// Waits for the events of every committed change to reach JetStream, then checks them
/// against the store and the acknowledged writes; `logs` are those of every server process
/// (for the duplicates JetStream dropped).
async fn verify(
    app: &TestApp,
    nats_url: &str,
    stream: &str,
    ledger: &Ledger,
    logs: &[String],
) -> Figures {
    let committed = committed_versions(app).await;
    let expected: usize = committed.values().map(BTreeSet::len).sum();
    let deadline = Instant::now() + Duration::from_secs(120);
    let messages = loop {
        let messages = stream_messages(nats_url, stream).await;
        if messages.len() >= expected || Instant::now() > deadline {
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut per_book: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut types: HashMap<(String, i64), String> = HashMap::new();
    for message in &messages {
        let (book, version, event_type) = event_of(message);
        *by_id
            .entry(message.message_id.as_deref().unwrap_or(""))
            .or_default() += 1;
        per_book.entry(book.clone()).or_default().push(version);
        types.insert((book, version), event_type);
    }
    let repeated: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "events stored twice: {repeated:?}");
    for (book, versions) in &per_book {
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "book {book}: events out of version order (or repeated): {versions:?}"
        );
    }
    let published: BTreeMap<String, BTreeSet<i64>> = per_book
        .into_iter()
        .map(|(book, versions)| (book, versions.into_iter().collect()))
        .collect();
    let mut missing = Vec::new();
    for (book, versions) in &committed {
        for version in versions {
            if !published.get(book).is_some_and(|p| p.contains(version)) {
                missing.push(format!("{book} v{version}"));
            }
        }
    }
    let mut uncommitted = Vec::new();
    for (book, versions) in &published {
        for version in versions {
            if !committed.get(book).is_some_and(|c| c.contains(version)) {
                uncommitted.push(format!("{book} v{version}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "committed changes without an event: {missing:?}"
    );
    assert!(
        uncommitted.is_empty(),
        "events of changes that did not commit: {uncommitted:?}"
    );
    for write in &ledger.acknowledged {
        let key = (write.book.clone(), write.version);
        assert_eq!(
            types.get(&key).map(String::as_str),
            Some(write.event_type),
            "acknowledged write {key:?} has no event of its type"
        );
    }
    Figures {
        acknowledged: ledger.acknowledged.len(),
        events: messages.len(),
        duplicates: logs.iter().map(|log| duplicates_dropped(log)).sum(),
        missing: missing.len(),
    }
}

/// The book, version and type a message's CloudEvent names, checked against its headers.
fn event_of(message: &StoredMessage) -> (String, i64, String) {
    let event = &message.payload;
    assert_eq!(
        message.message_id.as_deref(),
        event["id"].as_str(),
        "Nats-Msg-Id is the event id"
    );
    let event_type = event["type"].as_str().expect("type").to_owned();
    assert_eq!(message.subject, event_type, "the subject is the type");
    (
        event["subject"].as_str().expect("subject").to_owned(),
        event["version"].as_i64().expect("version"),
        event_type,
    )
}

/// Every version of every book the store has, from its history (a row per committed change).
async fn committed_versions(app: &TestApp) -> BTreeMap<String, BTreeSet<i64>> {
    let mut books = Vec::new();
    for item in pages(app, "/books?limit=100").await {
        books.push(item["id"].as_str().expect("id").to_owned());
    }
    let mut committed = BTreeMap::new();
    for book in books {
        let versions = pages(app, &format!("/books/{book}/history?limit=100"))
            .await
            .iter()
            .map(|entry| entry["version"].as_i64().expect("version"))
            .collect();
        committed.insert(book, versions);
    }
    committed
}

/// The items of every page of a list.
async fn pages(app: &TestApp, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first.to_owned();
    loop {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page = body(response).await;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        let Some(cursor) = page["next_cursor"].as_str() else {
            return items;
        };
        let separator = if first.contains('?') { '&' } else { '?' };
        path = format!("{first}{separator}cursor={cursor}");
    }
}

/// The duplicates JetStream reported to one server process, from its log.
fn duplicates_dropped(log: &str) -> u64 {
    log.lines()
        .filter(|line| line.contains("JetStream dropped events"))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| line["duplicates"].as_u64())
        .sum()
}

pub(crate) mod crash {
    //! `kill -9` at five random moments under load.
    use super::*;
    use std::process::{Child, Command, Stdio};

    const KILLS: usize = 5;

    /// A `serve --roles relay` process on the store of `app` (it serves the probes only, so
    /// no one signs in to it).
    pub struct RelayProcess {
        child: Child,
        log: std::path::PathBuf,
    }

    impl RelayProcess {
        pub async fn start(app: &TestApp, env: &[(&str, &str)], n: usize) -> Self {
            let dir = app.data_dir.path();
            let address_file = dir.join(format!("relay-{n}.address"));
            let log = dir.join(format!("relay-{n}.log"));
            let mut command = Command::new(binary());
            command
                .args(["serve", "--roles", "relay"])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("BOOKSTORE_LISTEN", "127.0.0.1:0")
                .env("BOOKSTORE_SHUTDOWN_DRAIN", "0")
                .env("BOOKSTORE_ADDRESS_FILE", &address_file)
                .env("BOOKSTORE_DATA_DIR", dir)
                .env("BOOKSTORE_KEK_FILE", dir.join("kek"))
                .env("BOOKSTORE_LOG_FORMAT", "json")
                .env("BOOKSTORE_RELAY_POLL_INTERVAL", "200ms")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            if let Some(url) = &app.database_url {
                command.env("DATABASE_URL", url);
            }
            for (k, v) in env {
                command.env(k, v);
            }
            let mut child = command.spawn().expect("start the relay");
            let deadline = Instant::now() + Duration::from_secs(60);
            while !address_file.exists() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the relay exited ({status}); log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                assert!(Instant::now() < deadline, "the relay did not listen");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Self { child, log }
        }

        pub fn kill9(&mut self) {
            let _ = self.child.kill(); // SIGKILL
            let _ = self.child.wait();
        }

        pub fn logs(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }
    }

    impl Drop for RelayProcess {
        fn drop(&mut self) {
            self.kill9();
        }
    }

    /// A random pause between `min` and `max` milliseconds.
    fn random_pause(min: u64, max: u64) -> Duration {
        let random =
            u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(max - min)).unwrap_or(0);
        Duration::from_millis(min + random)
    }

    /// Kills the server (and on PostgreSQL, every other time, the second relay too) at five
    /// random moments and starts it again; then checks that every acknowledged write is
    /// there with its history row and exactly one event, in version order, and no event
    /// exists for a write that did not commit.
    pub async fn run(backend: Backend) {
        let Some(nats) = NatsServer::start(&format!("crash test ({backend:?})")) else {
            return;
        };
        let stream = stream_name();
        let url = nats.url();
        let env = nats_env(&url, &stream);
        let original = spawn_with(backend, &env).await;
        let mut relays_started = 0;
        let mut second_relay = match backend {
            Backend::Postgres => {
                relays_started += 1;
                Some(RelayProcess::start(&original, &env, relays_started).await)
            }
            Backend::Sqlite => None,
        };
        let target = Target::new(&original.base, &original.admin_token);
        let load = Load::start(&target, CLIENTS);
        let mut logs = Vec::new();
        let mut current: Option<TestApp> = None;
        for round in 1..=KILLS {
            tokio::time::sleep(random_pause(1000, 4000)).await;
            match &current {
                Some(app) => app.signal("KILL"),
                None => original.signal("KILL"),
            }
            let kill_relay = round % 2 == 0;
            if let (true, Some(relay)) = (kill_relay, &mut second_relay) {
                relay.kill9();
            }
            if let Some(app) = current.take() {
                logs.push(app.logs());
            }
            let app = original.replica(&env).await;
            target.set(&app.base, &app.admin_token);
            current = Some(app);
            if kill_relay && second_relay.is_some() {
                if let Some(relay) = second_relay.take() {
                    logs.push(relay.logs());
                }
                relays_started += 1;
                second_relay = Some(RelayProcess::start(&original, &env, relays_started).await);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ledger = load.finish().await;
        assert!(
            ledger.failed.is_empty(),
            "writes answered with an error: {:?}",
            ledger.failed
        );
        let app = current.expect("restarted");
        logs.push(original.logs());
        logs.push(app.logs());
        if let Some(relay) = &second_relay {
            logs.push(relay.logs());
        }
        let figures = verify(&app, &url, &stream, &ledger, &logs).await;
        eprintln!(
            "crash test ({backend:?}, {KILLS} × kill -9, {CLIENTS} clients{}): {} writes \
             acknowledged, {} with no answer (killed in flight), {} events on JetStream, {} \
             duplicates dropped by JetStream, {} missing",
            if second_relay.is_some() {
                ", two relays"
            } else {
                ""
            },
            figures.acknowledged,
            ledger.unknown,
            figures.events,
            figures.duplicates,
            figures.missing
        );
    }
}

crate::both_stores!(
    killed_at_random_moments_loses_no_event_and_publishes_none_twice,
    |backend| async move { crash::run(backend).await }
);
