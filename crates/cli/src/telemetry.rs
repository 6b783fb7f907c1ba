//! Metrics of `bookstore serve`: the recorder, the gauges read at scrape time or sampled,
//! and the listener of `BOOKSTORE_METRICS_LISTEN`.

use crate::config::Settings;
use anyhow::Context;
use bookstore_http::metrics::{self as http_metrics, catalog, BuildInfo};
use bookstore_store::Store;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often readiness and the outbox's backlog are read (a query each) for their gauges.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    git_commit: env!("BOOKSTORE_GIT_COMMIT"),
};

/// Installs the recorder when metrics are on, with the task that keeps histograms folded.
pub fn install(settings: &Settings) -> anyhow::Result<Option<JoinHandle<()>>> {
    if !settings.metrics.metrics {
        tracing::info!("metrics are off (BOOKSTORE_METRICS=off)");
        return Ok(None);
    }
    http_metrics::install(&BUILD).context("installing the metrics recorder")?;
    Ok(Some(tokio::spawn(async {
        let mut tick = tokio::time::interval(http_metrics::UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            http_metrics::upkeep();
        }
    })))
}

/// The pools' gauges, read at each scrape: counting connections costs nothing, and a sample
/// taken earlier would be stale.
pub fn watch_pools(store: &Store) {
    let store = store.clone();
    http_metrics::on_scrape(move || {
        for stats in store.pool_stats() {
            let pool = stats.pool;
            metrics::gauge!(catalog::POOL_CONNECTIONS, "pool" => pool).set(stats.size);
            metrics::gauge!(catalog::POOL_IDLE, "pool" => pool).set(stats.idle);
            metrics::gauge!(catalog::POOL_IN_USE, "pool" => pool).set(stats.in_use());
            metrics::gauge!(catalog::POOL_MAX, "pool" => pool).set(stats.max);
        }
    });
}

/// Samples, every few seconds, whether the store is ready (as `/readyz` says) and, in the
/// relay role, the outbox's backlog: queries, so not run at scrape time, which anyone on the
/// metrics listener could then drive.
pub fn sample(store: &Store, relay: bool) -> JoinHandle<()> {
    let books = store.catalog();
    let outbox = relay.then(|| store.outbox());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        loop {
            tick.tick().await;
            let ready = books.ready().await.is_ok();
            metrics::gauge!(catalog::READY).set(if ready { 1.0 } else { 0.0 });
            let Some(outbox) = &outbox else { continue };
            match outbox.backlog().await {
                Ok(backlog) => {
                    metrics::gauge!(catalog::OUTBOX_BACKLOG).set(backlog.unpublished as f64);
                    let age = backlog.oldest.map_or(0.0, |oldest| {
                        (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
                    });
                    metrics::gauge!(catalog::OUTBOX_OLDEST_AGE).set(age);
                }
                Err(err) => tracing::debug!(error = %err, "could not read the outbox backlog"),
            }
        }
    })
}

/// Serves `/metrics` alone on `BOOKSTORE_METRICS_LISTEN`, until `stop` says so.
pub async fn listener(
    settings: &Settings,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let Some(listen) = settings.metrics.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the metrics listener {listen}"))?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, http_metrics::listener_router())
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    });
    tracing::info!(%address, "serving metrics on http://{address}/metrics");
    Ok(Some((address, task)))
}
