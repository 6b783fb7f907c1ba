//! Gateway layers in front of every route, the jobs an API gateway (Kong, Envoy) would do:
//! request ids and trace context, a deadline per request, a bound on header size, security
//! headers, response compression and CORS.
//!
//! Order, outermost first: CORS (so that preflights are answered before anything asks for a
//! token), metrics, compression, security headers, request id and trace span, header limit, timeout,
//! then the application. Everything inside the request-id layer answers with problem+json
//! documents that carry the request id.

pub mod compression;
pub mod cors;
pub mod header_limit;
pub mod methods;
pub mod security_headers;
pub mod timeout;

use crate::HttpConfig;
use axum::middleware;
use axum::Router;
use tower::ServiceBuilder;

pub use cors::CorsOrigins;

/// Wraps a complete application in the gateway layers that `config` asks for.
pub fn layers(app: Router, config: &HttpConfig) -> Router {
    // One group, so that every route is boxed once for all of them (see `crate::router`);
    // the first listed runs first.
    let app = app.layer(
        ServiceBuilder::new()
            // Outermost: the latency and the bytes as the client sees them.
            .layer(middleware::from_fn_with_state(
                crate::metrics::HttpMetrics::new(config.metrics),
                crate::metrics::layer,
            ))
            .layer(compression::layer())
            .layer(middleware::from_fn_with_state(
                security_headers::SecurityHeaders::new(config.hsts),
                security_headers::layer,
            ))
            .layer(middleware::from_fn(crate::request_id::layer))
            .layer(middleware::from_fn_with_state(
                config.header_limit,
                header_limit::layer,
            ))
            .layer(middleware::from_fn_with_state(
                config.request_timeout,
                timeout::layer,
            )),
    );
    match cors::layer(&config.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    }
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
