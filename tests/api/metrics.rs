//! Metrics: `/metrics` for admins on the main listener and for anyone on the metrics listener,
//! scraped by a real Prometheus, and the operator files of `deploy/` held to what a scrape
//! shows (`promtool check rules`, the dashboard's queries).
//!
//! Needs Prometheus (`prometheus`, `promtool`: Debian's `prometheus` package, which
//! `./scripts/test` installs). When it is missing the test fails under CI (`CI=true`) and
//! otherwise skips with a message saying so.

use crate::both_stores;
use crate::helpers::*;
use bookstore_events::testing::under_ci;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ALERTS: &str = include_str!("../../deploy/prometheus/alerts.yml");
const DASHBOARD: &str = include_str!("../../deploy/grafana/bookstore.json");

fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// The paths of prometheus and promtool; `None` (skip, saying so) when missing outside CI.
fn prometheus_tools() -> Option<(PathBuf, PathBuf)> {
    if let (Some(server), Some(tool)) = (find("prometheus"), find("promtool")) {
        return Some((server, tool));
    }
    assert!(
        !under_ci(),
        "prometheus is not installed, and CI is set: the metrics test must run in CI. \
         ./scripts/test installs it when it runs as root with apt-get; otherwise \
         `sudo apt-get install prometheus`"
    );
    eprintln!(
        "SKIPPED metrics: prometheus is not installed (./scripts/test installs it when it runs \
         as root with apt-get; otherwise `sudo apt-get install prometheus`). Under CI=true this \
         is a failure."
    );
    None
}

/// A Prometheus of the test's own, stopped when dropped.
struct Prometheus {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts on a free loopback port, scraping `target` every second.
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: bookstore\n    static_configs:\n      \
                 - targets: ['{target}']\n",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../deploy/prometheus/alerts.yml")
                    .display()
            ),
        )
        .expect("config");
        let (socket, port) = closed_port();
        drop(socket);
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready; log:\n{}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The series of an instant query, as (labels, value).
    async fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .expect("query prometheus");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        answer["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|series| {
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (series["metric"].clone(), value)
            })
            .collect()
    }
}

/// The label `name` of each series.
fn labels(series: &[(Value, f64)], name: &str) -> BTreeSet<String> {
    series
        .iter()
        .filter_map(|(labels, _)| labels[name].as_str().map(str::to_owned))
        .collect()
}

/// The metric names a PromQL text or a rule file mentions: ours and the process's.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("bookstore_") || word.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

/// The metric names of a scrape: each family's (`# TYPE`) and each series' (a histogram's
/// `_bucket`, `_sum`, `_count`).
fn scraped_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(family) => family.split(' ').next(),
            None if line.starts_with('#') || line.trim().is_empty() => None,
            None => line.split(['{', ' ']).next(),
        })
        .map(str::to_owned)
        .collect()
}

/// Every `expr` and templating `query` of the dashboard.
fn dashboard_queries(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query", Value::String(text)) => out.push(text.clone()),
                    _ => dashboard_queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| dashboard_queries(item, out)),
        _ => {}
    }
}

both_stores!(scraped_by_prometheus, |backend| async move {
    let Some((prometheus_bin, promtool)) = prometheus_tools() else {
        return;
    };
    let files = tempfile::tempdir().expect("temp dir");
    let address_file = files.path().join("metrics-address");
    let address_path = address_file.display().to_string();
    let app = spawn_with(
        backend,
        &[
            ("BOOKSTORE_METRICS_LISTEN", "127.0.0.1:0"),
            ("BOOKSTORE_METRICS_ADDRESS_FILE", address_path.as_str()),
            ("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    let metrics_address = std::fs::read_to_string(&address_file)
        .expect("the metrics listener's address")
        .trim()
        .to_owned();

    // Traffic: a create, reads of it by id, searches, a path no route serves, a webhook
    // whose ping cannot connect (a delivery to retry).
    let book = app.create_book(hobbit()).await;
    let id = book["id"].as_str().expect("id").to_owned();
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/books/{id}")).await.status(), 200);
    }
    assert_eq!(app.get("/books?q=hobbit").await.status(), 200);
    assert_eq!(app.get("/books?q=hobbti").await.status(), 200);
    assert_eq!(app.get("/no/such/path").await.status(), 404);
    let (closed, closed_port) = closed_port();
    let hook = app
        .post_json(
            "/webhooks",
            &json!({"url": format!("http://127.0.0.1:{closed_port}/hook"),
                    "event_types": ["bookstore.book.created"]}),
        )
        .await;
    assert_eq!(hook.status(), 201);
    let hook = body(hook).await;
    let ping = app
        .request(
            Method::POST,
            &format!("/webhooks/{}/ping", hook["id"].as_str().expect("id")),
        )
        .send()
        .await
        .expect("ping");
    assert_eq!(body(ping).await["status"], "pending");
    drop(closed);

    // The main listener: admins only.
    let anonymous = app
        .anonymous(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), 401);
    app.add_user("clerk", "saffron lighthouse kettle", "staff")
        .await;
    let staff = app.sign_in("clerk", "saffron lighthouse kettle").await;
    let as_staff = app
        .anonymous(Method::GET, "/metrics")
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET");
    assert_eq!(as_staff.status(), 403);
    let as_admin = app.get("/metrics").await;
    assert_eq!(as_admin.status(), 200);
    assert_eq!(
        header(&as_admin, reqwest::header::CONTENT_TYPE),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = as_admin.text().await.expect("text");
    assert!(text.contains("# TYPE bookstore_http_requests_total counter"));

    // The metrics listener: /metrics for anyone, nothing else.
    let client = reqwest::Client::new();
    let listener = format!("http://{metrics_address}");
    let scrape = client
        .get(format!("{listener}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scrape.status(), 200);
    let scrape = scrape.text().await.expect("text");
    for other in ["/healthz", "/books", "/openapi.json"] {
        let response = client
            .get(format!("{listener}{other}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 404, "{other} on the metrics listener");
    }
    assert!(
        !scrape.contains(&id),
        "a raw path (the book's id) in a label:\n{scrape}"
    );
    assert!(scrape.contains("bookstore_build_info{"), "{scrape}");

    // The operator files name only series that exist.
    let scraped = scraped_names(&scrape);
    let mut queries = Vec::new();
    dashboard_queries(
        &serde_json::from_str(DASHBOARD).expect("the dashboard is JSON"),
        &mut queries,
    );
    assert!(queries.len() > 20, "{queries:?}");
    let mut named = metric_names(ALERTS);
    for query in &queries {
        named.extend(metric_names(query));
    }
    let missing: Vec<&String> = named.difference(&scraped).collect();
    assert!(
        missing.is_empty(),
        "the dashboard or the alerts name series a scrape does not have: {missing:?}\n{scrape}"
    );
    let checked = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/alerts.yml"))
        .output()
        .expect("promtool");
    assert!(
        checked.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes the listener; its API shows the series with their labels.
    let prometheus = Prometheus::start(&prometheus_bin, &metrics_address).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let by_id = prometheus
            .query(
                r#"bookstore_http_requests_total{method="GET",route="/books/{id}",status="200"}"#,
            )
            .await;
        let routes = labels(
            &prometheus.query("bookstore_http_requests_total").await,
            "route",
        );
        let buckets = labels(
            &prometheus
                .query(r#"bookstore_http_request_duration_seconds_bucket{route="/books/{id}",status="200"}"#)
                .await,
            "le",
        );
        let pools = labels(
            &prometheus.query("bookstore_db_pool_connections").await,
            "pool",
        );
        let in_use = labels(
            &prometheus
                .query("bookstore_db_pool_in_use_connections")
                .await,
            "pool",
        );
        let quantile = prometheus
            .query(r#"histogram_quantile(0.99, sum by (le) (rate(bookstore_http_request_duration_seconds_bucket{route="/books/{id}"}[1m])))"#)
            .await;
        let done = by_id.len() == 1
            && by_id[0].1 >= 3.0
            && routes.contains("unmatched")
            && routes.contains("/books/{id}")
            && ["0.001", "0.01", "1", "10", "+Inf"]
                .iter()
                .all(|le| buckets.contains(*le))
            && pools == BTreeSet::from(["reads".to_owned(), "writes".to_owned()])
            && in_use == pools
            && quantile.len() == 1;
        if done {
            // Route templates only: no label carries a raw path.
            for route in &routes {
                assert!(
                    route == "unmatched" || (route.starts_with('/') && !route.contains(&id)),
                    "route label {route:?}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not show the series: by id {by_id:?}, routes {routes:?}, buckets \
             {buckets:?}, pools {pools:?}, in use {in_use:?}, p99 {quantile:?}; log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The rules load and evaluate against the service's series.
    let rules: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/rules", prometheus.base))
        .send()
        .await
        .expect("rules")
        .json()
        .await
        .expect("json");
    let loaded = rules["data"]["groups"][0]["rules"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(loaded >= 6, "{rules}");
});

both_stores!(metrics_off, |backend| async move {
    let app = spawn_with(backend, &[("BOOKSTORE_METRICS", "off")]).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        header(&response, reqwest::header::CONTENT_TYPE),
        "application/problem+json"
    );
});
