//! W3C Trace Context's `traceparent`: `version-traceid-parentid-flags`, as a request carries
//! it in a header and an event in its CloudEvents distributed-tracing extension.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::Context;
use std::fmt;

/// One span of one trace: the trace id (32 lowercase hex digits, never all zero), the span id
/// (16, never all zero) and the flags (bit 0: sampled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceparent {
    pub trace_id: String,
    pub span_id: String,
    pub flags: u8,
}

impl Traceparent {
    /// Reads a `traceparent` as the spec says a version-00 receiver must: unknown higher
    /// versions are read by their version-00 prefix; anything malformed, an all-zero id or
    /// version `ff` is `None`.
    pub fn parse(value: &str) -> Option<Self> {
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
        let (_, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if !is_lower_hex(trace_id, 32) || !is_lower_hex(span_id, 16) || !is_lower_hex(flags, 2) {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || span_id.bytes().all(|b| b == b'0') {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            flags,
        })
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The span this names, as OpenTelemetry's remote span context.
    pub(crate) fn span_context(&self) -> Option<SpanContext> {
        Some(SpanContext::new(
            TraceId::from_hex(&self.trace_id).ok()?,
            SpanId::from_hex(&self.span_id).ok()?,
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        ))
    }

    /// A context whose current span is the one this names: the parent of a span that
    /// continues it.
    pub(crate) fn context(&self) -> Option<Context> {
        Some(Context::new().with_remote_span_context(self.span_context()?))
    }

    pub(crate) fn of(context: &SpanContext) -> Option<Self> {
        context.is_valid().then(|| Self {
            trace_id: context.trace_id().to_string(),
            span_id: context.span_id().to_string(),
            flags: context.trace_flags().to_u8(),
        })
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_and_writes_a_valid_traceparent() {
        let parsed = Traceparent::parse(VALID).expect("valid");
        assert_eq!(parsed.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.span_id, "00f067aa0ba902b7");
        assert!(parsed.sampled());
        assert_eq!(parsed.to_string(), VALID);
        let context = parsed.span_context().expect("context");
        assert!(context.is_remote() && context.is_sampled());
        assert_eq!(Traceparent::of(&context), Some(parsed));
    }

    #[test]
    fn future_versions_are_read_by_their_prefix() {
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(Traceparent::parse(future).is_some());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
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
            assert!(Traceparent::parse(bad).is_none(), "{bad}");
        }
    }
}
