//! The search read model (issue 17) through the real binary with `BOOKSTORE_SEARCH=index`:
//! a writer always finds its own write (the index, or the store when the index has not got
//! it yet), and the index converges to the store after a kill -9 during indexing and across
//! `bookstore index rebuild`.

use crate::helpers::{body, header, isbn, spawn_in, spawn_with, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INDEX: [(&str, &str); 1] = [("BOOKSTORE_SEARCH", "index")];

/// A word no other book has: letters only (digits would read as part of an ISBN).
fn unique_word(n: usize) -> String {
    let mut x = uuid::Uuid::now_v7().as_u128() ^ (n as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut word = String::from("zq");
    for _ in 0..10 {
        word.push(char::from(b'a' + (x % 26) as u8));
        x /= 26;
    }
    word
}

/// The ids a search finds (first page of 100) and who answered it.
async fn search(app: &TestApp, query: &str) -> (Vec<String>, String) {
    let response = app
        .request(Method::GET, &format!("/books?limit=100&{query}"))
        .send()
        .await
        .expect("search");
    assert_eq!(response.status(), 200, "{query}");
    let source = response
        .headers()
        .get("x-search-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let page = body(response).await;
    let ids = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect();
    (ids, source)
}

/// Waits until the index answers searches (it is built at the first start).
async fn index_answers(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, source) = search(app, "q=anything").await;
        if source == "index" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the index never answered; last: {source}; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn writers_find_their_own_writes(backend: Backend) {
    let app = spawn_with(backend, &INDEX).await;
    index_answers(&app).await;
    let mut by_index = 0;
    let mut searchable_after = Vec::new();
    for n in 0..25 {
        let word = unique_word(n);
        let created = app
            .create_book(json!({"isbn": isbn(7000 + n as u32), "title": format!("{word} chronicles"), "authors": ["Fresh Writer"]}))
            .await;
        let written = Instant::now();
        let id = created["id"].as_str().expect("id").to_owned();
        // The writer's very next search finds it, whoever answers.
        let (ids, source) = search(&app, &format!("q={word}")).await;
        assert!(ids.contains(&id), "create {n}: {word} not found ({source})");
        by_index += usize::from(source == "index");
        // When the index has it (what a client on another replica waits for).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (ids, source) = search(&app, &format!("q={word}")).await;
            if source == "index" && ids.contains(&id) {
                searchable_after.push(written.elapsed());
                break;
            }
            assert!(Instant::now() < deadline, "the index never found {word}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // An edit: the new word finds it, the old one no longer does.
        let renamed = unique_word(n + 1000);
        let response = app
            .request(Method::PATCH, &format!("/books/{id}"))
            .header("if-match", "*")
            .header("content-type", "application/merge-patch+json")
            .body(json!({"title": format!("{renamed} chronicles")}).to_string())
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 200);
        let (ids, source) = search(&app, &format!("q={renamed}")).await;
        assert!(
            ids.contains(&id),
            "edit {n}: {renamed} not found ({source})"
        );
        let (ids, source) = search(&app, &format!("q={word}")).await;
        assert!(
            !ids.contains(&id),
            "edit {n}: the old title still finds it ({source})"
        );
        if n % 5 == 0 {
            let response = app
                .request(Method::DELETE, &format!("/books/{id}"))
                .header("if-match", "*")
                .send()
                .await
                .expect("delete");
            assert_eq!(response.status(), 204);
            let (ids, source) = search(&app, &format!("q={renamed}")).await;
            assert!(!ids.contains(&id), "delete {n}: still found ({source})");
        }
    }
    searchable_after.sort();
    println!(
        "[{backend:?}] own writes answered by the index at once: {by_index}/25; write to searchable in the index: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&searchable_after, 0.5),
        percentile(&searchable_after, 0.99),
        searchable_after.last()
    );
}

#[tokio::test]
async fn sqlite_writers_find_their_own_writes() {
    writers_find_their_own_writes(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_writers_find_their_own_writes() {
    writers_find_their_own_writes(Backend::Postgres).await;
}

/// Every book as the store lists it: id → version.
async fn store_books(app: &TestApp) -> BTreeMap<String, i64> {
    let mut books = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/books?limit=100&cursor={c}"),
            None => "/books?limit=100".to_owned(),
        };
        let page: Value = body(app.get(&path).await).await;
        for b in page["items"].as_array().expect("items") {
            books.insert(
                b["id"].as_str().expect("id").to_owned(),
                b["version"].as_i64().expect("version"),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return books,
        }
    }
}

/// Every book as the index finds it (`q=crash`, which every title has), or `None` when a
/// page was answered by the store.
async fn index_books(app: &TestApp) -> Option<BTreeMap<String, i64>> {
    let mut books = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/books?limit=100&q=crash&sort=-updated_at".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = app.get(&path).await;
        let source = response
            .headers()
            .get("x-search-source")?
            .to_str()
            .ok()?
            .to_owned();
        if source != "index" {
            return None;
        }
        let page: Value = body(response).await;
        for b in page["items"].as_array().expect("items") {
            books.insert(
                b["id"].as_str().expect("id").to_owned(),
                b["version"].as_i64().expect("version"),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Some(books),
        }
    }
}

/// Waits until the index holds exactly the store's books at their versions.
async fn converges(app: &TestApp, what: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let store = store_books(app).await;
        let index = index_books(app).await;
        if index.as_ref() == Some(&store) {
            return store.len();
        }
        if Instant::now() >= deadline {
            let index = index.unwrap_or_default();
            let missing: Vec<_> = store
                .iter()
                .filter(|(id, v)| index.get(*id) != Some(v))
                .take(5)
                .collect();
            let extra: Vec<_> = index
                .keys()
                .filter(|id| !store.contains_key(*id))
                .take(5)
                .collect();
            panic!("{what}: the index did not converge: {} in the store, {} in the index; differing {missing:?}, extra {extra:?}; log:\n{}", store.len(), index.len(), app.logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes from several clients at once: creates, edits of some, deletes of others.
async fn write_load(app: &TestApp, from: u32, count: u32) {
    write_load_to(
        &app.base,
        &app.client,
        &app.admin_token,
        from,
        count,
        Default::default(),
    )
    .await;
}

/// Counts the books created (`created`).
async fn write_load_to(
    base: &str,
    http: &reqwest::Client,
    token: &str,
    from: u32,
    count: u32,
    created: Arc<AtomicU32>,
) {
    let mut tasks = Vec::new();
    for client in 0..4u32 {
        let base = base.to_owned();
        let http = http.clone();
        let token = token.to_owned();
        let counter = created.clone();
        tasks.push(tokio::spawn(async move {
            for n in (from + client..from + count).step_by(4) {
                let created = http
                    .post(format!("{base}/books"))
                    .bearer_auth(&token)
                    .json(&json!({"isbn": isbn(n), "title": format!("Crash book {n}"), "genres": ["Tests"]}))
                    .send()
                    .await;
                // The process may be killed under us: a failed request is not a failure.
                let Ok(created) = created else { return };
                let Ok(book) = created.json::<Value>().await else { return };
                let Some(id) = book["id"].as_str() else { continue };
                counter.fetch_add(1, Ordering::Relaxed);
                let change = match n % 3 {
                    0 => http
                        .patch(format!("{base}/books/{id}"))
                        .header("content-type", "application/merge-patch+json")
                        .body(json!({"title": format!("Crash book {n} revised")}).to_string()),
                    1 if n % 2 == 0 => http.delete(format!("{base}/books/{id}")),
                    _ => continue,
                };
                if change.bearer_auth(&token).header("if-match", "*").send().await.is_err() {
                    return;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[tokio::test]
async fn the_index_converges_after_kill_9_during_indexing_and_across_a_rebuild() {
    let mut app = spawn_with(Backend::Sqlite, &INDEX).await;
    index_answers(&app).await;
    write_load(&app, 10_000, 200).await;
    converges(&app, "before the crash").await;
    // Kill -9 while clients write and the index applies their events.
    let created = Arc::new(AtomicU32::new(0));
    let load = {
        let base = app.base.clone();
        let http = app.client.clone();
        let token = app.admin_token.clone();
        let created = created.clone();
        tokio::spawn(
            async move { write_load_to(&base, &http, &token, 20_000, 100_000, created).await },
        )
    };
    // Counted by the clients: opening the SQLite file here would hold it across the restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    while created.load(Ordering::Relaxed) < 150 {
        assert!(Instant::now() < deadline, "the load did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.kill();
    let _ = load.await;
    let data_dir = std::mem::replace(&mut app.data_dir, tempfile::tempdir().expect("tempdir"));
    drop(app);
    // The dead server's address must not be read as the new one's.
    std::fs::remove_file(data_dir.path().join("address")).expect("address file");
    let app = spawn_in(data_dir, &INDEX).await;
    let books = converges(&app, "after kill -9 and a restart").await;
    assert!(books > 150, "{books}");
    // A rebuild while writes go on: the server keeps answering (from the old index), then
    // swaps the new one in, which has every book.
    let data_dir = app.data_dir.path().to_owned();
    let rebuild = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::helpers::binary())
            .args(["index", "rebuild"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BOOKSTORE_DATA_DIR", data_dir)
            .env("BOOKSTORE_LOG", "warn")
            .output()
    });
    let (rebuilt, ()) = tokio::join!(rebuild, write_load(&app, 200_000, 120));
    let rebuilt = rebuilt.expect("join").expect("bookstore index rebuild");
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    println!("{}", String::from_utf8_lossy(&rebuilt.stdout));
    let generations = || {
        std::fs::read_dir(app.data_dir.path().join("search-index"))
            .expect("index dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("g-"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while generations() != 1 {
        assert!(
            Instant::now() < deadline,
            "the rebuilt index was not swapped in; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    converges(&app, "after the rebuild").await;
}

/// Restarts `app` in its data directory with `env` (after a kill -9: the address file of the
/// dead server must not be read as the new one's).
async fn restart(mut app: TestApp, env: &[(&str, &str)]) -> TestApp {
    app.kill();
    let data_dir = std::mem::replace(&mut app.data_dir, tempfile::tempdir().expect("tempdir"));
    drop(app);
    std::fs::remove_file(data_dir.path().join("address")).expect("address file");
    spawn_in(data_dir, env).await
}

/// An index stopped for longer than the outbox keeps events cannot replay what it missed:
/// at the next start it finds its position pruned from the log, builds a fresh generation
/// from the store beside the stale one (which answers nothing meanwhile: the unit test
/// `a_stale_generation_does_not_answer` in the search-index crate), then serves again with
/// every book, and only the fresh generation stays on disk.
#[tokio::test]
async fn an_index_stopped_past_the_outbox_retention_rebuilds_itself() {
    let app = spawn_with(Backend::Sqlite, &INDEX).await;
    index_answers(&app).await;
    write_load(&app, 30_000, 60).await;
    converges(&app, "before the stop").await;
    // The index is stopped; a server without it writes, and its janitor prunes every
    // published event within a second or two.
    let app = restart(
        app,
        &[
            ("BOOKSTORE_SEARCH", "off"),
            ("BOOKSTORE_OUTBOX_RETENTION", "1s"),
            ("BOOKSTORE_JANITOR_INTERVAL", "1s"),
        ],
    )
    .await;
    write_load(&app, 40_000, 60).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let pruned = |logs: &str| {
        logs.lines()
            .filter(|l| l.contains("janitor pruned"))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|l| {
                let n = l["fields"]["outbox_events"].as_u64();
                n.or(l["outbox_events"].as_u64()).unwrap_or(0) > 0
            })
    };
    while !pruned(&app.logs()) {
        assert!(
            Instant::now() < deadline,
            "the janitor pruned nothing; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Published since the last sweep: wait for one more, which has them all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = restart(app, &INDEX).await;
    let books = converges(&app, "after a stop past the retention").await;
    assert!(books >= 100, "{books}");
    let logs = app.logs();
    assert!(
        logs.contains("pruned past the outbox retention") && logs.contains("search index rebuilt"),
        "the index did not rebuild itself; log:\n{logs}"
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("bookstore_search_index_rebuilds_total{reason=\"pruned\"} 1"),
        "{metrics}"
    );
    // The stale generation is gone once the rebuilt one answers.
    let generations = std::fs::read_dir(app.data_dir.path().join("search-index"))
        .expect("index dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("g-"))
        .count();
    assert_eq!(generations, 1);
}

/// Read-your-writes across processes (PostgreSQL): a client writes through one process and
/// searches through another with the write's `Consistency-Token`. The other process's index
/// answers once it has read the log past the write's event (no event written before the
/// token is unpublished, and the index has read up to the head), waiting up to
/// `BOOKSTORE_SEARCH_OWN_WRITE_WAIT`; else the store answers. Either way the client finds its
/// write; before, every such search went to the store.
#[tokio::test]
async fn a_consistency_token_is_answered_by_the_index_once_it_has_the_write() {
    // Two processes' caches of one database: writes hand out tokens.
    let env = [
        ("BOOKSTORE_PUBLIC_URL", "http://bookstore.test"),
        ("BOOKSTORE_CACHE_MB", "16"),
    ];
    let writer = spawn_with(Backend::Postgres, &env).await;
    let mut with_index = env.to_vec();
    with_index.extend(INDEX);
    let reader = writer.replica(&with_index).await;
    index_answers(&reader).await;
    let writes = 20;
    let mut by_index = 0;
    for n in 0..writes {
        let word = unique_word(n);
        let response = writer
            .post_json(
                "/books",
                &json!({"isbn": isbn(50_000 + n as u32), "title": format!("Token {word}")}),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", writer.logs());
        let token = header(&response, "consistency-token".parse().expect("name"));
        assert!(!token.is_empty(), "writes hand out tokens");
        let id = body(response).await["id"].as_str().expect("id").to_owned();
        let response = reader
            .request(Method::GET, &format!("/books?q={word}"))
            .header("Consistency-Token", &token)
            .send()
            .await
            .expect("search");
        assert_eq!(response.status(), 200);
        let source = header(&response, "x-search-source".parse().expect("name"));
        let page = body(response).await;
        let found: Vec<&str> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|b| b["id"].as_str())
            .collect();
        assert_eq!(found, [id.as_str()], "write {n}, answered by {source}");
        if source == "index" {
            by_index += 1;
        } else {
            assert_eq!(source, "store; reason=token", "write {n}");
        }
    }
    // The relay publishes and the index applies within milliseconds; the wait is 1 s: all
    // but a few on a very busy machine.
    assert!(
        by_index >= writes / 2,
        "the index answered {by_index} of {writes}; log:\n{}",
        reader.logs()
    );
    println!("searches with a token answered by the index: {by_index} of {writes}");
}
