//! W3C Trace Context (`traceparent`): a request continues the caller's trace when it sent a
//! valid header and starts a new one otherwise. The trace id goes into the request span, so
//! every log line of the request carries it; the response tells the caller which trace and
//! which span of ours served it. When traces are exported, "our span" is the exported HTTP
//! server span ([`server_span`]), so the trace id of the logs is the exported trace's.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bookstore_telemetry::Traceparent;
use tracing::field::Empty;
use tracing::Span;

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The trace a request belongs to, and the span this service opened for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, never all zero.
    pub trace_id: String,
    /// The caller's span id (16 hex digits), when it sent one.
    pub parent_id: Option<String>,
    /// Our span for this request: 16 hex digits.
    pub span_id: String,
    pub flags: u8,
}

impl TraceContext {
    /// Continues the trace of a valid `traceparent` header, or starts a new trace.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::start(headers, &Span::none())
    }

    /// As [`TraceContext::from_headers`], with `server` (the request's span for traces, see
    /// [`server_span`]) continuing the caller's trace: when traces are exported, the ids are
    /// that span's, so that the logs, the response and the events name the exported span.
    pub fn start(headers: &HeaderMap, server: &Span) -> Self {
        let incoming = headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(Traceparent::parse);
        if let Some(ours) = bookstore_telemetry::continue_trace(server, incoming.as_ref()) {
            return Self {
                trace_id: ours.trace_id,
                parent_id: incoming.map(|parent| parent.span_id),
                span_id: ours.span_id,
                flags: ours.flags,
            };
        }
        match incoming {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                parent_id: Some(parent.span_id),
                span_id: new_span_id(),
                flags: parent.flags,
            },
            None => Self {
                trace_id: hex(uuid::Uuid::new_v4().as_u128(), 32),
                parent_id: None,
                span_id: new_span_id(),
                // Not sampled: without an exporter this service records no traces.
                flags: 0,
            },
        }
    }

    /// `traceparent` naming our span, for the response and for calls made on the request's
    /// behalf.
    pub fn header_value(&self) -> Option<HeaderValue> {
        // Put together by hand: `format!` was a visible part of a cached read's cost.
        let mut text = String::with_capacity(3 + self.trace_id.len() + 1 + self.span_id.len() + 3);
        text.push_str("00-");
        text.push_str(&self.trace_id);
        text.push('-');
        text.push_str(&self.span_id);
        text.push('-');
        text.push_str(&hex(u128::from(self.flags), 2));
        HeaderValue::from_str(&text).ok()
    }
}

/// The HTTP server span of the semantic conventions, when traces are exported (else a
/// disabled span): named `METHOD /route/{template}` after the route the router matched
/// (never the raw path), with `http.request.method`, `http.route` and `url.path`;
/// [`record_status`] adds the response's status.
pub fn server_span(request: &Request) -> Span {
    if !bookstore_telemetry::on() {
        return Span::none();
    }
    let method = method_name(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    tracing::info_span!(
        "http.server",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
    )
}

/// The response's status on the server span; a server error marks the span failed (a client
/// error does not: the server did its job).
pub fn record_status(server: &Span, status: u16) {
    // As i64: tracing-opentelemetry would export a u64 as text.
    server.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        server.record("otel.status_code", "error");
    }
}

/// The method as the conventions name it: the known ones, else `_OTHER` (a span name per
/// invented method would be unbounded).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

fn new_span_id() -> String {
    loop {
        // 64 random bits; zero is not a valid span id.
        let id = uuid::Uuid::new_v4().as_u64_pair().0;
        if id != 0 {
            return hex(u128::from(id), 16);
        }
    }
}

/// The last `digits` hex digits of `value`, lower case, zero-padded (`format!("{:0N$x}")`
/// without the formatting machinery).
fn hex(value: u128, digits: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..digits)
        .rev()
        .map(|i| {
            let nibble = u32::try_from(i * 4)
                .ok()
                .and_then(|shift| value.checked_shr(shift))
                .unwrap_or(0);
            char::from(HEX[(nibble & 0xf) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_format() {
        for value in [
            0u128,
            1,
            0xab,
            u128::from(u64::MAX),
            u128::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            assert_eq!(hex(value, 32), format!("{value:032x}"));
            assert_eq!(hex(value, 16), format!("{:016x}", value as u64));
            assert_eq!(hex(value, 2), format!("{:02x}", value as u8));
        }
    }

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn is_lower_hex(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(&TRACEPARENT, HeaderValue::from_str(value).expect("ascii"));
        headers
    }

    #[test]
    fn a_valid_traceparent_is_continued() {
        let trace = TraceContext::from_headers(&with(VALID));
        assert_eq!(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(trace.flags, 1);
        assert_ne!(trace.span_id, "00f067aa0ba902b7");
        let echoed = trace.header_value().expect("header");
        let echoed = echoed.to_str().expect("ascii");
        assert!(echoed.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(echoed.ends_with("-01"));
        assert!(Traceparent::parse(echoed).is_some(), "{echoed}");
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            let trace = TraceContext::from_headers(&with(bad));
            assert!(trace.parent_id.is_none());
            assert!(is_lower_hex(&trace.trace_id, 32), "{}", trace.trace_id);
            assert!(is_lower_hex(&trace.span_id, 16));
        }
        let fresh = TraceContext::from_headers(&HeaderMap::new());
        let other = TraceContext::from_headers(&HeaderMap::new());
        assert_ne!(fresh.trace_id, other.trace_id);
    }
}
