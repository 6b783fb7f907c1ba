//! Serves a router on a listener, over plain TCP or TLS, with graceful shutdown: when told
//! to stop it accepts no more connections, lets requests in flight finish (HTTP/1.1
//! connections close after their current response, HTTP/2 ones get GOAWAY) and returns once
//! every connection is closed. Handlers see the peer address as `ConnectInfo<SocketAddr>`.
//!
//! Connections are bounded in time the way nginx bounds them: one that has not sent a whole
//! request header within [`ConnectionTimeouts::client_header_timeout`] of opening (or of the
//! first byte of its next request) is closed, and so is a keep-alive connection idle between
//! requests for longer than [`ConnectionTimeouts::keepalive_timeout`]. A request refused
//! before its body was read still gets its answer to the client ([`drain`]).

mod connection;
pub mod drain;

use crate::state::Draining;
use axum::extract::ConnectInfo;
use axum::Router;
use connection::{Activity, Watched};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection closed for idling that has not finished closing by then is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long connections may wait between requests; the defaults are nginx's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// A connection must have sent a whole request header this long after it opened, or
    /// after the first byte of a later request (nginx's `client_header_timeout`, 60 s).
    pub client_header_timeout: Duration,
    /// A keep-alive connection that sends no new request for this long after a response is
    /// closed (nginx's `keepalive_timeout`, 75 s).
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        Self {
            client_header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
        }
    }
}

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS, or plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The gateway's header limit; hyper's own buffers are sized above it so that the
    /// readable 431 comes from the gateway layer.
    pub header_limit: usize,
    /// Idle bounds of connections.
    pub timeouts: ConnectionTimeouts,
    /// Once set, every HTTP/1 answer says `Connection: close`: a proxy that keeps
    /// connections to this process open learns that each one is done after its answer,
    /// instead of sending its next request down one that the end of the drain closes.
    pub draining: Draining,
}

fn builder(header_limit: usize) -> Builder<TokioExecutor> {
    let connection_limit = header_limit.saturating_mul(2).saturating_add(8 * 1024);
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's own header timeout would also cut keep-alive pauses short; the connection's
    // idle bounds (which know the difference) take its place.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(connection_limit.max(16 * 1024));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(connection_limit).unwrap_or(u32::MAX));
    builder
}

/// What [`serve`] serves: the router, and the fast path of cached reads when there is one
/// (requests it does not answer go to the router).
#[derive(Clone)]
pub struct Service {
    pub router: Router,
    pub fast: Option<Arc<crate::fast::FastPath>>,
}

impl From<Router> for Service {
    fn from(router: Router) -> Self {
        Self { router, fast: None }
    }
}

/// Serves `app` until `shutdown` resolves, then drains the connections. Bound the drain with
/// a timeout around the returned future (the grace period). The listener is shared so that a
/// server that stands in during start-up can hand it on: new connections wait in its backlog
/// meanwhile, and it closes when the last holder drops it.
pub async fn serve(
    listener: Arc<TcpListener>,
    app: impl Into<Service>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let app: Service = app.into();
    let builder = builder(options.header_limit);
    let acceptor = options.tls.map(TlsAcceptor::from);
    let timeouts = options.timeouts;
    let draining = options.draining;
    // Every connection holds a receiver: `closed()` resolves once the last one has ended.
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let closed_by = Closing {
            timeouts,
            draining: draining.clone(),
            stopping: stopping.clone(),
        };
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let activity = Activity::new();
            match acceptor {
                None => {
                    let io = Watched::new(stream, activity.clone());
                    connection(io, peer, app, builder, activity, closed_by).await;
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = Watched::new(stream, activity.clone());
                    connection(io, peer, app, builder, activity, closed_by).await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopping);
    stop.closed().await;
}

/// What closes a connection: idling past its bounds, the drain (whose answers say
/// `Connection: close`) and the server stopping.
struct Closing {
    timeouts: ConnectionTimeouts,
    draining: Draining,
    stopping: watch::Receiver<bool>,
}

/// Serves one connection until it ends, closing it when it idles past its bounds or when the
/// server stops.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: Watched<S>,
    peer: SocketAddr,
    app: Service,
    builder: Builder<TokioExecutor>,
    activity: Arc<Activity>,
    closed_by: Closing,
) {
    let Closing {
        timeouts,
        draining,
        mut stopping,
    } = closed_by;
    let service = {
        let activity = activity.clone();
        tower::service_fn(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            drain::serve(
                app.router.clone(),
                app.fast.clone(),
                activity.clone(),
                draining.clone(),
                request,
            )
        })
    };
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    let mut give_up: Option<tokio::time::Instant> = None;
    // The idle check is armed no later than the connection's deadline and looks again when
    // it fires early, so that requests cost it nothing: a deadline only ever moves later
    // (bytes arrive, requests end), and none that a later moment sets comes sooner than that
    // moment plus the shorter of the two bounds.
    let earliest = timeouts
        .client_header_timeout
        .min(timeouts.keepalive_timeout);
    let check = tokio::time::sleep(earliest);
    let mut check = std::pin::pin!(check);
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            _ = stopping.changed(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = check.as_mut(), if !closing => {
                let now = tokio::time::Instant::now();
                match activity.deadline(&timeouts) {
                    Some(deadline) if deadline <= now => {
                        tracing::debug!(%peer, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                        give_up = Some(now + IDLE_CLOSE_GRACE);
                    }
                    deadline => {
                        let next = now + earliest;
                        check.as_mut().reset(deadline.map_or(next, |d| d.min(next)));
                    }
                }
            }
            () = sleep_until(give_up) => {
                tracing::debug!(%peer, "an idle connection did not close in time; dropped");
                return;
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
