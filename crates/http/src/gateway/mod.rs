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
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;

pub use cors::CorsOrigins;

/// The settings of the gateway's steps that [`steps`] runs.
pub struct Steps {
    metrics: Arc<crate::metrics::HttpMetrics>,
    security: security_headers::SecurityHeaders,
    header_limit: usize,
    timeout: Duration,
}

impl Steps {
    pub fn new(config: &HttpConfig) -> Arc<Self> {
        Arc::new(Self {
            metrics: crate::metrics::HttpMetrics::new(config.metrics),
            security: security_headers::SecurityHeaders::new(config.hsts),
            header_limit: config.header_limit,
            timeout: config.request_timeout,
        })
    }

    /// The header limit: a request above it is answered 431 by [`around`].
    pub fn header_limit(&self) -> usize {
        self.header_limit
    }
}

/// Wraps a complete application in the gateway layers that `config` asks for.
pub fn layers(app: Router, config: &HttpConfig) -> Router {
    layers_with(app, Steps::new(config), config)
}

/// [`layers`] with the steps' settings made by the caller (who shares them with the fast path
/// of cached reads, `crate::fast`).
pub fn layers_with(app: Router, steps: Arc<Steps>, config: &HttpConfig) -> Router {
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

async fn steps(State(steps): State<Arc<Steps>>, request: Request, next: Next) -> Response {
    let steps = &*steps;
    crate::metrics::record(&steps.metrics, request, |request| {
        around_recorded(steps, request, |request| next.run(request))
    })
    .await
}

/// The gateway's steps around `next`, for a request whose route template is `route` (the
/// fast path of cached reads, which does not go through the router). In this order,
/// outermost first: metrics (the latency and the bytes as the client sees them), security
/// headers, request id and trace span, header limit, timeout.
pub async fn around<N, F>(steps: &Steps, route: &str, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    crate::metrics::record_as(&steps.metrics, route, request, |request| {
        around_recorded(steps, request, next)
    })
    .await
}

/// The steps inside the metrics: security headers, request id and trace span, header limit,
/// timeout.
async fn around_recorded<N, F>(steps: &Steps, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let response = crate::request_id::scope(request, |request| async move {
        if let Some(refusal) = header_limit::check(steps.header_limit, &request) {
            return refusal;
        }
        timeout::bounded(steps.timeout, request, next).await
    })
    .await;
    security_headers::add(&steps.security, response)
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
