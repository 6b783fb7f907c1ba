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
use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
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

/// The state of [`layer`]: whether to record, and the handles of the series it has recorded
/// so far. Looking a series up in the recorder builds its key (an allocation and a hash of
/// every label) each time; a cached read is cheap enough that four such look-ups were a
/// tenth of its cost, so each series is looked up once per router.
pub struct HttpMetrics {
    enabled: bool,
    in_flight: OnceLock<Gauge>,
    /// By route template, then method and status: bounded (the routes are the router's,
    /// statuses < 600), and looked up by the request's `&str` without an allocation.
    series: RwLock<HashMap<Box<str>, SeriesOfRoute>>,
}

/// One route's series, by method and status.
type SeriesOfRoute = HashMap<(&'static str, &'static str), Arc<Series>>;

struct Series {
    requests: Counter,
    duration: Histogram,
    response_bytes: Counter,
}

impl HttpMetrics {
    pub fn new(enabled: bool) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            in_flight: OnceLock::new(),
            series: RwLock::new(HashMap::new()),
        })
    }

    fn in_flight(&self) -> Gauge {
        self.in_flight
            .get_or_init(|| metrics::gauge!(HTTP_IN_FLIGHT))
            .clone()
    }

    fn series(&self, method: &'static str, route: &str, status: &'static str) -> Arc<Series> {
        let cached = self.series.read().ok().and_then(|map| {
            map.get(route)
                .and_then(|by_status| by_status.get(&(method, status)).cloned())
        });
        if let Some(series) = cached {
            return series;
        }
        let label: Arc<str> = Arc::from(route);
        let series = Arc::new(Series {
            requests: metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => label.clone(), "status" => status),
            duration: metrics::histogram!(HTTP_DURATION, "method" => method, "route" => label.clone(), "status" => status),
            response_bytes: metrics::counter!(HTTP_RESPONSE_BYTES, "method" => method, "route" => label),
        });
        if let Ok(mut map) = self.series.write() {
            map.entry(Box::from(route))
                .or_default()
                .entry((method, status))
                .or_insert_with(|| series.clone());
        }
        series
    }
}

/// Records the request when metrics are on (`BOOKSTORE_METRICS`); otherwise passes it on.
pub async fn layer(
    State(state): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    record(&state, request, |request| next.run(request)).await
}

/// [`layer`] around `next`, for a layer that runs several steps in one (see `crate::gateway`).
pub async fn record<N, F>(state: &HttpMetrics, request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    if !state.enabled {
        return next(request).await;
    }
    // A clone of the matched path is a reference count, not a copy of the text.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    record_as(state, route, request, next).await
}

/// [`record`] of a request whose route template is known without the router (the fast path
/// of cached reads, `crate::fast`).
pub async fn record_as<N, F>(
    state: &HttpMetrics,
    route: &str,
    request: Request,
    next: N,
) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    if !state.enabled {
        return next(request).await;
    }
    let started = Instant::now();
    let method = method_label(request.method());
    let (parts, body) = request.into_parts();
    let body = counted(
        body,
        || metrics::counter!(HTTP_REQUEST_BYTES, "method" => method, "route" => Arc::<str>::from(route)),
    );
    let request = Request::from_parts(parts, body);
    let in_flight = state.in_flight();
    in_flight.increment(1.0);
    // Decremented when dropped: a request abandoned halfway (the client went away) still ends.
    let _in_flight = InFlight(in_flight);
    let response = next(request).await;
    let series = state.series(method, route, status_label(response.status()));
    series.requests.increment(1);
    series.duration.record(started.elapsed().as_secs_f64());
    let (parts, body) = response.into_parts();
    let body = counted(body, || series.response_bytes.clone());
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
            .layer(axum::middleware::from_fn_with_state(
                HttpMetrics::new(enabled),
                layer,
            ))
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
