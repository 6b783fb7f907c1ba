//! Wiring: the store, the catalog and the HTTP router, bound to a socket.

use crate::config::Settings;
use anyhow::Context;
use bookstore_core::Catalog;
use bookstore_http::{AppState, HttpConfig, LocalAdmin};
use bookstore_store::{Store, StoreConfig};
use secrecy::ExposeSecret;
use std::sync::Arc;
use tokio::sync::watch;

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let config = StoreConfig {
        database_url: settings
            .database_url
            .as_ref()
            .map(|u| u.expose_secret().to_owned()),
        data_dir: settings.data_dir.clone(),
        max_connections: settings.db_max_connections,
    };
    let store = Store::open(&config).await.context("opening the store")?;
    tracing::info!(backend = ?store.backend(), "store opened");
    Ok(store)
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let state = AppState {
        catalog: Catalog::new(store.catalog()),
        authenticator: Arc::new(LocalAdmin),
    };
    let app = bookstore_http::router(
        state,
        &HttpConfig {
            body_limit: settings.body_limit,
        },
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving on http://{address}");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        // Resolves when told to stop, or if the sender is gone.
        let _ = stop_rx.changed().await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown_signal().await;
    tracing::info!(
        grace_seconds = settings.shutdown_grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(settings.shutdown_grace, server).await {
        Ok(joined) => joined.context("server task")?.context("serving")?,
        Err(_) => tracing::warn!("grace period over; dropping unfinished requests"),
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
