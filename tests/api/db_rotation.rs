//! Database credentials rotated under load, without a restart: the service reads
//! `DATABASE_URL` from a file; the role's password changes (`ALTER ROLE … PASSWORD`) and the
//! file is rewritten while clients read and write; new connections use the new password, the
//! old ones drain, and (almost) no request fails. The counts are printed for the note.

use crate::helpers::*;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request of the load: when it started and ended, and whether it succeeded.
#[derive(Debug, Clone)]
struct Outcome {
    started: Instant,
    ended: Instant,
    ok: bool,
    what: String,
}

fn role_url(url: &str, role: &str, password: &str) -> String {
    url.replacen("postgres@", &format!("{role}:{password}@"), 1)
}

/// Rewrites `path` whole (renamed into place), as a secret manager's agent does.
fn rewrite(path: &std::path::Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

/// Sessions of `role` that started before `at` (server time, seconds since the epoch): the
/// pools' and also those held for good (the event listener's, the relay's leases, the
/// replica poller's), which a password change would not end by itself.
async fn old_sessions(admin: &mut PgConnection, role: &str, at: f64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 \
         AND extract(epoch FROM backend_start) < $2",
    )
    .bind(role)
    .bind(at)
    .fetch_one(admin)
    .await
    .expect("pg_stat_activity")
}

async fn new_sessions(admin: &mut PgConnection, role: &str, at: f64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 \
         AND extract(epoch FROM backend_start) > $2",
    )
    .bind(role)
    .bind(at)
    .fetch_one(admin)
    .await
    .expect("pg_stat_activity")
}

/// Reads and writes, each worker in a loop until `stop`.
fn start_load(
    app: &TestApp,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let next_isbn = Arc::new(AtomicU32::new(1));
    let mut workers = Vec::new();
    for worker in 0..6 {
        let (client, base, token) = (
            app.client.clone(),
            app.base.clone(),
            app.admin_token.clone(),
        );
        let (stop, outcomes, next_isbn) = (stop.clone(), outcomes.clone(), next_isbn.clone());
        workers.push(tokio::spawn(async move {
            let writer = worker < 2;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (result, what) = if writer {
                    let n = next_isbn.fetch_add(1, Ordering::Relaxed);
                    let mut book = hobbit();
                    book["isbn"] = json!(isbn(500_000 + n));
                    (
                        client
                            .post(format!("{base}/books"))
                            .bearer_auth(&token)
                            .json(&book)
                            .send()
                            .await,
                        "write",
                    )
                } else {
                    (
                        client
                            .get(format!("{base}/books?limit=5"))
                            .bearer_auth(&token)
                            .send()
                            .await,
                        "read",
                    )
                };
                let (ok, what) = match result {
                    Ok(response) if response.status().is_success() => (true, what.to_owned()),
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        (false, format!("{what}: {status} {text}"))
                    }
                    Err(err) => (false, format!("{what}: {err}")),
                };
                outcomes.lock().expect("outcomes").push(Outcome {
                    started,
                    ended: Instant::now(),
                    ok,
                    what,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    workers
}

#[tokio::test]
async fn database_credentials_rotate_under_load_without_a_restart() {
    rotate_under_load(false).await;
}

/// The same with the file no longer polled: `SIGHUP` makes the service re-read it.
#[tokio::test]
async fn database_credentials_rotate_on_sighup() {
    rotate_under_load(true).await;
}

async fn rotate_under_load(by_signal: bool) {
    let url = bookstore_store::testing::fresh_postgres_url().await;
    let database = url.rsplit('/').next().expect("database").to_owned();
    let role = format!("rot_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (first, second) = (
        uuid::Uuid::new_v4().simple().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    for statement in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{first}'"),
        format!("ALTER DATABASE \"{database}\" OWNER TO {role}"),
    ] {
        admin.execute(statement.as_str()).await.expect("role");
    }
    let secrets = tempfile::tempdir().expect("temp dir");
    let secret_file = secrets.path().join("database_url");
    rewrite(&secret_file, &role_url(&url, &role, &first));
    let secret_path = secret_file.display().to_string();
    let mut app = spawn_on(
        None,
        &[
            ("DATABASE_URL_FILE", &secret_path),
            (
                "BOOKSTORE_SECRET_RELOAD_INTERVAL",
                if by_signal { "0" } else { "1" },
            ),
            ("BOOKSTORE_RATE_LIMIT_USER", "100000/s"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "100000"),
        ],
    )
    .await;
    // The test's own look at the rows, as the superuser.
    app.database_url = Some(url.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let workers = start_load(&app, stop.clone(), outcomes.clone());
    // Steady load first (every pool connection opened with the first password).
    let warm = Instant::now() + Duration::from_secs(3);
    while Instant::now() < warm || outcomes.lock().expect("outcomes").len() < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The switch: the password changes, then the secret.
    let switch_at: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
        .fetch_one(&mut admin)
        .await
        .expect("now");
    let switch_started = Instant::now();
    admin
        .execute(format!("ALTER ROLE {role} PASSWORD '{second}'").as_str())
        .await
        .expect("alter role");
    rewrite(&secret_file, &role_url(&url, &role, &second));
    if by_signal {
        app.signal("HUP");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !app.logs().contains("database credentials changed") {
        assert!(
            Instant::now() < deadline,
            "the new credentials were not taken; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = Instant::now();

    // Under the same load, the connections opened with the first password drain and new
    // ones (which must have used the second) take their place.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut old, mut new) = (i64::MAX, 0);
    while old > 0 || new == 0 {
        if Instant::now() >= deadline {
            let rows: Vec<(String, f64, String)> = sqlx::query_as(
                "SELECT coalesce(state, ''), extract(epoch FROM clock_timestamp() - state_change)::float8, coalesce(query, '') \
                 FROM pg_stat_activity WHERE usename = $1 AND extract(epoch FROM backend_start) < $2",
            )
            .bind(&role)
            .bind(switch_at)
            .fetch_all(&mut admin)
            .await
            .expect("sessions");
            panic!("{old} connections of the old password left, {new} new ones: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        old = old_sessions(&mut admin, &role, switch_at).await;
        new = new_sessions(&mut admin, &role, switch_at).await;
    }
    let drained = Instant::now();
    // And a while longer, all on new connections.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }

    let outcomes = outcomes.lock().expect("outcomes").clone();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok).collect();
    let after: Vec<&&Outcome> = failed
        .iter()
        .filter(|o| o.started > applied + Duration::from_secs(1))
        .collect();
    let during = failed
        .iter()
        .filter(|o| o.ended >= switch_started && o.started <= applied)
        .count();
    let writes = outcomes.iter().filter(|o| o.what == "write").count();
    println!(
        "database credential rotation ({}): {} requests ({} writes), {} failed ({} in the switch \
         window of {:?}, {} after it); old connections drained {:?} after the new URL was taken",
        if by_signal { "SIGHUP" } else { "file watched" },
        outcomes.len(),
        writes,
        failed.len(),
        during,
        applied - switch_started,
        after.len(),
        drained - applied,
    );
    for failure in &failed {
        println!("  failed: {}", failure.what);
    }
    // Nothing fails once the new credentials are in use; at the switch, at most the requests
    // in flight (six workers).
    assert!(after.is_empty(), "failures after the switch: {after:?}");
    assert!(failed.len() <= 6, "{} failures: {failed:?}", failed.len());
    assert!(outcomes
        .iter()
        .filter(|o| o.started > drained)
        .any(|o| o.ok && o.what == "write"));
    assert_eq!(app.get("/books?limit=1").await.status(), 200);

    drop(app);
    let _ = admin.close().await;
    bookstore_store::testing::drop_postgres_database(&url).await;
    let mut server = PgConnection::connect(&bookstore_store::testing::admin_url())
        .await
        .expect("connect");
    server
        .execute(format!("DROP ROLE IF EXISTS {role}").as_str())
        .await
        .expect("drop role");
}
