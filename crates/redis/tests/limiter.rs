//! The Redis limiter against a real Redis (`BOOKSTORE_TEST_REDIS_URL`, by default the one on
//! 127.0.0.1:6379 that `./scripts/test` starts), each test under a key prefix of its own.

use bookstore_core::ratelimit::{Quota, Rate, RateLimiter};
use bookstore_redis::{RedisLimiter, RedisSettings};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn redis_url() -> String {
    std::env::var("BOOKSTORE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        timeout: Duration::from_millis(500),
    }
}

fn fresh_prefix() -> String {
    format!("bookstore-test:{}:", uuid::Uuid::now_v7().simple())
}

fn per_minute(count: u32, burst: u32) -> Quota {
    Quota::new(Rate::per_minute(count).expect("rate"), burst).expect("quota")
}

/// A loopback port that refuses connections while the returned socket lives: bound, so that
/// no one else takes it, but not listening.
fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("address").port();
    (socket, port)
}

async fn limiter(url: &str, prefix: &str) -> RedisLimiter {
    RedisLimiter::connect(settings(url, prefix))
        .await
        .expect("valid url")
}

#[tokio::test]
async fn two_limiters_share_one_budget() {
    let prefix = fresh_prefix();
    let a = limiter(&redis_url(), &prefix).await;
    let b = limiter(&redis_url(), &prefix).await;
    assert_eq!(a.degraded(), None, "is Redis running at {}?", redis_url());
    let quota = per_minute(1, 3);
    assert!(a.check("anonymous:10.0.0.1", &quota).await.allowed);
    let second = b.check("anonymous:10.0.0.1", &quota).await;
    assert!(second.allowed);
    assert_eq!(second.remaining, 1);
    assert!(a.check("anonymous:10.0.0.1", &quota).await.allowed);
    let refused = b.check("anonymous:10.0.0.1", &quota).await;
    assert!(!refused.allowed);
    assert!(refused.refill_in > Duration::from_secs(50), "{refused:?}");
    assert!(!a.check("anonymous:10.0.0.1", &quota).await.allowed);
    // Another key, its own budget.
    assert!(b.check("anonymous:10.0.0.2", &quota).await.allowed);
}

#[tokio::test]
async fn keys_expire_when_they_no_longer_matter() {
    let prefix = fresh_prefix();
    let limiter = limiter(&redis_url(), &prefix).await;
    let quota = Quota::new(Rate::per_second(10).expect("rate"), 5).expect("quota");
    for _ in 0..3 {
        assert!(limiter.check("user:someone", &quota).await.allowed);
    }
    let client = redis::Client::open(redis_url()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}user:someone"))
        .query_async(&mut connection)
        .await
        .expect("PTTL");
    // Three intervals of 100 ms ahead: gone in about 300 ms.
    assert!((1..=301).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn an_unreachable_redis_means_local_limits_not_errors() {
    let (_reserved, port) = closed_port();
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    let limiter = limiter(&url, &fresh_prefix()).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let degraded = limiter.degraded().expect("degraded");
    assert!(degraded.contains("Redis is unreachable"), "{degraded}");
    let quota = per_minute(1, 2);
    assert!(limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
    assert!(limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
    assert!(!limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
}

/// A Redis that accepts connections and never answers (hung, or a black hole) costs each
/// call the whole timeout; once the limiter knows it is down, checks must not wait for it.
/// The timeout is long so that the bound holds on a busy machine: a check that waited even
/// once would take a whole timeout, local checks take microseconds.
#[tokio::test]
async fn a_hung_redis_does_not_stall_checks() {
    let timeout = Duration::from_secs(2);
    // Bound and listening but never accepting: the kernel completes the handshakes, nobody
    // ever answers a command.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}", silent.local_addr().expect("address"));
    let started = Instant::now();
    let limiter = RedisLimiter::connect(RedisSettings {
        url,
        prefix: fresh_prefix(),
        timeout,
    })
    .await
    .expect("valid url");
    // Waits at most one connection deadline (twice the timeout) plus one call.
    assert!(started.elapsed() < timeout * 4, "{:?}", started.elapsed());
    assert!(limiter.degraded().is_some());
    let quota = per_minute(1, 2);
    let started = Instant::now();
    assert!(limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
    assert!(limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
    assert!(!limiter.check("anonymous:10.0.0.1", &quota).await.allowed);
    assert!(
        started.elapsed() < timeout,
        "a hung Redis stalled checks: {:?}",
        started.elapsed()
    );
    drop(silent);
}

struct RedisServer(Child);

impl RedisServer {
    /// On a Unix socket of the test's own, not a TCP port: no other test can take it
    /// between a stop and a restart.
    fn start(socket: &std::path::Path) -> Self {
        let socket = socket.to_str().expect("utf-8 path");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--unixsocket",
                socket,
                "--unixsocketperm",
                "700",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by ./scripts/test)");
        Self(child)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // Killed, it leaves its socket file behind; the next start replaces it.
    }
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn redis_server_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a missing tool fails the test (`CI` set, as CI services set it) or skips it.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

#[tokio::test]
async fn an_outage_falls_back_and_recovers() {
    if !redis_server_installed() {
        // ./scripts/test installs it; with BOOKSTORE_TEST_REDIS_URL pointing elsewhere it may
        // not be here. CI must run this test, never pass it unrun.
        assert!(
            !under_ci(),
            "redis-server is not installed, and CI is set: this test stops and starts a \
             redis-server of its own (./scripts/test installs it: apt-get install redis-server)"
        );
        eprintln!(
            "SKIPPED an_outage_falls_back_and_recovers: no redis-server to stop and start \
             (apt-get install redis-server; under CI=true this is a failure)"
        );
        return;
    }
    let socket = std::env::temp_dir().join(format!(
        "bookstore-test-redis-{}.sock",
        uuid::Uuid::now_v7().simple()
    ));
    let _cleanup = RemoveOnDrop(socket.clone());
    let url = format!("redis+unix://{}", socket.display());
    let server = RedisServer::start(&socket);
    // Wait for it to listen.
    let probe = redis::Client::open(url.as_str()).expect("url");
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe.get_multiplexed_async_connection().await.is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let limiter = limiter(&url, &fresh_prefix()).await;
    assert_eq!(limiter.degraded(), None);
    let quota = per_minute(1, 100);
    assert!(limiter.check("user:a", &quota).await.allowed);

    drop(server);
    // The next check notices, and still answers.
    let started = Instant::now();
    assert!(limiter.check("user:a", &quota).await.allowed);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(limiter.degraded().is_some());
    assert!(limiter.check("user:a", &quota).await.allowed);

    let _server = RedisServer::start(&socket);
    until("the limiter uses Redis again", || {
        limiter.degraded().is_none()
    })
    .await;
    let decision = limiter.check("user:b", &quota).await;
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 99);
}
