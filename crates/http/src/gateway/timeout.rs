//! A deadline for every request: a handler still busy when it passes is dropped (a database
//! transaction it held rolls back) and the client gets a 504 problem document.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::time::Duration;

pub async fn layer(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    bounded(limit, request, |request| next.run(request)).await
}

/// [`layer`] around `next`, for a layer that runs several steps in one (see `crate::gateway`).
pub async fn bounded<N, F>(limit: Duration, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    // An import's upload takes as long as its size (bounded by BOOKSTORE_IMPORT_LIMIT) and
    // the client's bandwidth; the import itself runs in the background.
    if request.method() == axum::http::Method::POST && request.uri().path() == "/imports" {
        return next(request).await;
    }
    match tokio::time::timeout(limit, next(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "The request was not done within {:.1} seconds and was abandoned; \
                     anything it had not committed was rolled back.",
                    limit.as_secs_f64()
                ),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::gateway::test_support::{get, send};
    use crate::HttpConfig;
    use axum::body::Body;
    use axum::routing::get as route_get;
    use axum::Router;
    use std::time::Duration;

    #[tokio::test]
    async fn a_slow_request_gets_a_504_problem() {
        let app = Router::new()
            .route(
                "/slow",
                route_get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", route_get(|| async { "quick" }));
        let config = HttpConfig {
            request_timeout: Duration::from_millis(100),
            ..HttpConfig::default()
        };
        let app = crate::gateway::layers(app, &config);

        let (response, body) = send(&app, get("/slow").body(Body::empty()).expect("request")).await;
        assert_eq!(response.status(), 504);
        assert_eq!(
            response.headers()["content-type"],
            crate::error::PROBLEM_JSON
        );
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["status"], 504);
        assert!(problem["request_id"].is_string(), "{problem}");

        let (response, body) = send(&app, get("/fast").body(Body::empty()).expect("request")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(body, b"quick");
    }
}
