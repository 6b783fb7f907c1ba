//! The HTTP series: requests, their latency, those in flight and the body bytes, labelled with
//! the route *template* the router matched (`/books/{id}`, never the raw path: one series per
//! route, whatever ids clients send), or [`UNMATCHED`] for paths no route serves.

use super::catalog::{
    HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_REQUEST_BYTES, HTTP_RESPONSE_BYTES,
};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use metrics::Counter;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

/// The route label of requests that no route matched (404s of unknown paths): one series for
/// all of them, so that scanners cannot grow the label set.
pub const UNMATCHED: &str = "unmatched";

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Status codes as static text, made once: a label needs a string, and a status per request
/// should not cost an allocation.
static STATUS_LABELS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..600u16).map(|code| code.to_string()).collect());

fn status_label(status: StatusCode) -> &'static str {
    STATUS_LABELS
        .get(usize::from(status.as_u16()))
        .map_or("other", String::as_str)
}

/// Records the request when `enabled` (`BOOKSTORE_METRICS`); otherwise passes it on.
pub async fn layer(State(enabled): State<bool>, request: Request, next: Next) -> Response {
    if !enabled {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = method_label(request.method());
    let route: Arc<str> = match request.extensions().get::<MatchedPath>() {
        Some(path) => Arc::from(path.as_str()),
        None => Arc::from(UNMATCHED),
    };
    let (parts, body) = request.into_parts();
    let body = counted(
        body,
        || metrics::counter!(HTTP_REQUEST_BYTES, "method" => method, "route" => route.clone()),
    );
    let request = Request::from_parts(parts, body);
    let in_flight = metrics::gauge!(HTTP_IN_FLIGHT);
    in_flight.increment(1.0);
    // Decremented when dropped: a request abandoned halfway (the client went away) still ends.
    let _in_flight = InFlight(in_flight);
    let response = next.run(request).await;
    let status = status_label(response.status());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route.clone(), "status" => status)
        .record(started.elapsed().as_secs_f64());
    let (parts, body) = response.into_parts();
    let body = counted(
        body,
        || metrics::counter!(HTTP_RESPONSE_BYTES, "method" => method, "route" => route),
    );
    Response::from_parts(parts, body)
}

struct InFlight(metrics::Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// `body`, whose size is added to `counter`: at once when its length is known, else as it
/// streams (the bytes that did stream, if it is dropped halfway).
fn counted(body: Body, counter: impl FnOnce() -> Counter) -> Body {
    match body.size_hint().exact() {
        Some(0) => body,
        Some(length) => {
            counter().increment(length);
            body
        }
        None => Body::new(Counted {
            inner: body,
            bytes: 0,
            counter: counter(),
        }),
    }
}

struct Counted {
    inner: Body,
    bytes: u64,
    counter: Counter,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes = self.bytes.saturating_add(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.counter.increment(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{get, send};
    use axum::routing;
    use axum::Router;
    use metrics_exporter_prometheus::PrometheusBuilder;

    fn app(enabled: bool) -> Router {
        let chunks = || async {
            let parts: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"defg")),
            ];
            Body::from_stream(stream_of(parts))
        };
        Router::new()
            .route("/books/{id}", routing::get(|| async { "a book" }))
            .route("/stream", routing::get(chunks))
            .layer(axum::middleware::from_fn_with_state(enabled, layer))
    }

    fn stream_of(
        parts: Vec<Result<Bytes, std::io::Error>>,
    ) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> {
        async_stream::stream! {
            for part in parts {
                yield part;
            }
        }
    }

    /// The requests' series as a scrape shows them, recorded by a recorder of this test's own.
    fn scrape(enabled: bool, paths: &[&str]) -> String {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let app = app(enabled);
                for path in paths {
                    send(&app, get(path).body(Body::empty()).expect("request")).await;
                }
            })
        });
        handle.render()
    }

    #[test]
    fn labels_the_route_template_and_counts_streamed_bytes() {
        let text = scrape(
            true,
            &[
                "/books/0190c1d2-aaaa-7000-8000-000000000001",
                "/stream",
                "/nothing",
            ],
        );
        assert!(
            text.contains(
                r#"bookstore_http_requests_total{method="GET",route="/books/{id}",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"bookstore_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains("0190c1d2"), "a raw path in a label: {text}");
        // Known length at once, streamed length as it streamed.
        assert!(
            text.contains(
                r#"bookstore_http_response_body_bytes_total{method="GET",route="/books/{id}"} 6"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"bookstore_http_response_body_bytes_total{method="GET",route="/stream"} 7"#
            ),
            "{text}"
        );
        assert!(
            text.contains("bookstore_http_requests_in_flight 0"),
            "{text}"
        );
        assert!(
            text.contains(r#"bookstore_http_request_duration_seconds_count{method="GET",route="/stream",status="200"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn records_nothing_when_off() {
        let text = scrape(false, &["/books/1", "/stream"]);
        assert!(!text.contains("bookstore_http"), "{text}");
    }
}
