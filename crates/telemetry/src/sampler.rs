//! Which spans may start a trace: the entry points (a request's server span, the relay's
//! publication, a webhook delivery; spans of a kind other than internal) and no other. A use
//! case or a store call outside any of them (the pollers of the outbox, of webhook
//! deliveries, the janitor) would otherwise be a trace of its own every few seconds.

use opentelemetry::trace::{
    Link, SamplingDecision, SamplingResult, SpanKind, TraceContextExt as _, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::ShouldSample;

/// `inner` (the sampler `OTEL_TRACES_SAMPLER` names), but an internal span without a parent
/// is dropped.
#[derive(Debug, Clone)]
pub(crate) struct EntryPoints {
    pub(crate) inner: Box<dyn ShouldSample>,
}

impl ShouldSample for EntryPoints {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let has_parent = parent_context.is_some_and(|cx| cx.span().span_context().is_valid());
        if !has_parent && *span_kind == SpanKind::Internal {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.inner
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};
    use opentelemetry_sdk::trace::Sampler;

    fn decide(parent: Option<&Context>, kind: SpanKind) -> SamplingDecision {
        let sampler = EntryPoints {
            inner: Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
        };
        sampler
            .should_sample(parent, TraceId::from(7), "x", &kind, &[], &[])
            .decision
    }

    #[test]
    fn only_entry_points_start_a_trace() {
        assert_eq!(decide(None, SpanKind::Internal), SamplingDecision::Drop);
        assert_eq!(
            decide(Some(&Context::new()), SpanKind::Internal),
            SamplingDecision::Drop
        );
        for kind in [SpanKind::Server, SpanKind::Producer, SpanKind::Client] {
            assert_eq!(decide(None, kind), SamplingDecision::RecordAndSample);
        }
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        assert_eq!(
            decide(Some(&parent), SpanKind::Internal),
            SamplingDecision::RecordAndSample
        );
    }
}
