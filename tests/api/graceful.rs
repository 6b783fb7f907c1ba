//! Stopping and starting without failed requests: at SIGTERM `/readyz` turns 503 at once while
//! the listener serves on through the drain delay (each answer saying `Connection: close`), a
//! request in flight when the listener closes still gets its answer, and the process exits 0; a server started while its
//! PostgreSQL is down waits, not ready, and serves once it is up; a PostgreSQL restart under
//! load is survived without restarting the server.

use crate::helpers::*;
use crate::private_pg::PrivatePostgres;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Polls `check` every 20 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn readyz(app: &TestApp) -> Option<u16> {
    let response = app
        .anonymous(Method::GET, "/readyz")
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_finishes_the_requests_in_flight() {
    let mut app = spawn_with(Backend::Sqlite, &[("BOOKSTORE_SHUTDOWN_DRAIN", "1")]).await;
    let before = app.get("/books?limit=1").await;
    assert_eq!(before.status(), 200);
    assert_eq!(
        before.headers().get("connection"),
        None,
        "keep-alive before the signal"
    );
    // A create whose body is still coming when the signal arrives: in flight throughout.
    let book = serde_json::to_vec(&json!({"isbn": isbn(42), "title": "In flight"})).expect("json");
    let (first, rest) = book.split_at(book.len() / 2);
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
        .await
        .expect("connect");
    let head = format!(
        "POST /books HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.admin_token,
        book.len()
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    slow.write_all(first).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    app.signal("TERM");
    // Not ready at once, while the listener still serves others.
    eventually(
        Duration::from_millis(500),
        "/readyz answers 503",
        || async { readyz(&app).await == Some(503) },
    )
    .await;
    let response = app.get("/books?limit=1").await;
    assert_eq!(response.status(), 200, "a request during the drain");
    // A proxy that keeps connections open is told that this one is done: it would otherwise
    // send its next request down a connection that the end of the drain closes (a 502).
    assert_eq!(
        response.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "an answer during the drain closes its connection"
    );
    let health = app
        .anonymous(Method::GET, "/readyz")
        .send()
        .await
        .expect("readyz");
    assert_eq!(health.status(), 503);
    assert_eq!(body(health).await["status"], "unavailable");
    // The drain delay over, the listener closes; the slow request is still in flight.
    eventually(Duration::from_secs(5), "the listener closes", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
            .await
            .is_err()
    })
    .await;
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "the listener closed before the drain delay: {:?}",
        signalled.elapsed()
    );
    slow.write_all(rest).await.expect("write the rest");
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "the request in flight is answered with Connection: close: {answer}"
    );

    let status = app.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
    assert_eq!(app.count("books").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_before_postgres_waits_and_becomes_ready() {
    let Some(cluster) = PrivatePostgres::init() else {
        return;
    };
    let mut app = spawn_unready(cluster.url(), &[]).await;
    // Alive, not ready, and it says why.
    let alive = app
        .anonymous(Method::GET, "/healthz")
        .send()
        .await
        .expect("healthz");
    assert_eq!(alive.status(), 200);
    // Longer than the pause after which it says that it waits.
    for _ in 0..13 {
        let response = app
            .anonymous(Method::GET, "/readyz")
            .send()
            .await
            .expect("readyz");
        assert_eq!(response.status(), 503);
        assert_eq!(body(response).await["failed"], json!(["store"]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = app
        .anonymous(Method::GET, "/books")
        .send()
        .await
        .expect("books");
    assert_eq!(response.status(), 503);
    // The stand-in's connections are not kept: one reused after the handover would lose its
    // request (a client polling for readiness sees a broken connection, not an answer).
    assert_eq!(header(&response, reqwest::header::CONNECTION), "close");
    assert!(
        app.running(),
        "gave up while PostgreSQL was down:\n{}",
        app.logs()
    );

    cluster.start();
    app.become_ready().await;
    app.create_book(hobbit()).await;
    assert!(
        app.logs().contains("waiting for the store"),
        "{}",
        app.logs()
    );
}

/// A request of the load that failed: when it was sent and how it failed.
struct Failure {
    sent: Instant,
    what: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_is_survived() {
    let _turn = heavy_turn().await;
    let Some(cluster) = PrivatePostgres::init() else {
        return;
    };
    cluster.start();
    // The load is one user's, faster than the default per-user limit allows.
    let unlimited = [
        ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
        ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
    ];
    let mut app = spawn_on(Some(cluster.url()), &unlimited).await;
    let book = app.create_book(hobbit()).await;
    let id = book["id"].as_str().expect("id").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<Failure>::new()));
    // Reads and writes, one at a time each, until stopped; the failures are kept.
    let mut load = Vec::new();
    for writer in [false, true] {
        let (client, base, token) = (
            app.client.clone(),
            app.base.clone(),
            app.admin_token.clone(),
        );
        let (stop, ok, failures, id) = (stop.clone(), ok.clone(), failures.clone(), id.clone());
        load.push(tokio::spawn(async move {
            let mut n = 1000;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let request = if writer {
                    client
                        .post(format!("{base}/books"))
                        .json(&json!({"isbn": isbn(n), "title": format!("Book {n}")}))
                } else {
                    client.get(format!("{base}/books/{id}"))
                };
                let sent = Instant::now();
                let result = request
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                let what = match result {
                    Ok(r) if r.status().is_success() => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Ok(r) => Some(format!(
                        "{} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(err) => Some(err.to_string()),
                };
                if let Some(what) = what {
                    let kind = if writer {
                        "POST /books"
                    } else {
                        "GET /books/{id}"
                    };
                    let what = format!("{kind}: {what}");
                    failures.lock().expect("lock").push(Failure { sent, what });
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ok.load(Ordering::Relaxed) > 0, "no load before the restart");
    cluster.restart();
    // Back within a few seconds, without restarting the server. A write, because a read of
    // that book is answered from the cache whether PostgreSQL is up or not.
    let mut n = 900_000;
    eventually(Duration::from_secs(30), "writes succeed again", || {
        n += 1;
        let app = &app;
        async move {
            app.post_json(
                "/books",
                &json!({"isbn": isbn(n), "title": format!("Probe {n}")}),
            )
            .await
            .status()
                == 201
        }
    })
    .await;
    let back = Instant::now();
    let ok_then = ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load");
    }
    let failures = std::mem::take(&mut *failures.lock().expect("lock"));
    let (after, around): (Vec<_>, Vec<_>) = failures.iter().partition(|f| f.sent > back);
    eprintln!(
        "PostgreSQL restart under load: {} requests succeeded, {} failed around the restart",
        ok.load(Ordering::Relaxed),
        around.len()
    );
    assert!(
        ok.load(Ordering::Relaxed) > ok_then,
        "no request succeeded after the restart"
    );
    // Requests sent while it restarted may fail; one sent after it was back must not.
    let after: Vec<&str> = after.iter().map(|f| f.what.as_str()).collect();
    assert!(
        after.is_empty(),
        "requests sent after PostgreSQL was back failed: {after:#?}\n{}",
        app.logs()
    );
    assert_eq!(readyz(&app).await, Some(200));
    assert!(app.running());
    assert!(app.terminate().success());
}
