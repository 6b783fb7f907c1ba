//! A chain's deployment under steady load: three `serve --roles api` replicas and one relay
//! on shared PostgreSQL, Redis and NATS, behind nginx as deploy/nginx/bookstore.conf sets it
//! up. Reads and writes go through nginx the whole time while
//!
//! 1. one replica is killed with SIGKILL: only requests in flight on it may fail, and no read
//!    fails (nginx passes an idempotent request that a replica could not answer to another);
//! 2. it comes back, then all three are restarted one after the other with SIGTERM (a rolling
//!    restart): no request fails at all.
//!
//! Afterwards every book a client was told was created is in the store, and the relay has
//! published every event of the run to JetStream. The counts are printed (`--nocapture`).

use crate::behind_nginx::{nginx, reserved_port, start_nginx, wait_for_nginx};
use crate::helpers::*;
use crate::tls::{client_trusting, TestCa};
use bookstore_events::testing::{stream_messages, NatsServer};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients: each has at most one request in flight.
const CLIENTS: usize = 6;
/// Every CLIENTS-th request of a client is a create; the others are reads.
const WRITE_EVERY: usize = 4;
/// How long each phase's load runs before and after what it does to the replicas.
const SETTLE: Duration = Duration::from_secs(2);
const EXAMPLE: &str = include_str!("../../deploy/nginx/bookstore.conf");

/// How long nginx leaves a replica out after it failed (`fail_timeout` in the example): a
/// rolling restart waits that long after each replica is back before it stops the next, or
/// nginx could find every replica out at once. (nginx only notices failures; it does not
/// probe `/readyz`.)
fn fail_timeout() -> Duration {
    let seconds = EXAMPLE
        .split("fail_timeout=")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .expect("deploy/nginx/bookstore.conf sets fail_timeout in seconds");
    Duration::from_secs(seconds)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Steady,
    Killed,
    Rolling,
}

const PHASES: [Phase; 3] = [Phase::Steady, Phase::Killed, Phase::Rolling];

#[derive(Debug, Default)]
struct Counts {
    /// (phase, "read" | "write") → (answered as expected, failed)
    tally: BTreeMap<(Phase, &'static str), (u32, u32)>,
    failures: Vec<String>,
    created: Vec<String>,
}

struct Load {
    phase: AtomicUsize,
    stop: AtomicBool,
    next_isbn: AtomicU32,
    counts: Mutex<Counts>,
}

impl Load {
    fn phase(&self) -> Phase {
        PHASES[self.phase.load(Ordering::SeqCst)]
    }

    fn enter(&self, phase: Phase) {
        let index = PHASES.iter().position(|p| *p == phase).expect("a phase");
        self.phase.store(index, Ordering::SeqCst);
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("counts")
    }

    /// Counts a request in the phase it ended in: one in flight when a replica was killed
    /// belongs to what the kill did.
    fn record(&self, kind: &'static str, outcome: Result<(), String>) {
        let phase = self.phase();
        let mut counts = self.counts();
        let entry = counts.tally.entry((phase, kind)).or_default();
        match outcome {
            Ok(()) => entry.0 += 1,
            Err(why) => {
                entry.1 += 1;
                counts.failures.push(format!("{phase:?} {kind}: {why}"));
            }
        }
    }

    fn tally(&self, phase: Phase, kind: &'static str) -> (u32, u32) {
        self.counts()
            .tally
            .get(&(phase, kind))
            .copied()
            .unwrap_or_default()
    }
}

async fn client_loop(load: Arc<Load>, client: Client, base: String, token: String, me: usize) {
    let mut n = me;
    while !load.stop.load(Ordering::SeqCst) {
        n += 1;
        let known = load.counts().created.last().cloned();
        match known {
            Some(id) if !n.is_multiple_of(WRITE_EVERY) => {
                let sent = client
                    .get(format!("{base}/books/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    Ok(r) => Err(format!(
                        "GET {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(err) => Err(format!("GET {err}")),
                };
                load.record("read", outcome);
            }
            _ => {
                let number = load.next_isbn.fetch_add(1, Ordering::SeqCst);
                let mut book = hobbit();
                book["isbn"] = json!(isbn(number));
                book["title"] = json!(format!("Scale-out {number}"));
                let sent = client
                    .post(format!("{base}/books"))
                    .bearer_auth(&token)
                    .json(&book)
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let created = body(r).await;
                        let id = created["id"].as_str().expect("id").to_owned();
                        load.counts().created.push(id);
                        Ok(())
                    }
                    Ok(r) => Err(format!(
                        "POST {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(err) => Err(format!("POST {err}")),
                };
                load.record("write", outcome);
            }
        }
    }
}

async fn wait_ready(app: &TestApp, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = app.anonymous(Method::GET, "/readyz").send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not become ready:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An API replica on `port` (0: any) with the `shared` settings: the first one on a fresh
/// PostgreSQL database, the others on `first`'s database, data directory and key.
async fn spawn_api(first: Option<&TestApp>, shared: &[(&str, &str)], port: u16) -> TestApp {
    let listen = format!("127.0.0.1:{port}");
    let mut env = shared.to_vec();
    env.extend([
        ("BOOKSTORE_ROLES", "api"),
        ("BOOKSTORE_LISTEN", listen.as_str()),
    ]);
    let Some(first) = first else {
        return spawn_with(Backend::Postgres, &env).await;
    };
    let data_dir = first.data_dir.path().display().to_string();
    let kek = first.data_dir.path().join("kek").display().to_string();
    env.extend([
        ("BOOKSTORE_DATA_DIR", data_dir.as_str()),
        ("BOOKSTORE_KEK_FILE", kek.as_str()),
    ]);
    let database_url = first.database_url.clone().expect("PostgreSQL");
    let app = spawn_unready(database_url, &env).await;
    wait_ready(&app, "a replica").await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_behind_nginx_survive_a_kill_and_a_rolling_restart() {
    let _turn = heavy_turn().await;
    let Some(nginx_binary) = nginx() else {
        return;
    };
    let Some(nats) = NatsServer::start("scale-out") else {
        return;
    };
    let (_reservation, port) = reserved_port();
    let base = format!("https://127.0.0.1:{port}");
    let nats_url = nats.url();
    let stream = format!("TEST_{}", uuid::Uuid::now_v7().simple());
    let redis = redis_url();
    let prefix = fresh_redis_prefix();
    let shared = [
        ("BOOKSTORE_PUBLIC_URL", base.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("BOOKSTORE_REDIS_PREFIX", prefix.as_str()),
        ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
        ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ("BOOKSTORE_NATS_URL", nats_url.as_str()),
        ("BOOKSTORE_NATS_STREAM", stream.as_str()),
        // As in a real deployment: after SIGTERM, serve on for a moment, then finish.
        ("BOOKSTORE_SHUTDOWN_DRAIN", "1"),
    ];
    let first = spawn_api(None, &shared, 0).await;
    let mut replicas = vec![
        spawn_api(Some(&first), &shared, 0).await,
        spawn_api(Some(&first), &shared, 0).await,
    ];
    let ports = [first.port(), replicas[0].port(), replicas[1].port()];
    let mut relay_env = shared.to_vec();
    let data_dir = first.data_dir.path().display().to_string();
    let kek = first.data_dir.path().join("kek").display().to_string();
    relay_env.extend([
        ("BOOKSTORE_ROLES", "relay"),
        ("BOOKSTORE_DATA_DIR", data_dir.as_str()),
        ("BOOKSTORE_KEK_FILE", kek.as_str()),
    ]);
    let database_url = first.database_url.clone().expect("PostgreSQL");
    let relay = spawn_unready(database_url, &relay_env).await;
    wait_ready(&relay, "the relay").await;

    let ca = TestCa::new();
    let mut proxy = start_nginx(&nginx_binary, &ca, port, &ports);
    let client = client_trusting(&ca.pem, false);
    wait_for_nginx(&mut proxy, &client).await;
    let login = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "{}", proxy.error_log());
    let token = body(login).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let load = Arc::new(Load {
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        next_isbn: AtomicU32::new(700_000),
        counts: Mutex::new(Counts::default()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| {
            tokio::spawn(client_loop(
                load.clone(),
                client.clone(),
                base.clone(),
                token.clone(),
                me,
            ))
        })
        .collect();
    tokio::time::sleep(SETTLE).await;

    // 1. SIGKILL: nothing is finished, closed or handed back.
    load.enter(Phase::Killed);
    replicas[1].kill();
    tokio::time::sleep(SETTLE).await;
    let mut retired = vec![std::mem::replace(
        &mut replicas[1],
        spawn_api(Some(&first), &shared, ports[2]).await,
    )];
    tokio::time::sleep(fail_timeout() + SETTLE).await;

    // 2. A rolling restart: each replica in turn is stopped and started on its port.
    load.enter(Phase::Rolling);
    let mut all = vec![first];
    all.append(&mut replicas);
    for (i, port) in ports.iter().enumerate() {
        let status = all[i].terminate();
        assert!(
            status.success(),
            "replica {i} exited with {status}:\n{}",
            all[i].logs()
        );
        let replacement = spawn_api(Some(&all[0]), &shared, *port).await;
        if i == 0 {
            // The first replica's directory holds the key-encryption key: keep it alive.
            all.push(replacement);
        } else {
            retired.push(std::mem::replace(&mut all[i], replacement));
        }
        tokio::time::sleep(fail_timeout() + SETTLE).await;
    }
    load.stop.store(true, Ordering::SeqCst);
    for task in clients {
        task.await.expect("client task");
    }

    let report: Vec<String> = load
        .counts()
        .tally
        .iter()
        .map(|((phase, kind), (ok, failed))| format!("{phase:?} {kind}s: {ok} ok, {failed} failed"))
        .collect();
    println!("scale-out under load:\n  {}", report.join("\n  "));
    for (i, app) in all.iter().chain(&retired).enumerate() {
        let logs = app.logs();
        let notable: Vec<&str> = logs
            .lines()
            .filter(|l| {
                l.contains("ERROR")
                    || l.contains("WARN")
                    || l.contains("panic")
                    || l.contains("shutting")
                    || l.contains("serving on")
            })
            .collect();
        eprintln!("server {i} (port {}):\n{}", app.port(), notable.join("\n"));
    }
    let (steady_reads, steady_failed) = load.tally(Phase::Steady, "read");
    assert!(steady_reads > 0, "no read went through in steady state");
    let failures = load.counts().failures.clone();
    let failures = &failures[..failures.len().min(20)];
    // What nginx says went wrong, first each kind once.
    let nginx_errors = || {
        let mut seen = std::collections::BTreeSet::new();
        proxy
            .error_log()
            .lines()
            .filter(|l| l.contains("[error]") || l.contains("[warn]"))
            .filter(|l| {
                seen.insert(
                    l.split(", client")
                        .next()
                        .unwrap_or(l)
                        .split("*")
                        .last()
                        .unwrap_or(l)
                        .split_once(' ')
                        .map_or("", |(_, r)| r)
                        .to_owned(),
                )
            })
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(steady_failed, 0, "{failures:#?}\n{}", nginx_errors());
    assert_eq!(
        load.tally(Phase::Steady, "write").1,
        0,
        "{failures:#?}\n{}",
        nginx_errors()
    );
    assert_eq!(
        load.tally(Phase::Killed, "read").1,
        0,
        "a read failed after the kill: {failures:#?}\n{}",
        nginx_errors()
    );
    let killed_writes = load.tally(Phase::Killed, "write").1;
    assert!(
        killed_writes as usize <= CLIENTS,
        "more writes failed than could be in flight at the kill: {failures:#?}"
    );
    for kind in ["read", "write"] {
        let (ok, failed) = load.tally(Phase::Rolling, kind);
        assert!(ok > 0, "no {kind} went through during the rolling restart");
        assert_eq!(
            failed,
            0,
            "a {kind} failed in the rolling restart: {failures:#?}\n{}",
            nginx_errors()
        );
    }

    // Every acknowledged create is in the store; the relay published every event.
    let created = load.counts().created.clone();
    let survivor = &all[1];
    for id in &created {
        let response = survivor
            .anonymous(Method::GET, &format!("/books/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read back");
        assert_eq!(response.status(), 200, "created book {id} is missing");
    }
    let events = survivor.count("outbox").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let published = stream_messages(&nats_url, &stream).await.len();
        if published as i64 >= events {
            assert_eq!(published as i64, events, "events published twice");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the relay published {published} of {events} events:\n{}",
            relay.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
