//! Traces: the server exports its spans over OTLP (HTTP/protobuf) to a receiver the test runs
//! itself, decoded with the OpenTelemetry protocol's own types; and a dead collector costs
//! requests nothing.

use crate::both_stores;
use crate::helpers::*;
use crate::receiver::Receiver;
use crate::webhooks::create_webhook;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// In the book's title only: no exported attribute may carry it.
const TITLE: &str = "Zanzibar Quokka Ledger";

/// An OTLP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Exported>>>,
}

#[derive(Clone)]
struct Exported {
    span: Span,
    service: Option<String>,
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<Exported>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1]) {
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/x-protobuf");
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
        );
    };
    if !protobuf {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain")],
        );
    }
    let mut received = spans.lock().expect("lock");
    for resource in request.resource_spans {
        let service = resource
            .resource
            .as_ref()
            .and_then(|r| text(&r.attributes, "service.name"));
        for scope in resource.scope_spans {
            for span in scope.spans {
                received.push(Exported {
                    span,
                    service: service.clone(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
    )
}

async fn collector() -> Collector {
    let spans: Arc<Mutex<Vec<Exported>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(spans.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Collector {
        url: format!("http://127.0.0.1:{port}"),
        spans,
    }
}

impl Collector {
    fn spans(&self) -> Vec<Exported> {
        self.spans.lock().expect("lock").clone()
    }

    /// Waits until `done` holds of the spans received, and returns them.
    async fn until(&self, what: &str, done: impl Fn(&[Exported]) -> bool) -> Vec<Exported> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} among the exported spans: {:#?}",
                spans.iter().map(describe).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn value(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v: AnyValue| v.value)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match value(attributes, key)? {
        any_value::Value::IntValue(i) => Some(i),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe(exported: &Exported) -> String {
    let span = &exported.span;
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    format!(
        "{} trace={} span={} parent={} kind={} {keys:?}",
        span.name,
        hex(&span.trace_id),
        hex(&span.span_id),
        hex(&span.parent_span_id),
        span.kind
    )
}

/// Every text an attribute of the span (or of its events and links) holds.
fn attribute_texts(span: &Span) -> Vec<String> {
    let all = span
        .attributes
        .iter()
        .chain(span.events.iter().flat_map(|e| e.attributes.iter()))
        .chain(span.links.iter().flat_map(|l| l.attributes.iter()));
    all.filter_map(|kv| kv.value.as_ref().and_then(|v| v.value.as_ref()))
        .map(|v| format!("{v:?}"))
        .collect()
}

fn book(n: u32) -> Value {
    let mut book = hobbit();
    book["isbn"] = json!(isbn(n));
    book["title"] = json!(TITLE);
    book
}

both_stores!(
    a_request_is_one_trace_from_the_http_span_to_the_statements,
    |backend| async move {
        let collector = collector().await;
        let app = spawn_with(
            backend,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
                ("OTEL_SERVICE_NAME", "bookstore-under-test"),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true"),
            ],
        )
        .await;
        let receiver = Receiver::start().await;
        create_webhook(&app, &receiver.url).await;
        let response = app
            .request(reqwest::Method::POST, "/books")
            .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
            .json(&book(1))
            .send()
            .await
            .expect("POST /books");
        assert_eq!(response.status(), 201);
        let ours = header(&response, "traceparent".parse().expect("name"));
        let db_system = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        };

        let of_trace = |spans: &[Exported]| -> Vec<Exported> {
            spans
                .iter()
                .filter(|e| hex(&e.span.trace_id) == TRACE_ID)
                .cloned()
                .collect()
        };
        let spans = collector
            .until("server span, INSERT books and relay publish", |spans| {
                let trace = of_trace(spans);
                let has = |f: &dyn Fn(&Span) -> bool| trace.iter().any(|e| f(&e.span));
                has(&|s| s.kind == SpanKind::Server as i32)
                    && has(&|s| {
                        text(&s.attributes, "db.collection.name").as_deref() == Some("books")
                    })
                    && has(&|s| s.kind == SpanKind::Producer as i32)
                    && has(&|s| int(&s.attributes, "http.response.status_code") == Some(204))
            })
            .await;
        let trace = of_trace(&spans);
        assert!(
            trace
                .iter()
                .all(|e| e.service.as_deref() == Some("bookstore-under-test")),
            "OTEL_SERVICE_NAME names the service"
        );

        // The HTTP span: the root of our part, under the caller's span.
        let servers: Vec<&Span> = trace
            .iter()
            .map(|e| &e.span)
            .filter(|s| s.kind == SpanKind::Server as i32)
            .collect();
        assert_eq!(
            servers.len(),
            1,
            "{:#?}",
            trace.iter().map(describe).collect::<Vec<_>>()
        );
        let server = servers[0];
        assert_eq!(server.name, "POST /books");
        assert_eq!(hex(&server.parent_span_id), CALLER_SPAN);
        assert_eq!(
            text(&server.attributes, "http.route").as_deref(),
            Some("/books")
        );
        assert_eq!(
            text(&server.attributes, "http.request.method").as_deref(),
            Some("POST")
        );
        assert_eq!(
            int(&server.attributes, "http.response.status_code"),
            Some(201)
        );
        let server_id = hex(&server.span_id);
        // The response, the logs and the export name the same span of the same trace.
        assert_eq!(ours, format!("00-{TRACE_ID}-{server_id}-01"));
        let logs = app.logs();
        let completed = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "request completed" && l["span"]["path"] == "/books")
            .expect("the request's log line");
        assert_eq!(completed["span"]["trace_id"], TRACE_ID, "{completed}");
        assert_eq!(
            completed["span"]["span_id"],
            server_id.as_str(),
            "{completed}"
        );
        // And every request's lines carry their trace.
        assert!(logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == "request completed")
            .all(|l| l["span"]["trace_id"].is_string()));

        // Everything else of the request descends from it.
        let by_id: HashMap<String, &Span> = trace
            .iter()
            .map(|e| (hex(&e.span.span_id), &e.span))
            .collect();
        let under_server = |span: &Span| {
            let mut parent = hex(&span.parent_span_id);
            for _ in 0..16 {
                if parent == server_id {
                    return true;
                }
                match by_id.get(&parent) {
                    Some(up) => parent = hex(&up.parent_span_id),
                    None => return false,
                }
            }
            false
        };
        let use_case = trace
            .iter()
            .map(|e| &e.span)
            .find(|s| s.name == "catalog.create_book")
            .expect("the use case's span");
        assert_eq!(hex(&use_case.parent_span_id), server_id);
        let statements: Vec<&Span> = trace
            .iter()
            .map(|e| &e.span)
            .filter(|s| text(&s.attributes, "db.system").is_some())
            .collect();
        assert!(statements.len() >= 3, "{statements:#?}");
        for statement in &statements {
            assert!(under_server(statement), "{}", statement.name);
            assert_eq!(statement.kind, SpanKind::Client as i32);
            assert_eq!(
                text(&statement.attributes, "db.system").as_deref(),
                Some(db_system)
            );
            assert!(
                text(&statement.attributes, "db.operation").is_some(),
                "{}",
                statement.name
            );
        }
        let insert = statements
            .iter()
            .find(|s| s.name == "INSERT books")
            .expect("the book's INSERT");
        assert_eq!(
            text(&insert.attributes, "db.operation").as_deref(),
            Some("INSERT")
        );
        assert_eq!(
            text(&insert.attributes, "db.collection.name").as_deref(),
            Some("books")
        );
        assert!(statements
            .iter()
            .any(|s| text(&s.attributes, "db.collection.name").as_deref() == Some("outbox")));

        // The relay's publication of the book's event joins the request's trace.
        let publish = trace
            .iter()
            .map(|e| &e.span)
            .find(|s| s.kind == SpanKind::Producer as i32)
            .expect("the relay's span");
        assert_eq!(hex(&publish.parent_span_id), server_id);
        assert_eq!(
            text(&publish.attributes, "cloudevents.event_type").as_deref(),
            Some("bookstore.book.created")
        );

        // So does each webhook delivery of it.
        let delivery = trace
            .iter()
            .map(|e| &e.span)
            .find(|s| s.kind == SpanKind::Client as i32 && s.name == "POST")
            .expect("the webhook delivery's span");
        assert_eq!(hex(&delivery.parent_span_id), server_id);
        assert_eq!(
            int(&delivery.attributes, "http.response.status_code"),
            Some(204)
        );
        assert_eq!(
            text(&delivery.attributes, "server.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(receiver.received().len(), 1);

        // Sign-in hashes passwords: the test's own sign-in at start is a trace of its own.
        let all = collector
            .until("password verification", |spans| {
                spans.iter().any(|e| e.span.name == "password.verify")
            })
            .await;

        // Only entry points start traces: no poller's store call is a trace of its own.
        for exported in &all {
            let span = &exported.span;
            assert!(
                !(span.parent_span_id.is_empty() && span.kind == SpanKind::Internal as i32),
                "a root span of no entry point: {}",
                describe(exported)
            );
        }

        // No statement's parameters, no request body: the title is nowhere.
        for exported in &all {
            for value in attribute_texts(&exported.span) {
                assert!(
                    !value.contains(TITLE) && !value.contains(&isbn(1)),
                    "{} carries a value: {value}",
                    exported.span.name
                );
            }
        }
    }
);

both_stores!(
    a_dead_collector_costs_requests_nothing,
    |backend| async move {
        // Bound, not listening: every export is refused.
        let (_closed, port) = closed_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let app = spawn_with(
            backend,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "20"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
            ],
        )
        .await;
        let outage = "the trace collector does not take spans";
        let started = Instant::now();
        for n in 1..=20 {
            let response = app.post_json("/books", &book(n)).await;
            assert_eq!(response.status(), 201, "book {n}");
            let id = body(response).await["id"].as_str().expect("id").to_owned();
            assert_eq!(app.get(&format!("/books/{id}")).await.status(), 200);
        }
        // The outage is logged once when it begins...
        while !app.logs().contains(outage) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no log line about the collector:\n{}",
                app.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // ...and not again for each later batch that fails.
        for n in 21..=40 {
            assert_eq!(app.post_json("/books", &book(n)).await.status(), 201);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let logs = app.logs();
        assert_eq!(logs.matches(outage).count(), 1, "{logs}");
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
);
