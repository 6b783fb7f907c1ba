//! `GET /events`: the published events as Server-Sent Events (API.md, "Events and webhooks").
//!
//! The stream reads the store's event log, never the outbox: it shows only what a relay has
//! published, in position order, so every replica serves the same stream and no one sees a
//! change that did not commit. Each event's `id:` is its position, the resume point that a
//! reconnecting client sends back as `Last-Event-ID`.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::events::EventStreams;
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bookstore_core::event::BookEventKind;
use bookstore_core::outbox::LoggedEvent;
use bookstore_core::Action;
use futures_core::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

const PROBLEM: &str = crate::error::PROBLEM_JSON;
pub static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Events read from the log at a time.
const PAGE: u32 = 100;
/// A client that lost the stream waits this long before reconnecting (the SSE `retry:`).
const RECONNECT: Duration = Duration::from_secs(3);
/// After a wake that found nothing new, the next read waits at least this long: a signal
/// ahead of what the log shows (a replica announcing before its reader sees the commit)
/// must not spin the stream.
const QUIET_WAKE: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Only these event types, comma-separated (default: every type):
    /// `bookstore.book.created`, `bookstore.book.updated`, `bookstore.book.deleted`,
    /// `bookstore.book.stock_adjusted`.
    pub types: Option<String>,
    /// Resume after this position, as `Last-Event-ID` does (for clients that cannot send
    /// headers, such as a browser's first `EventSource` request); the header wins when both
    /// are sent. Without either, the stream starts with the next event published.
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

/// The published events, live.
///
/// Server-Sent Events: each event's `id:` is its position in the store's event log, `event:`
/// its type and `data:` the CloudEvent (JSON, as in the schemas under `schemas/events/`). A
/// reconnecting client sends the last id it saw as `Last-Event-ID` and resumes exactly after
/// it. A comment line comes every 15 seconds when nothing happens. The stream ends when the
/// server shuts down; reconnect (to any replica) with `Last-Event-ID`.
#[utoipa::path(get, path = "/events", tag = "events", params(EventsParams,
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this position (a non-negative integer): the `id` of the last event received")),
    responses(
        (status = 200, description = "The stream of events, until the client or the server ends it", body = String, content_type = "text/event-stream"),
        (status = 422, description = "An unknown event type in `types`, or a position that is not a non-negative integer", body = Problem, content_type = PROBLEM),
        (status = 503, description = "This server serves as many streams as it can; see `Retry-After`", body = Problem, content_type = PROBLEM)))]
pub async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> ApiResult<Response> {
    if !caller.0.may(Action::WatchEvents) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role is not allowed to do this.",
        ));
    }
    let types = parse_types(params.types.as_deref())?;
    let resume = match resume_header(&headers)? {
        Some(position) => Some(position),
        None => match params.last_event_id {
            Some(p) if p < 0 => {
                return Err(ApiError::field("last_event_id", "must not be negative"));
            }
            other => other,
        },
    };
    let events = state.events.clone();
    let Some(permit) = events.admit() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-streams",
            "This server already serves as many event streams as it can; try again later or \
             another replica.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")));
    };
    let after = match resume {
        Some(position) => position,
        None => events.log.head().await?,
    };
    let keep_alive = KeepAlive::new()
        .interval(events.timing.keep_alive)
        .text("keep-alive");
    let mut response = Sse::new(follow(events, permit, after, types))
        .keep_alive(keep_alive)
        .into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// The types of `types=`, each one we publish; none (every type) when absent or empty.
pub fn parse_types(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let mut types: Vec<String> = Vec::new();
    for name in raw.unwrap_or("").split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        if BookEventKind::parse(name).is_none() {
            let known: Vec<&str> = BookEventKind::ALL.iter().map(|k| k.event_type()).collect();
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::field(
                "types",
                format!(
                    "'{shown}' is not an event type; the types are {}",
                    known.join(", ")
                ),
            ));
        }
        if !types.iter().any(|t| t == name) {
            types.push(name.to_owned());
        }
    }
    Ok(types)
}

/// `Last-Event-ID` as a position; absent (or empty, as some clients send it) is `None`.
fn resume_header(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(&LAST_EVENT_ID) else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("?");
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(position) if position >= 0 => Ok(Some(position)),
        _ => Err(ApiError::field(
            "Last-Event-ID",
            "must be the id of an event received: a non-negative integer",
        )),
    }
}

fn sse_event(logged: &LoggedEvent) -> Event {
    let event = Event::default()
        .id(logged.position.to_string())
        .data(logged.payload.to_string());
    // Our types never hold a line break, which an `event:` field cannot carry.
    if logged.event_type.contains(['\r', '\n']) {
        event
    } else {
        event.event(&logged.event_type)
    }
}

/// The events after `after` (of `types`, when given), as they are published, until the client
/// goes away or the server closes the streams.
fn follow(
    events: Arc<EventStreams>,
    permit: OwnedSemaphorePermit,
    after: i64,
    types: Vec<String>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    async_stream::stream! {
        let _permit = permit;
        let closed = events.closed();
        tokio::pin!(closed);
        yield Ok::<Event, Infallible>(Event::default().retry(RECONNECT).comment("bookstore events"));
        // Everything up to `seen` has been read; `seen` can be past the last event sent when
        // a filter skipped the ones after it.
        let mut seen = after;
        let mut signalled = false;
        loop {
            // The head first: every position up to it has committed, so a page that is not
            // full has shown every match up to it.
            let read = async {
                let head = events.log.head().await?;
                let page = events.log.read_after(seen, PAGE, &types).await?;
                Ok::<_, bookstore_core::StoreError>((head, page))
            };
            let (head, page) = match read.await {
                Ok(read) => read,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the event log for a stream failed");
                    tokio::select! {
                        () = tokio::time::sleep(events.timing.poll) => continue,
                        () = &mut closed => break,
                    }
                }
            };
            let full = page.len() >= PAGE as usize;
            let before = seen;
            for logged in &page {
                seen = seen.max(logged.position);
                yield Ok(sse_event(logged));
            }
            if full {
                continue;
            }
            seen = seen.max(head);
            if signalled && seen == before {
                // Woken for nothing: wait a little before trusting the signal again.
                tokio::select! {
                    () = tokio::time::sleep(QUIET_WAKE) => {}
                    () = &mut closed => break,
                }
            }
            signalled = tokio::select! {
                () = events.signal.grown_past(seen) => true,
                () = tokio::time::sleep(events.timing.poll) => false,
                () = &mut closed => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_deduplicated() {
        assert!(parse_types(None).expect("none").is_empty());
        assert!(parse_types(Some(" , ")).expect("blank").is_empty());
        assert_eq!(
            parse_types(Some(
                "bookstore.book.created, bookstore.book.deleted,bookstore.book.created"
            ))
            .expect("valid"),
            ["bookstore.book.created", "bookstore.book.deleted"]
        );
        let err = parse_types(Some("bookstore.book.created,book.eaten")).expect_err("unknown");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.problem().errors[0].field, "types");
    }

    #[test]
    fn last_event_id_is_a_position() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(&LAST_EVENT_ID, HeaderValue::from_str(value).expect("ascii"));
            resume_header(&headers)
        };
        assert_eq!(resume_header(&HeaderMap::new()).expect("absent"), None);
        assert_eq!(with("").expect("empty"), None);
        assert_eq!(with(" 42 ").expect("valid"), Some(42));
        assert!(with("-1").is_err());
        assert!(with("abc").is_err());
    }

    mod stream {
        use super::super::*;
        use crate::events::StreamTiming;
        use async_trait::async_trait;
        use axum::body::Body;
        use bookstore_core::outbox::{EventLog, EventLogSignal};
        use bookstore_core::StoreError;
        use http_body_util::BodyExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        use tokio::sync::watch;

        #[derive(Default)]
        struct FakeLog {
            events: Mutex<Vec<LoggedEvent>>,
            reads: AtomicUsize,
        }

        impl FakeLog {
            fn publish(&self, position: i64, event_type: &str) {
                let now = chrono::Utc::now();
                self.events.lock().expect("lock").push(LoggedEvent {
                    position,
                    id: uuid::Uuid::now_v7(),
                    aggregate_id: uuid::Uuid::now_v7(),
                    event_type: event_type.into(),
                    payload: serde_json::json!({"type": event_type}),
                    created_at: now,
                    published_at: now,
                });
            }
        }

        #[async_trait]
        impl EventLog for FakeLog {
            async fn read_after(
                &self,
                after: i64,
                limit: u32,
                types: &[String],
            ) -> Result<Vec<LoggedEvent>, StoreError> {
                self.reads.fetch_add(1, Ordering::SeqCst);
                let events = self.events.lock().expect("lock");
                Ok(events
                    .iter()
                    .filter(|e| e.position > after)
                    .filter(|e| types.is_empty() || types.contains(&e.event_type))
                    .take(limit as usize)
                    .cloned()
                    .collect())
            }

            async fn head(&self) -> Result<i64, StoreError> {
                let events = self.events.lock().expect("lock");
                Ok(events.last().map_or(0, |e| e.position))
            }
        }

        struct FakeSignal(watch::Sender<i64>);

        #[async_trait]
        impl EventLogSignal for FakeSignal {
            async fn grown_past(&self, position: i64) {
                let mut head = self.0.subscribe();
                let _ = head.wait_for(|head| *head > position).await;
            }
        }

        fn streams(log: Arc<FakeLog>, signal: Arc<FakeSignal>) -> Arc<EventStreams> {
            // A poll far off: only the signal can wake these streams in time.
            let timing = StreamTiming {
                keep_alive: Duration::from_secs(60),
                poll: Duration::from_secs(60),
            };
            Arc::new(EventStreams::new(log, signal, 1, timing))
        }

        fn open(streams: &Arc<EventStreams>, after: i64, types: Vec<String>) -> Body {
            let permit = streams.admit().expect("a place");
            Sse::new(follow(streams.clone(), permit, after, types))
                .into_response()
                .into_body()
        }

        /// The body's text until it holds `needle`; panics after two seconds.
        async fn read_until(body: &mut Body, needle: &str) -> String {
            let mut text = String::new();
            while !text.contains(needle) {
                let frame = tokio::time::timeout(Duration::from_secs(2), body.frame())
                    .await
                    .unwrap_or_else(|_| panic!("no {needle:?} in {text:?}"))
                    .expect("a frame")
                    .expect("no error");
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            text
        }

        #[tokio::test]
        async fn follows_the_log_and_ends_when_closed() {
            let log = Arc::new(FakeLog::default());
            let signal = Arc::new(FakeSignal(watch::Sender::new(0)));
            log.publish(1, "bookstore.book.created");
            log.publish(2, "bookstore.book.updated");
            let streams = streams(log.clone(), signal.clone());
            let mut body = open(&streams, 1, Vec::new());
            let text = read_until(&mut body, "id: 2").await;
            assert!(text.contains("retry: 3000"), "{text}");
            assert!(!text.contains("id: 1\n"), "resumes after 1: {text}");
            assert!(text.contains("event: bookstore.book.updated\n"), "{text}");
            assert!(
                text.contains("data: {\"type\":\"bookstore.book.updated\"}\n"),
                "{text}"
            );
            assert!(streams.admit().is_none(), "one stream at most");

            log.publish(3, "bookstore.book.deleted");
            signal.0.send_replace(3);
            read_until(&mut body, "id: 3").await;

            streams.close();
            let end = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(frame) = body.frame().await {
                    frame.expect("no error");
                }
            })
            .await;
            assert!(end.is_ok(), "the stream did not end when closed");
            assert!(streams.admit().is_none(), "closed: no new streams");
        }

        #[tokio::test]
        async fn a_filtered_stream_does_not_reread_what_it_skipped() {
            let log = Arc::new(FakeLog::default());
            log.publish(1, "bookstore.book.created");
            for position in 2..=5 {
                log.publish(position, "bookstore.book.updated");
            }
            let signal = Arc::new(FakeSignal(watch::Sender::new(5)));
            let streams = streams(log.clone(), signal.clone());
            let mut body = open(&streams, 0, vec!["bookstore.book.created".into()]);
            read_until(&mut body, "id: 1").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(log.reads.load(Ordering::SeqCst), 1, "it spun");

            log.publish(6, "bookstore.book.updated");
            log.publish(7, "bookstore.book.created");
            signal.0.send_replace(7);
            let text = read_until(&mut body, "id: 7").await;
            assert!(!text.contains("id: 6"), "{text}");
        }
    }
}
