//! Request ids: echoed when the client sent a sane one, generated otherwise; present on every
//! response, every log line of the request (via its span) and every problem body. The span
//! also carries the W3C trace id (see [`crate::trace_context`]), and the response a
//! `traceparent` naming the span that served it.

use crate::trace_context::{self, TraceContext, TRACEPARENT};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// What the handlers of a request may ask about it. One task-local for both, and the
/// `traceparent` kept as the response's header value: only a write turns it into text.
struct RequestScope {
    id: String,
    traceparent: Option<HeaderValue>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

/// The id of the request being served, if called within one.
pub fn current() -> Option<String> {
    REQUEST.try_with(|request| request.id.clone()).ok()
}

/// The `traceparent` naming the span that serves the current request, if called within one:
/// what the events of its changes carry (the CloudEvents distributed-tracing extension).
pub fn current_traceparent() -> Option<String> {
    REQUEST
        .try_with(|request| {
            request
                .traceparent
                .as_ref()
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .ok()
        .flatten()
}

fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn layer(request: Request, next: Next) -> Response {
    scope(request, |request| next.run(request)).await
}

/// [`layer`] around `next`, for a layer that runs several steps in one (see `crate::gateway`).
pub async fn scope<N, F>(request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut text = [0u8; uuid::fmt::Simple::LENGTH];
            uuid::Uuid::now_v7()
                .simple()
                .encode_lower(&mut text)
                .to_owned()
        });
    let server = trace_context::server_span(&request);
    let trace = TraceContext::start(request.headers(), &server);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = %trace.trace_id,
        span_id = %trace.span_id,
        method = %request.method(),
        path = %request.uri().path(),
        client = tracing::field::Empty,
    );
    let started = Instant::now();
    let traceparent = trace.header_value();
    let scope = RequestScope {
        id: id.clone(),
        traceparent: traceparent.clone(),
    };
    let mut response = REQUEST
        .scope(
            scope,
            next(request)
                .instrument(server.clone())
                .instrument(span.clone()),
        )
        .await;
    let status = response.status().as_u16();
    trace_context::record_status(&server, status);
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    if let Some(value) = traceparent {
        response.headers_mut().insert(TRACEPARENT.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn sanity() {
        assert!(is_sane("abc-123_x.y:z"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("<script>"));
        assert!(!is_sane(&"a".repeat(129)));
    }
}
