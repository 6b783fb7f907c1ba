//! The book cache across two server processes on one PostgreSQL database: each keeps its own
//! cache, kept current by the event log that both follow (the relays publish every committed
//! change there and announce it to every process). After a write through one, the other
//! serves the new version within a bound (its p99 over the writes is printed; the assertion
//! is a generous bound, timings belong in bench/), and the writer never reads an older
//! version than its own: not through the process it wrote through (which drops its entry at
//! once), nor through the other one when it sends its `Consistency-Token`. The same holds with
//! the cache every replica shares in Redis (`REDIS_URL`) under the processes' own, and a third
//! process that has read nothing yet gets the current version from Redis.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// Writes measured; `BOOKSTORE_TEST_CACHE_WRITES` asks for another number.
fn writes() -> usize {
    std::env::var("BOOKSTORE_TEST_CACHE_WRITES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(200)
}

/// The longest the other process may serve the old version: far above what it takes, so that
/// a busy machine does not fail the test; the measured figures are printed.
const CONVERGENCE_BOUND: Duration = Duration::from_secs(10);

async fn version_of(app: &TestApp, path: &str, token: Option<&str>) -> i64 {
    let mut request = app.request(Method::GET, path);
    if let Some(token) = token {
        request = request.header("Consistency-Token", token);
    }
    let response = request.send().await.expect("GET");
    assert_eq!(response.status(), 200, "{}", app.logs());
    body(response).await["version"].as_i64().expect("version")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn counter(metrics: &str, result: &str) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "bookstore_book_cache_requests_total{{result=\"{result}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_write_through_one_process_reaches_the_others_cache() {
    coherence(false).await;
}

#[tokio::test]
async fn with_the_shared_cache_in_redis_too() {
    coherence(true).await;
}

async fn coherence(shared: bool) {
    let _turn = heavy_turn().await;
    let (redis, prefix) = (redis_url(), fresh_redis_prefix());
    let mut env = vec![
        ("BOOKSTORE_PUBLIC_URL", "http://bookstore.test"),
        ("BOOKSTORE_CACHE_MB", "16"),
        ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
        ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
    ];
    if shared {
        env.extend([
            ("REDIS_URL", redis.as_str()),
            ("BOOKSTORE_REDIS_PREFIX", prefix.as_str()),
        ]);
    }
    let writer = spawn_with(Backend::Postgres, &env).await;
    let other = writer.replica(&env).await;
    let book = writer.create_book(hobbit()).await;
    let path = format!("/books/{}", book["id"].as_str().expect("id"));
    let isbn_path = "/books/isbn/9780261103344";

    let count = writes();
    let mut waits = Vec::with_capacity(count);
    for n in 0..count {
        // The other process holds the current version in its cache.
        let before = version_of(&other, &path, None).await;
        assert_eq!(version_of(&other, &path, None).await, before);
        let response = writer
            .request(Method::PATCH, &path)
            .header("If-Match", "*")
            .header("Content-Type", "application/merge-patch+json")
            .json(&json!({"title": format!("The Hobbit, printing {n}")}))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(response.status(), 200, "{}", writer.logs());
        let written = Instant::now();
        let token = header(&response, "consistency-token".parse().expect("name"));
        assert!(
            !token.is_empty(),
            "writes hand out tokens while the cache is on"
        );
        let version = body(response).await["version"].as_i64().expect("version");
        assert!(version > before);
        // The writer never sees the old one.
        assert_eq!(
            version_of(&writer, &path, None).await,
            version,
            "its own process"
        );
        assert_eq!(
            version_of(&writer, isbn_path, None).await,
            version,
            "by ISBN"
        );
        assert_eq!(
            version_of(&other, &path, Some(&token)).await,
            version,
            "the other process, with the token"
        );
        // The other process, without a token, converges.
        loop {
            let seen = version_of(&other, &path, None).await;
            if seen >= version {
                waits.push(written.elapsed());
                break;
            }
            assert!(
                written.elapsed() < CONVERGENCE_BOUND,
                "the other process still served version {seen} of {version}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    waits.sort();
    eprintln!(
        "cache coherence over {count} writes: the other process served the new version after \
         p50 {:?}, p99 {:?}, max {:?} (measured from the write's answer)",
        percentile(&waits, 0.50),
        percentile(&waits, 0.99),
        waits[waits.len() - 1]
    );
    // The other process's cache answered: hits were counted.
    let metrics = other.get("/metrics").await.text().await.expect("metrics");
    let hits = counter(&metrics, "hit");
    assert!(
        hits >= count as f64,
        "the cache answered {hits} reads:\n{metrics}"
    );
    if !shared {
        return;
    }
    // A process that has read nothing: the current version comes from Redis.
    let latest = version_of(&writer, &path, None).await;
    let cold = writer.replica(&env).await;
    assert_eq!(version_of(&cold, &path, None).await, latest);
    assert_eq!(version_of(&cold, isbn_path, None).await, latest);
    let metrics = cold.get("/metrics").await.text().await.expect("metrics");
    assert!(
        counter(&metrics, "shared_hit") >= 1.0,
        "Redis answered no read of the new process:\n{metrics}"
    );
}
