//! Traces: OpenTelemetry spans exported over OTLP (HTTP/protobuf) when the standard `OTEL_*`
//! variables ask for it ([`Traces::from_env`]); with none set there is no exporter, and the
//! spans meant for traces are disabled at their call sites.
//!
//! Two kinds of `tracing` spans live side by side:
//! - *log context* spans carry a `trace_id` field (the request span of the HTTP layer): the
//!   log lines written inside them show their fields ([`for_logs`]), and they are never
//!   exported;
//! - every other span of the bookstore crates is a *trace* span ([`for_traces`]): exported,
//!   with the semantic conventions' attributes, and invisible to the logs, so that a log line
//!   written inside a use case or a store call still shows its request's id and trace id.
//!
//! Store statements are no `tracing` spans: [`statements`] makes a span of each from the
//! event sqlx writes when one ends.

mod export;
mod sampler;
pub mod statements;
mod traceparent;

pub use export::{DbSystem, TelemetryError, Traces};
pub use traceparent::Traceparent;

use opentelemetry::trace::TraceContextExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Metadata;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The field that makes a span a log context span.
pub const LOG_CONTEXT_FIELD: &str = "trace_id";

/// Set once, when the exporter is installed: whether trace spans are worth creating.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: callers skip building spans (and their names) when not.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

fn is_log_context(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.fields().field(LOG_CONTEXT_FIELD).is_some()
}

/// What the log layer sees: every event, and the log context spans.
pub fn for_logs(meta: &Metadata<'_>) -> bool {
    meta.is_event() || is_log_context(meta)
}

/// What the OpenTelemetry layer exports: the bookstore crates' spans but the log contexts.
pub fn for_traces(meta: &Metadata<'_>) -> bool {
    meta.is_span() && !is_log_context(meta) && meta.target().starts_with("bookstore")
}

/// Makes `span` (a server span, not yet entered) continue the trace of `incoming` when there
/// is one, else start a trace (as the sampler decides), and says which span it is: `None` when
/// traces are off.
pub fn continue_trace(span: &tracing::Span, incoming: Option<&Traceparent>) -> Option<Traceparent> {
    if !on() || span.is_disabled() {
        return None;
    }
    if let Some(parent) = incoming.and_then(Traceparent::context) {
        // Fails only once the span has started, which it has not.
        let _ = span.set_parent(parent);
    }
    Traceparent::of(span.context().span().span_context())
}

/// For work done later on behalf of the request whose `traceparent` an event carries (the
/// relay's publication, a webhook delivery): `span` joins that request's trace under its
/// span, unless it has a parent of its own already (work done inside another request), when
/// it is linked to it instead. Does nothing for a missing or malformed `traceparent`.
pub fn follow(span: &tracing::Span, traceparent: Option<&str>, has_parent: bool) {
    if !on() || span.is_disabled() {
        return;
    }
    let Some(cause) = traceparent.and_then(Traceparent::parse) else {
        return;
    };
    if has_parent {
        link(span, &cause);
    } else if let Some(parent) = cause.context() {
        let _ = span.set_parent(parent);
    }
}

/// Links `span` (not yet entered) to the span `cause` names: a batch's span to each of the
/// requests behind its items.
pub fn link(span: &tracing::Span, cause: &Traceparent) {
    if let Some(context) = cause.span_context() {
        span.add_link(context);
    }
}
