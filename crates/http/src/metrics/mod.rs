//! Prometheus metrics: the recorder, `/metrics`, and the HTTP series.
//!
//! Every crate records through the `metrics` facade (a no-op until a recorder is installed,
//! so tests and `BOOKSTORE_METRICS=off` pay next to nothing); [`install`] puts the Prometheus
//! recorder in place, once per process, and [`render`] writes what it holds in the text
//! exposition format, with the process's own series ([`process`]) and whatever the scrape-time
//! collectors set just before. Names follow Prometheus's conventions: base units in the name
//! (`_seconds`, `_bytes`), counters end in `_total`.

pub mod auth;
pub mod cache;
pub mod catalog;
mod layer;
pub mod process;

pub use layer::{layer, record, record_as, HttpMetrics};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of every `_seconds` histogram: 1 ms to 10 s, about three per decade.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The media type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets when nobody scrapes, so that
/// memory does not grow between scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

type Collector = Box<dyn Fn() + Send + Sync>;

struct Installed {
    handle: PrometheusHandle,
    /// Set gauges that are cheaper to read at scrape time than to keep up to date (pools).
    collectors: Mutex<Vec<Collector>>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("the metrics recorder could not be built: {0}")]
    Build(#[from] metrics_exporter_prometheus::BuildError),
    #[error("a metrics recorder is installed already")]
    AlreadyInstalled,
}

/// What `bookstore_build_info` says.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
}

/// Installs the Prometheus recorder for the whole process and records the build info.
pub fn install(build: &BuildInfo) -> Result<(), MetricsError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    INSTALLED
        .set(Installed {
            handle,
            collectors: Mutex::new(Vec::new()),
        })
        .map_err(|_| MetricsError::AlreadyInstalled)?;
    catalog::describe();
    catalog::preset();
    metrics::gauge!(
        catalog::BUILD_INFO,
        "version" => build.version,
        "git_commit" => build.git_commit
    )
    .set(1.0);
    process::start();
    Ok(())
}

/// Whether [`install`] ran: metrics are recorded and `/metrics` answers.
pub fn enabled() -> bool {
    INSTALLED.get().is_some()
}

/// Runs `collect` before every scrape (it sets gauges from state it can read cheaply).
pub fn on_scrape(collect: impl Fn() + Send + Sync + 'static) {
    if let Some(installed) = INSTALLED.get() {
        if let Ok(mut collectors) = installed.collectors.lock() {
            collectors.push(Box::new(collect));
        }
    }
}

/// Folds histogram samples into buckets; call every [`UPKEEP_INTERVAL`].
pub fn upkeep() {
    if let Some(installed) = INSTALLED.get() {
        installed.handle.run_upkeep();
    }
}

/// Everything recorded, in the text exposition format; `None` when metrics are off.
pub fn render() -> Option<String> {
    let installed = INSTALLED.get()?;
    if let Ok(collectors) = installed.collectors.lock() {
        for collect in collectors.iter() {
            collect();
        }
    }
    let mut text = installed.handle.render();
    process::render(&mut text);
    Some(text)
}

/// `/metrics` as an answer: the exposition, or 404 when metrics are off.
pub fn response() -> Response {
    match render() {
        Some(text) => {
            let mut response = (StatusCode::OK, text).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        None => crate::error::ApiError::not_found(
            "Metrics are off in this process (BOOKSTORE_METRICS=off).",
        )
        .into_response(),
    }
}

/// The router of `BOOKSTORE_METRICS_LISTEN`: `/metrics` for anyone, nothing else.
pub fn listener_router() -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(|| async { response() }))
}
