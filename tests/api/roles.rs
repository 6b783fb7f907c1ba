//! Roles (issue 12, point 1): `bookstore serve` publishes events by default, and a process
//! without the `relay` role does not; a process with the relay alone serves only the probes,
//! and publishes what another process (the API) committed to the same store.

use crate::helpers::{binary, isbn, spawn, spawn_with, Backend, TestApp};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The event-log positions of every outbox event, in commit order.
async fn positions(app: &TestApp) -> Vec<Option<i64>> {
    bookstore_store::testing::outbox_partitions(app.store().await)
        .await
        .into_iter()
        .map(|(_, _, position)| position)
        .collect()
}

async fn write_some(app: &TestApp, from: u32) {
    for n in from..from + 3 {
        app.create_book(json!({"isbn": isbn(n), "title": format!("Book {n}")}))
            .await;
    }
}

/// Waits until the positions are `expected`, in any order: books in different partitions are
/// relayed side by side.
async fn wait_for_positions(app: &TestApp, expected: Vec<Option<i64>>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut now = positions(app).await;
        now.sort();
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "positions {now:?}, expected {expected:?}; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_publishes_events_by_default() {
    let mut app = spawn(Backend::Sqlite).await;
    write_some(&app, 1).await;
    wait_for_positions(&app, vec![Some(1), Some(2), Some(3)]).await;
    write_some(&app, 10).await;
    wait_for_positions(&app, (1..=6).map(Some).collect()).await;
    assert!(app.terminate().success());
    assert!(app.logs().contains("relay stopped"), "{}", app.logs());
}

/// A process with only `--roles relay`, on the store of `app`.
struct RelayOnly {
    child: Child,
    base: String,
}

impl Drop for RelayOnly {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn relay_only(app: &TestApp) -> RelayOnly {
    let dir = app.data_dir.path();
    let address_file = dir.join("relay-address");
    let log = std::fs::File::create(dir.join("relay.log")).expect("log file");
    let child = Command::new(binary())
        .args(["serve", "--roles", "relay"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOKSTORE_LISTEN", "127.0.0.1:0")
        .env("BOOKSTORE_SHUTDOWN_DRAIN", "0")
        .env("BOOKSTORE_ADDRESS_FILE", &address_file)
        .env("BOOKSTORE_DATA_DIR", dir)
        .env("BOOKSTORE_KEK_FILE", dir.join("kek"))
        .env("BOOKSTORE_LOG_FORMAT", "json")
        // Another process's commits do not wake it: it polls.
        .env("BOOKSTORE_RELAY_POLL_INTERVAL", "100ms")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the relay");
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        if let Ok(text) = std::fs::read_to_string(&address_file) {
            break text.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "the relay did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Listening comes first; ready once its store is open.
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the relay did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    RelayOnly { child, base }
}

#[tokio::test]
async fn without_the_relay_role_nothing_is_published_and_a_relay_elsewhere_publishes_it() {
    let app = spawn_with(Backend::Sqlite, &[("BOOKSTORE_ROLES", "api")]).await;
    write_some(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(positions(&app).await, vec![None, None, None]);

    let relay = relay_only(&app).await;
    let client = reqwest::Client::new();
    let probe = |path: &str| client.get(format!("{}{path}", relay.base)).send();
    assert_eq!(probe("/healthz").await.expect("healthz").status(), 200);
    assert_eq!(probe("/readyz").await.expect("readyz").status(), 200);
    assert_eq!(
        probe("/books").await.expect("books").status(),
        404,
        "no API"
    );
    wait_for_positions(&app, vec![Some(1), Some(2), Some(3)]).await;
    write_some(&app, 10).await;
    wait_for_positions(&app, (1..=6).map(Some).collect()).await;
}
