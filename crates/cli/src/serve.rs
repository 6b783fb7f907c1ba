//! `bookstore serve`: the services bound to a socket, with graceful shutdown.

use crate::config::{Role, Settings, TlsSource};
use crate::pipeline::Pipeline;
use crate::{secrets, subscribers, telemetry, wiring};
use anyhow::Context;
use axum::routing::get;
use bookstore_http::routes::health;
use bookstore_http::server::{ConnectionTimeouts, ServeOptions};
use bookstore_http::tls;
use bookstore_http::AppState;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `bookstore migrate`: as the schema's owner when DATABASE_MIGRATION_URL is set.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    if wiring::migrate_as_owner(&settings).await? {
        return Ok(());
    }
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    tracing::info!("migrations applied");
    store.close().await;
    Ok(())
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Bound first: with port 0 the address, and so the default public URL and issuer, is
    // known only now.
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .with_context(|| format!("binding {}", settings.server.listen))?;
    let listener = Arc::new(listener);
    let address = listener.local_addr()?;
    let public_url = settings.public_url(address);
    // Before anything records.
    let upkeep = telemetry::install(&settings)?;
    let (tls_config, tls_watcher) = match settings.tls.source()? {
        None => (None, None),
        Some(source) => {
            let (config, watcher) = tls_setup(&source, &settings)?;
            (Some(config), watcher)
        }
    };
    let options = ServeOptions {
        tls: tls_config.clone(),
        header_limit: settings.http.header_limit,
        timeouts: ConnectionTimeouts {
            client_header_timeout: settings.http.client_header_timeout,
            keepalive_timeout: settings.http.keepalive_timeout,
        },
        // The stand-in is never drained: it stops once the services are built.
        draining: bookstore_http::state::Draining::default(),
    };
    // Until the services are built (PostgreSQL may not be up yet), a stand-in answers on the
    // socket: alive, not ready.
    let (built_tx, mut built_rx) = watch::channel(false);
    let standin = tokio::spawn(bookstore_http::server::serve(
        listener.clone(),
        health::starting(),
        options.clone(),
        async move {
            let _ = built_rx.changed().await;
        },
    ));
    if let Some(path) = &settings.server.address_file {
        write_address(path, address)?;
    }
    let mut signal = std::pin::pin!(shutdown_signal());
    let services = tokio::select! {
        built = build_when_reachable(&settings, &public_url) => built?,
        _ = &mut signal => {
            let _ = built_tx.send(true);
            let _ = standin.await;
            tracing::info!("stopped before the store was reachable");
            return Ok(());
        }
    };
    let mut metric_tasks: Vec<tokio::task::JoinHandle<()>> = upkeep.into_iter().collect();
    if settings.metrics.metrics {
        telemetry::watch_pools(&services.store);
        metric_tasks.push(telemetry::sample(
            &services.store,
            settings.roles.roles.has(Role::Relay),
        ));
    }
    wiring::bootstrap_admin(&settings, &services.accounts).await?;
    let secret_tasks = watch_secrets(&settings, &services);
    let reloader = crate::keys::maintain(services.keyring.clone(), settings.keys.rotation_check());
    let pipeline = Pipeline::start(
        &settings,
        &services.store,
        services.bus.clone(),
        services.log_signal.clone(),
    )
    .await?;
    let webhook_engine = settings.roles.roles.has(Role::Subscribers).then(|| {
        subscribers::start(
            &services.store,
            services.deliverer.clone(),
            pipeline.signal.clone(),
        )
    });
    #[cfg(feature = "aws")]
    let read_model = crate::aws::read_model(&settings).await?;
    let cache_follower = match (&services.book_cache, settings.roles.roles.has(Role::Api)) {
        (Some(cache), true) => Some(crate::cache::start(
            services.store.event_log(),
            pipeline.signal.clone(),
            cache.clone(),
        )),
        _ => None,
    };
    // The search index serves this process's searches: it follows the log where the API runs.
    let index_follower = match (&services.search_index, settings.roles.roles.has(Role::Api)) {
        (Some(index), true) => Some(bookstore_search_index::follow::start(
            index.clone(),
            services.store.catalog(),
            services.store.event_log(),
            Arc::new(pipeline.signal.clone()),
        )),
        _ => None,
    };
    let import_sweeper = if settings.roles.roles.has(Role::Api) {
        start_import_sweeper(&services).await
    } else {
        None
    };
    let streams = services.state.events.clone();
    let imports = services.state.imports.clone();
    let draining = services.state.draining.clone();
    let app = if settings.roles.roles.has(Role::Api) {
        let mut config = settings.http.config(tls_config.is_some())?;
        config.metrics = settings.metrics.metrics;
        bookstore_http::service(services.state, &config)
    } else {
        // Without the API, orchestrators still probe the process.
        probes(services.state).into()
    };
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let metrics_listener = telemetry::listener(&settings, stop_rx.clone()).await?;
    if let (Some(path), Some((metrics_address, _))) =
        (&settings.metrics.metrics_address_file, &metrics_listener)
    {
        write_address(path, *metrics_address)?;
    }
    // The stand-in lets go of the socket (its connections close after their answer); the
    // connections that waited in the backlog meanwhile are served by the real router.
    let _ = built_tx.send(true);
    let _ = standin.await;
    let options = ServeOptions {
        draining: draining.clone(),
        ..options
    };
    let server = bookstore_http::server::serve(listener, app, options, async move {
        // Resolves when told to stop, or if the sender is gone.
        let _ = stop_rx.changed().await;
    });
    let server = tokio::spawn(server);
    tracing::info!(%address, "serving on {scheme}://{address}");

    let received = signal.await;
    draining.start();
    let drain = match received {
        Signal::Terminate => settings.server.shutdown_drain,
        // Someone at a terminal: no load balancer to wait for.
        Signal::Interrupt => Duration::ZERO,
    };
    tracing::info!(
        drain_seconds = drain.as_secs_f64(),
        grace_seconds = settings.server.shutdown_grace.as_secs(),
        "shutting down: /readyz answers 503; serving on through the drain delay, then \
         finishing in-flight requests"
    );
    tokio::time::sleep(drain).await;
    let deadline = tokio::time::Instant::now() + settings.server.shutdown_grace;
    let _ = stop_tx.send(true);
    // Event streams never finish by themselves: end them, or the drain would wait for them.
    streams.close();
    // Running imports stop after their current batch, recorded as interrupted.
    let handed_back = tokio::spawn(async move { imports.hand_back().await });
    match tokio::time::timeout_at(deadline, server).await {
        Ok(joined) => joined.context("server task")?,
        Err(_) => tracing::warn!("grace period over; dropping unfinished requests"),
    }
    if tokio::time::timeout_at(deadline, handed_back)
        .await
        .is_err()
    {
        tracing::warn!(
            "an import did not stop in time; it is failed as interrupted at the next start"
        );
    }
    // After the last request: the events of its writes are still published.
    pipeline.stop().await;
    reloader.abort();
    for task in secret_tasks {
        task.abort();
    }
    if let Some(sweeper) = import_sweeper {
        sweeper.abort();
    }
    if let Some(follower) = cache_follower {
        follower.abort();
    }
    if let Some(follower) = index_follower {
        follower.abort();
    }
    #[cfg(feature = "aws")]
    if let Some(subscriber) = read_model {
        subscriber.abort();
    }
    if let Some((_, task)) = metrics_listener {
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    for task in metric_tasks {
        task.abort();
    }
    if let Some(engine) = webhook_engine {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        engine.stop(left.max(Duration::from_secs(1))).await;
    }
    if let Some(watcher) = tls_watcher {
        watcher.abort();
    }
    services.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The services, once the store is reachable: a PostgreSQL that is not up yet (or still
/// starting) is waited for, with growing pauses, while the stand-in says "not ready".
async fn build_when_reachable(
    settings: &Settings,
    public_url: &str,
) -> anyhow::Result<wiring::Services> {
    let on_server = bookstore_store::backup::sqlite_file(&settings.store.config())
        .ok()
        .flatten()
        .is_none();
    let mut pause = Duration::from_millis(250);
    loop {
        // The pool itself retries a refused connection for a while: say why nothing happens.
        let build = wiring::build(settings, public_url);
        tokio::pin!(build);
        let built = tokio::select! {
            built = &mut build => built,
            () = tokio::time::sleep(SLOW_STORE) => {
                tracing::warn!("the store does not answer yet: waiting for the store (not ready meanwhile)");
                build.await
            }
        };
        match built {
            Ok(services) => return Ok(services),
            Err(err) if on_server && unreachable(&err) => {
                tracing::warn!(
                    error = %format!("{err:#}"),
                    retry_in_ms = pause.as_millis() as u64,
                    "the store is unreachable: waiting for the store (not ready meanwhile)"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_STORE_WAIT_PAUSE);
            }
            Err(err) => return Err(err),
        }
    }
}

/// A start that has not reached its store by then says that it waits.
const SLOW_STORE: Duration = Duration::from_secs(2);
/// The longest pause between two attempts to reach the store at start.
const MAX_STORE_WAIT_PAUSE: Duration = Duration::from_secs(5);

fn unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<bookstore_store::OpenError>()
            .is_some_and(bookstore_store::OpenError::is_unreachable)
    })
}

/// Re-reads the secrets while serving (and renews the Vault token): new database
/// credentials and a rotated key-encryption key are put to use at once, other secrets at the
/// next start.
fn watch_secrets(
    settings: &Settings,
    services: &wiring::Services,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(vault) = &settings.loaded.vault {
        tasks.push(secrets::keep_alive(vault.clone()));
    }
    let store = services.store.clone();
    let keyring = services.keyring.clone();
    let apply: secrets::Applier = Arc::new(move |id: String, name: String, value: SecretString| {
        let store = store.clone();
        let keyring = keyring.clone();
        Box::pin(async move {
            match id.as_str() {
                "database_url" => match store.set_database_url(value.expose_secret()) {
                    Ok(true) => tracing::info!(
                        secret = %name,
                        "database credentials changed: new connections use them, the open ones drain"
                    ),
                    Ok(false) => tracing::warn!(
                        secret = %name,
                        "the database URL changed: the embedded store takes it at the next start"
                    ),
                    Err(err) => tracing::error!(
                        secret = %name,
                        error = %err,
                        "the new database URL cannot be used; keeping the current one"
                    ),
                },
                "kek" => crate::keys::adopt_kek(&keyring, &name, value.expose_secret()).await,
                _ => tracing::warn!(
                    secret = %name,
                    "secret changed: it takes effect at the next start"
                ),
            }
        })
    });
    tasks.push(
        secrets::Watcher {
            loaded: settings.loaded.loaded.clone(),
            clients: settings.loaded.clients(),
            audit: services.store.audit(),
            interval: settings.secrets.secret_reload_interval,
            apply,
        }
        .spawn(),
    );
    tasks
}

/// Fails the imports that a stopped process left running (see `bookstore_http::imports`):
/// on SQLite, which one process serves, every running import at once; on PostgreSQL those
/// whose heartbeat went stale, now and every little while.
/// The first sweep is done before the server takes requests, so that it never takes an
/// import of this process for an interrupted one.
async fn start_import_sweeper(services: &wiring::Services) -> Option<tokio::task::JoinHandle<()>> {
    let imports = services.state.imports.clone();
    let single_process = services.store.backend() == bookstore_store::Backend::Sqlite;
    imports.fail_interrupted(single_process).await;
    imports.clean_spool().await;
    if single_process {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(bookstore_http::imports::SWEEP_EVERY);
        loop {
            tick.tick().await;
            imports.fail_interrupted(false).await;
            imports.clean_spool().await;
        }
    }))
}

/// `/healthz` and `/readyz` alone, for a process that runs no API.
fn probes(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Writes `address` to `path` whole: written beside it, then renamed over it, so that a
/// reader polling for the file never sees half an address.
fn write_address(path: &Path, address: SocketAddr) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, format!("{address}\n"))
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("writing the address file {}", path.display()))
}

/// The TLS configuration, and for certificate files the task that reloads them.
fn tls_setup(
    source: &TlsSource,
    settings: &Settings,
) -> anyhow::Result<(
    Arc<rustls::ServerConfig>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    match source {
        TlsSource::Files { cert, key } => {
            let reloader = tls::Reloader::load(tls::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .context("loading the TLS certificate")?;
            let resolver = reloader.resolver();
            tracing::info!(
                cert = %cert.display(),
                fingerprint = %tls::leaf_fingerprint(&resolver.current()),
                reload_interval_secs = settings.tls.tls_reload_interval.as_secs(),
                "TLS certificate loaded; reloaded when the files change and on SIGHUP"
            );
            let config = tls::server_config(resolver)?;
            Ok((
                config,
                Some(reloader.watch(settings.tls.tls_reload_interval)),
            ))
        }
        TlsSource::SelfSigned => {
            let mut names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            let ip = settings.server.listen.ip();
            if !ip.is_unspecified() && !ip.is_loopback() {
                names.push(ip.to_string());
            }
            let generated = tls::self_signed(names.clone())?;
            tracing::warn!(
                names = ?names,
                fingerprint = %generated.fingerprint,
                "serving a self-signed certificate made at start: for trying TLS out only"
            );
            eprintln!(
                "\n  Serving TLS with a self-signed certificate for {}.\n  \
                 SHA-256 fingerprint: {}\n",
                names.join(", "),
                generated.fingerprint
            );
            let config = tls::server_config(Arc::new(tls::CertResolver::new(generated.key)))?;
            Ok((config, None))
        }
    }
}

/// How the process was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGTERM: an orchestrator or service manager.
    Terminate,
    /// Ctrl-C (SIGINT).
    Interrupt,
}

async fn shutdown_signal() -> Signal {
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
        _ = ctrl_c => Signal::Interrupt,
        _ = terminate => Signal::Terminate,
    }
}
