//! Read replicas (`DATABASE_READ_URL`), shown on a real streaming replica of the test's own
//! primary (`pg_cluster`): reads go to the replica, a client that sends back its write's
//! `Consistency-Token` always reads its own write even while the replica lags two seconds
//! behind (and one that does not may not), and with the replica stopped reads go to the
//! primary without a failed request while `/readyz` says the replica is out.

use crate::helpers::*;
use crate::pg_cluster::PgCluster;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

const DB: &str = "bookstore";
/// The statement of `GET /books/{id}`, as pg_stat_statements normalises it.
const BY_ID: &str = "%FROM books b WHERE b.id = $1";

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("connect")
}

/// How many times each server ran the by-id read since the last reset.
async fn by_id_calls(url: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE $1",
    )
    .bind(BY_ID)
    .fetch_one(&mut connect(url).await)
    .await
    .expect("pg_stat_statements")
}

async fn reset_statements(url: &str) {
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut connect(url).await)
        .await
        .expect("reset");
}

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.get("/readyz").await;
    (response.status(), body(response).await)
}

/// Waits until `/readyz` says what `wanted` accepts.
async fn wait_for_readiness(app: &TestApp, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ready) = readiness(app).await;
        assert_eq!(status, 200, "the primary serves, so ready: {ready}");
        if wanted(&ready) {
            return ready;
        }
        assert!(Instant::now() < deadline, "readiness stayed {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read_version(app: &TestApp, path: &str, token: Option<&str>) -> i64 {
    let mut request = app.request(Method::GET, path);
    if let Some(token) = token {
        request = request.header("Consistency-Token", token);
    }
    let response = request.send().await.expect("GET");
    assert_eq!(response.status(), 200, "{}", app.logs());
    body(response).await["version"].as_i64().expect("version")
}

#[tokio::test]
async fn reads_go_to_a_caught_up_replica_and_a_client_reads_its_own_writes() {
    let _turn = heavy_turn().await;
    let Some(cluster) = PgCluster::start("reads_go_to_a_caught_up_replica").await else {
        return;
    };
    let admin = cluster.primary_url("postgres");
    sqlx::query(&format!("CREATE DATABASE {DB}"))
        .execute(&mut connect(&admin).await)
        .await
        .expect("create database");
    sqlx::query("CREATE EXTENSION pg_stat_statements")
        .execute(&mut connect(&cluster.primary_url(DB)).await)
        .await
        .expect("pg_stat_statements");
    cluster.wait_for_replay(DB).await;
    let replica_url = cluster.replica_url(DB);
    // A lag bound above the replay delay below, so that the lagging replica stays in
    // rotation and a read without a token can show what it has not replayed yet. The cache
    // is off: every read is a database read, counted on the server that ran it.
    let app = spawn_on(
        Some(cluster.primary_url(DB)),
        &[
            ("DATABASE_READ_URL", replica_url.as_str()),
            ("BOOKSTORE_READ_MAX_LAG", "30s"),
            ("BOOKSTORE_CACHE_MB", "0"),
            ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ],
    )
    .await;
    let ready = wait_for_readiness(&app, |r| r["status"] == "ok").await;
    assert!(ready.get("failed").is_none(), "{ready}");
    let book = app.create_book(hobbit()).await;
    let path = format!("/books/{}", book["id"].as_str().expect("id"));
    cluster.wait_for_replay(DB).await;

    // 1. Reads go to the replica.
    reset_statements(&cluster.primary_url(DB)).await;
    reset_statements(&replica_url).await;
    const READS: i64 = 50;
    for _ in 0..READS {
        assert_eq!(read_version(&app, &path, None).await, 1);
    }
    let (on_primary, on_replica) = (
        by_id_calls(&cluster.primary_url(DB)).await,
        by_id_calls(&replica_url).await,
    );
    eprintln!("{READS} reads by id: {on_replica} ran on the replica, {on_primary} on the primary");
    assert!(
        on_replica >= READS,
        "reads did not go to the replica: {on_replica}"
    );
    assert_eq!(on_primary, 0, "reads went to the primary");

    // 2. Replay delayed by 2 s: with its token, a client always reads what it wrote; without,
    //    the replica shows older versions.
    cluster.delay_replay("2s");
    const WRITES: i64 = 10;
    let (mut stale_without_token, mut version) = (0, 1);
    for n in 0..WRITES {
        let response = app
            .request(Method::PATCH, &path)
            .header("If-Match", "*")
            .header("Content-Type", "application/merge-patch+json")
            .json(&json!({"title": format!("The Hobbit, printing {n}")}))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(response.status(), 200, "{}", app.logs());
        let token = header(&response, "consistency-token".parse().expect("name"));
        assert!(
            !token.is_empty(),
            "a write answers with a consistency token"
        );
        version = body(response).await["version"].as_i64().expect("version");
        assert_eq!(
            read_version(&app, &path, Some(&token)).await,
            version,
            "read-your-writes"
        );
        if read_version(&app, &path, None).await < version {
            stale_without_token += 1;
        }
    }
    eprintln!(
        "replay delayed 2 s: {WRITES} writes each read back with its token at its version; \
         without the token {stale_without_token} of {WRITES} reads showed an older one"
    );
    assert!(
        stale_without_token > 0,
        "the replica never lagged: the delay did not apply"
    );
    cluster.delay_replay("0");

    // 3. The replica stopped under reads: nothing fails, reads go to the primary, and
    //    `/readyz` says the replica is out (while ready).
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.stop_replica();
    };
    let reads = async {
        let started = Instant::now();
        let (mut ok, mut failed) = (0, 0);
        while started.elapsed() < Duration::from_secs(3) {
            let response = app.get(&path).await;
            if response.status() == 200 {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        (ok, failed)
    };
    let ((ok, failed), ()) = tokio::join!(reads, stop);
    eprintln!("replica stopped under reads: {ok} answered, {failed} failed");
    assert_eq!(
        failed,
        0,
        "reads failed while the replica stopped:\n{}",
        app.logs()
    );
    assert!(ok > 0);
    let ready = wait_for_readiness(&app, |r| r["status"] == "degraded").await;
    assert_eq!(ready["failed"], json!(["replicas"]), "{ready}");
    assert_eq!(ready["degraded"], json!(["replicas"]), "{ready}");
    let detail = ready["detail"].as_str().expect("detail");
    assert!(detail.contains("read replica 1 is unreachable"), "{detail}");
    assert!(!detail.contains("127.0.0.1"), "no addresses: {detail}");
    reset_statements(&cluster.primary_url(DB)).await;
    assert_eq!(read_version(&app, &path, None).await, version);
    assert!(
        by_id_calls(&cluster.primary_url(DB)).await >= 1,
        "read from the primary"
    );
}
