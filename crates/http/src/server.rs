//! Serves a router on a listener, over plain TCP or TLS, with graceful shutdown: when told
//! to stop it accepts no more connections, lets requests in flight finish (HTTP/1.1
//! connections close after their current response, HTTP/2 ones get GOAWAY) and returns once
//! every connection is closed. Handlers see the peer address as `ConnectInfo<SocketAddr>`.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent a request's whole header by then is dropped (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS, or plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The gateway's header limit; hyper's own buffers are sized above it so that the
    /// readable 431 comes from the gateway layer.
    pub header_limit: usize,
}

fn builder(header_limit: usize) -> Builder<TokioExecutor> {
    let connection_limit = header_limit.saturating_mul(2).saturating_add(8 * 1024);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(connection_limit.max(16 * 1024));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(connection_limit).unwrap_or(u32::MAX));
    builder
}

/// Serves `app` until `shutdown` resolves, then drains the connections. Bound the drain with
/// a timeout around the returned future (the grace period).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let builder = builder(options.header_limit);
    let acceptor = options.tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
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
        // Taken before the handshake, so that shutdown waits for this connection too.
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app.map_request(
                move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                },
            ));
            let result =
                match acceptor {
                    None => {
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        watcher.watch(connection).await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
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
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        watcher.watch(connection).await
                    }
                };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
