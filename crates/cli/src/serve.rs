//! `bookstore serve`: the services bound to a socket, with graceful shutdown.

use crate::config::Settings;
use crate::wiring;
use anyhow::Context;
use bookstore_http::HttpConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// How often signing keys are re-read, so that a rotation elsewhere is seen here.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let services = wiring::build(&settings).await?;
    wiring::bootstrap_admin(&settings, &services.accounts).await?;
    let keyring = services.keyring.clone();
    let reloader = tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(err) = keyring.reload().await {
                tracing::warn!(error = %err, "could not reload signing keys");
            }
        }
    });
    let app = bookstore_http::router(
        services.state,
        &HttpConfig {
            body_limit: settings.body_limit,
            rate_limits: settings.rate_limits.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
        },
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving on http://{address}");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
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
    reloader.abort();
    services.store.close().await;
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
