//! W3C Trace Context (`traceparent`): a request continues the caller's trace when it sent a
//! valid header and starts a new one otherwise. The trace id goes into the request span, so
//! every log line of the request carries it; the response tells the caller which trace and
//! which span of ours served it.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

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
        let incoming = headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        match incoming {
            Some((trace_id, parent_id, flags)) => Self {
                trace_id,
                parent_id: Some(parent_id),
                span_id: new_span_id(),
                flags,
            },
            None => Self {
                trace_id: format!("{:032x}", uuid::Uuid::new_v4().as_u128()),
                parent_id: None,
                span_id: new_span_id(),
                // Not sampled: this service records no traces of its own yet.
                flags: 0,
            },
        }
    }

    /// `traceparent` naming our span, for the response and for calls made on the request's
    /// behalf.
    pub fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!(
            "00-{}-{}-{:02x}",
            self.trace_id, self.span_id, self.flags
        ))
        .ok()
    }
}

fn new_span_id() -> String {
    loop {
        // 64 random bits; zero is not a valid span id.
        let id = uuid::Uuid::new_v4().as_u64_pair().0;
        if id != 0 {
            return format!("{id:016x}");
        }
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses `version-traceid-parentid-flags` as the spec says a version-00 receiver must:
/// unknown higher versions are read by their version-00 prefix; anything malformed, an
/// all-zero id or version `ff` is ignored.
fn parse(value: &str) -> Option<(String, String, u8)> {
    let value = value.trim();
    let version = value.get(0..2)?;
    if !is_lower_hex(version, 2) || version == "ff" {
        return None;
    }
    if version == "00" && value.len() != 55 {
        return None;
    }
    if value.len() < 55 || (value.len() > 55 && value.as_bytes()[55] != b'-') {
        return None;
    }
    let mut parts = value.get(..55)?.split('-');
    let (_, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if !is_lower_hex(trace_id, 32) || !is_lower_hex(parent_id, 16) || !is_lower_hex(flags, 2) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace_id.to_owned(), parent_id.to_owned(), flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

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
        assert!(parse(echoed).is_some(), "{echoed}");
    }

    #[test]
    fn future_versions_are_read_by_their_prefix() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(parse(future).is_some());
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
            assert!(parse(bad).is_none(), "{bad}");
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
