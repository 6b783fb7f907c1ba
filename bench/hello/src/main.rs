//! The floor for bench/run's `GET /books/{id}`: the cheapest HTTP/1.1 servers on this machine,
//! answering a body of a cached book's size (1,100 bytes) with a content type and an ETag, and
//! nothing else: no routing work beyond one route, no authentication, no middleware. Run by
//! `bench/floor`.
//!
//! `bench-hello hyper PORT`: hyper-util's auto builder, as the service uses it.
//! `bench-hello axum PORT`: `axum::serve` with one route.
use axum::http::{header, HeaderValue};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

static BODY: &[u8] = &[b'x'; 1100];

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("hyper");
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(23150);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    if mode == "axum" {
        let app = axum::Router::new().route(
            "/books/{id}",
            axum::routing::get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::ETAG, "\"1\""),
                    ],
                    Bytes::from_static(BODY),
                )
            }),
        );
        return axum::serve(listener, app).await;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_: Request<hyper::body::Incoming>| async {
                let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(header::ETAG, HeaderValue::from_static("\"1\""));
                Ok::<_, Infallible>(response)
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
