//! Gateway layers in front of every route, the jobs an API gateway (Kong, Envoy) would do:
//! request ids and trace context, a deadline per request, a bound on header size, security
//! headers, response compression and CORS.
//!
//! Order, outermost first: CORS (so that preflights are answered before anything asks for a
//! token), metrics, security headers, request id and trace span, header limit, timeout,
//! compression, then the application. Everything inside the request-id layer answers with problem+json
//! documents that carry the request id.

pub mod compression;
pub mod cors;
pub mod header_limit;
pub mod methods;
pub mod security_headers;
pub mod timeout;

use crate::HttpConfig;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;

pub use cors::CorsOrigins;

/// The settings of the gateway's steps that [`steps`] runs.
struct Steps {
    metrics: Arc<crate::metrics::HttpMetrics>,
    security: security_headers::SecurityHeaders,
    header_limit: usize,
    timeout: Duration,
}

/// Wraps a complete application in the gateway layers that `config` asks for.
pub fn layers(app: Router, config: &HttpConfig) -> Router {
    let steps = Arc::new(Steps {
        metrics: crate::metrics::HttpMetrics::new(config.metrics),
        security: security_headers::SecurityHeaders::new(config.hsts),
        header_limit: config.header_limit,
        timeout: config.request_timeout,
    });
    // One group, so that every route is boxed once for all of them (see `crate::router`);
    // the first listed runs first. The steps that are plain functions run in one layer: each
    // `from_fn` layer costs a request a clone of every layer beneath it and two boxes, which
    // added up to a large part of a cached read.
    let app = app.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(steps, self::steps))
            // Inside the steps: what it leaves uncompressed is the timeout's and the header
            // limit's problem documents, which are below its minimum size anyway.
            .layer(compression::layer()),
    );
    match cors::layer(&config.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// In this order, outermost first: metrics (the latency and the bytes as the client sees
/// them), security headers, request id and trace span, header limit, timeout.
async fn steps(State(steps): State<Arc<Steps>>, request: Request, next: Next) -> Response {
    let steps = &*steps;
    crate::metrics::record(&steps.metrics, request, |request| async move {
        let response = crate::request_id::scope(request, |request| async move {
            if let Some(refusal) = header_limit::check(steps.header_limit, &request) {
                return refusal;
            }
            timeout::bounded(steps.timeout, request, |request| next.run(request)).await
        })
        .await;
        security_headers::add(&steps.security, response)
    })
    .await
}

#[cfg(test)]
pub(crate) mod test_support {
    use axum::body::Body;
    use axum::http::{Request, Response};
    use axum::Router;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    pub async fn send(app: &Router, request: Request<Body>) -> (Response<()>, Vec<u8>) {
        let response = app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes().to_vec();
        (Response::from_parts(parts, ()), bytes)
    }

    pub fn get(path: &str) -> axum::http::request::Builder {
        Request::builder().uri(path)
    }
}
