//! `bookstore backup` and `bookstore restore`: a backup taken while a writer adds books holds
//! every book acknowledged before it started, restores into a fresh store that serves, and a
//! restore refuses what it must (a store with data, a store in use, a file that is not a
//! Bookstore database). PostgreSQL's path (pg_dump, pg_restore) as the README documents it.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `bookstore ARGS` on the store in `data_dir` (SQLite) or at `database_url`.
fn bookstore(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOKSTORE_DATA_DIR", data_dir)
        .env("BOOKSTORE_LOG", "warn");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("run bookstore")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A book the writer had acknowledged: its id, and when its create and its sale were.
#[derive(Clone)]
struct Acked {
    id: String,
    created: Instant,
    sold: Option<Instant>,
}

/// Adds books (each created with 5 copies, then one sold) until `stop`, one request at a time.
async fn write_books(
    app_base: String,
    token: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let client = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let response = client
            .post(format!("{app_base}/books"))
            .bearer_auth(&token)
            .json(&json!({"isbn": isbn(n), "title": format!("Book {n}"), "quantity": 5}))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201);
        let book: Value = response.json().await.expect("json");
        let id = book["id"].as_str().expect("id").to_owned();
        let index = {
            let mut acked = acked.lock().expect("lock");
            acked.push(Acked {
                id: id.clone(),
                created: Instant::now(),
                sold: None,
            });
            acked.len() - 1
        };
        let response = client
            .post(format!("{app_base}/books/{id}/stock-movements"))
            .bearer_auth(&token)
            .json(&json!({"kind": "sale", "quantity": 1}))
            .send()
            .await
            .expect("sale");
        assert_eq!(response.status(), 201);
        acked.lock().expect("lock")[index].sold = Some(Instant::now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_acknowledged_book() {
    let app = spawn(Backend::Sqlite).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = tokio::spawn(write_books(
        app.base.clone(),
        app.admin_token.clone(),
        stop.clone(),
        acked.clone(),
    ));
    while acked.lock().expect("lock").len() < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let backups = tempfile::tempdir().expect("dir");
    let file = backups.path().join("shop.backup");
    let file_arg = file.display().to_string();
    let started = Instant::now();
    let source = app.data_dir.path().to_owned();
    let output = tokio::task::spawn_blocking({
        let file_arg = file_arg.clone();
        move || bookstore(&source, None, &["backup", &file_arg])
    })
    .await
    .expect("backup");
    let finished = Instant::now();
    // A little more load after it, then the writer stops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    assert!(
        output.status.success(),
        "backup failed: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("key-encryption key"),
        "{}",
        stderr(&output)
    );
    let acked = acked.lock().expect("lock").clone();
    let before: Vec<&Acked> = acked.iter().filter(|a| a.created < started).collect();
    let during = acked
        .iter()
        .filter(|a| a.created >= started && a.created <= finished)
        .count();
    assert!(during > 0, "no write went on during the backup");
    assert!(file.is_file());
    for side in ["shop.backup-wal", "shop.backup-shm", "shop.backup.partial"] {
        assert!(!backups.path().join(side).exists(), "{side} left beside it");
    }
    // Never over an existing file.
    let again = bookstore(app.data_dir.path(), None, &["backup", &file_arg]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );

    // Into a fresh store, with the shop's key-encryption key beside it.
    let restored_dir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        app.data_dir.path().join("kek"),
        restored_dir.path().join("kek"),
    )
    .expect("copy kek");
    let output = bookstore(restored_dir.path(), None, &["restore", &file_arg]);
    assert!(
        output.status.success(),
        "restore failed: {}",
        stderr(&output)
    );
    // Now it holds data: not again without --force; then with it.
    let output = bookstore(restored_dir.path(), None, &["restore", &file_arg]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    let output = bookstore(
        restored_dir.path(),
        None,
        &["restore", "--force", &file_arg],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // The source store is served right now: never replaced under a running server.
    let output = bookstore(
        app.data_dir.path(),
        None,
        &["restore", "--force", &file_arg],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("in use"), "{}", stderr(&output));
    assert_eq!(app.get("/books?limit=1").await.status(), 200);

    let restored = spawn_in(restored_dir, &[]).await;
    for book in &before {
        let response = restored.get(&format!("/books/{}", book.id)).await;
        assert_eq!(
            response.status(),
            200,
            "book {} acknowledged before the backup is missing",
            book.id
        );
        let body = body(response).await;
        if book.sold.is_some_and(|sold| sold < started) {
            assert_eq!(body["quantity"], 4, "{body}");
        }
        let history = body_of(&restored, &format!("/books/{}/history", book.id)).await;
        assert!(
            !history["items"].as_array().expect("items").is_empty(),
            "{history}"
        );
    }
    let books = restored.count("books").await;
    assert!(books >= before.len() as i64 && books <= acked.len() as i64);
    assert_eq!(
        restored.count("book_history").await,
        books + sales(&restored).await
    );
    let ledger = bookstore_store::testing::stock_ledger(restored.store().await).await;
    assert!(!ledger.is_empty());
    for (book, location, level, total) in &ledger {
        assert_eq!(
            level, total,
            "stock of {book} at {location} disagrees with its movements"
        );
    }
    // It serves writes and searches.
    restored.create_book(hobbit()).await;
    let found = body_of(&restored, "/books?q=hobbit").await;
    assert_eq!(found["items"][0]["title"], "The Hobbit", "{found}");
}

/// Sales recorded in the store (each a history row beside its book's creation).
async fn sales(app: &TestApp) -> i64 {
    let rows: Vec<(i64,)> = sqlx_count(
        app,
        "SELECT count(*) FROM stock_movements WHERE kind = 'sale'",
    )
    .await;
    rows[0].0
}

async fn sqlx_count(app: &TestApp, sql: &str) -> Vec<(i64,)> {
    let url = format!(
        "sqlite://{}?mode=ro",
        app.data_dir.path().join("bookstore.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    let rows = sqlx::query_as(sql).fetch_all(&pool).await.expect(sql);
    pool.close().await;
    rows
}

async fn body_of(app: &TestApp, path: &str) -> Value {
    let response = app.request(Method::GET, path).send().await.expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    body(response).await
}

#[tokio::test]
async fn restore_refuses_files_that_are_not_bookstore_databases() {
    let dir = tempfile::tempdir().expect("dir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just some text").expect("write");
    let output = bookstore(dir.path(), None, &["restore", &text.display().to_string()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a SQLite database"),
        "{}",
        stderr(&output)
    );

    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", other.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("create");
    sqlx::query("CREATE TABLE things (id INTEGER PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("create table");
    pool.close().await;
    let output = bookstore(dir.path(), None, &["restore", &other.display().to_string()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a Bookstore database"),
        "{}",
        stderr(&output)
    );
    // Nothing was created in the data directory's place.
    assert!(!dir.path().join("bookstore.db").exists());
}

#[tokio::test]
async fn on_postgres_backup_points_to_pg_dump_and_that_path_restores() {
    let app = spawn(Backend::Postgres).await;
    let book = app.create_book(hobbit()).await;
    let url = app.database_url.clone().expect("url");
    let file = app.data_dir.path().join("shop.dump");
    let file_arg = file.display().to_string();
    let output = bookstore(app.data_dir.path(), Some(&url), &["backup", &file_arg]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("pg_dump"), "{}", stderr(&output));

    // The README's path: pg_dump in its custom format, pg_restore into an empty database.
    let Some(status) = run_if_present("pg_dump", &["--format=custom", "--file", &file_arg, &url])
    else {
        return;
    };
    assert!(status.success());
    let target = bookstore_store::testing::fresh_postgres_url().await;
    let status = run_if_present(
        "pg_restore",
        &[
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            &target,
            &file_arg,
        ],
    )
    .expect("pg_restore beside pg_dump");
    assert!(status.success());
    let kek = app.data_dir.path().join("kek").display().to_string();
    let restored = spawn_on(Some(target), &[("BOOKSTORE_KEK_FILE", kek.as_str())]).await;
    let response = restored
        .get(&format!("/books/{}", book["id"].as_str().expect("id")))
        .await;
    assert_eq!(response.status(), 200);
    restored
        .create_book(json!({"isbn": isbn(7), "title": "After the restore"}))
        .await;
}

/// Runs a PostgreSQL client tool; `None` (skipped, said) when it is not installed, outside CI.
fn run_if_present(tool: &str, args: &[&str]) -> Option<std::process::ExitStatus> {
    match Command::new(tool).args(args).status() {
        Ok(status) => Some(status),
        Err(err) if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("{tool} is needed under CI: {err}")
        }
        Err(err) => {
            eprintln!("skipped: {tool} is not installed ({err})");
            None
        }
    }
}
