//! A bound on the total size of a request's header fields: 431 with a problem document above
//! it. hyper's own connection limits are set above this one (see [`crate::server`]), so that
//! moderate excess gets this readable answer and only absurd excess is cut off by hyper.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Bytes of the names and values of all header fields.
pub fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

pub async fn layer(State(limit): State<usize>, request: Request, next: Next) -> Response {
    match check(limit, &request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The 431 answer of [`layer`], when the request's headers are over `limit`.
pub fn check(limit: usize, request: &Request) -> Option<Response> {
    let size = header_bytes(request.headers());
    if size > limit {
        tracing::info!(header_bytes = size, limit, "request headers too large");
        return Some(
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                format!(
                    "The request's header fields take {size} bytes; at most {limit} are accepted."
                ),
            )
            .into_response(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::gateway::test_support::{get, send};
    use crate::HttpConfig;
    use axum::body::Body;
    use axum::routing::get as route_get;
    use axum::Router;

    #[tokio::test]
    async fn oversized_headers_get_431() {
        let app = Router::new().route("/", route_get(|| async { "ok" }));
        let config = HttpConfig {
            header_limit: 1024,
            ..HttpConfig::default()
        };
        let app = crate::gateway::layers(app, &config);
        let request = get("/")
            .header("x-big", "a".repeat(2000))
            .body(Body::empty())
            .expect("request");
        let (response, body) = send(&app, request).await;
        assert_eq!(response.status(), 431);
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["status"], 431);

        let request = get("/")
            .header("x-small", "a".repeat(500))
            .body(Body::empty())
            .expect("request");
        let (response, _) = send(&app, request).await;
        assert_eq!(response.status(), 200);
    }
}
