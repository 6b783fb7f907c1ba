//! One round of the relay: the pending events of every partition it holds go to the bus wave by
//! wave, and the ones the bus accepted are marked published in one transaction per wave, which
//! gives them their positions in the event log.

use super::waves::waves;
use super::{RelayConfig, Shared};
use bookstore_core::outbox::{OutboxLeases, PendingEvent};
use bookstore_core::StoreError;
use tracing::{Instrument as _, Span};
use uuid::Uuid;

/// How a pass over the pending events ended.
pub(crate) enum Pass {
    /// Everything pending when the pass began went out.
    Done,
    /// A full batch went out: there may be more.
    More,
    /// The bus did not take (all of) a wave: the rest waits.
    BusFailed,
}

/// Publishes one batch of the held partitions' pending events, wave by wave, and marks the
/// ones the bus accepted.
pub(crate) async fn pass(
    leases: &mut dyn OutboxLeases,
    shared: &Shared,
    config: &RelayConfig,
) -> Result<Pass, StoreError> {
    let events = leases.pending(config.batch).await?;
    if events.is_empty() {
        return Ok(Pass::Done);
    }
    let full = events.len() >= config.batch as usize;
    for wave in waves(&events) {
        let results = shared
            .bus
            .publish(&wave)
            .instrument(publish_span(shared.bus.name(), &wave))
            .await;
        let mut accepted: Vec<Uuid> = Vec::with_capacity(wave.len());
        let mut failure = None;
        for (i, event) in wave.iter().enumerate() {
            match results.get(i) {
                Some(Ok(())) => accepted.push(event.id),
                Some(Err(err)) => {
                    failure.get_or_insert_with(|| err.to_string());
                }
                None => {
                    failure.get_or_insert_with(|| {
                        format!(
                            "the bus answered for {} of {} events",
                            results.len(),
                            wave.len()
                        )
                    });
                }
            }
        }
        let bus = shared.bus.name();
        metrics::counter!("bookstore_events_published_total", "bus" => bus)
            .increment(accepted.len() as u64);
        let refused = wave.len().saturating_sub(accepted.len());
        if refused > 0 {
            metrics::counter!("bookstore_events_publish_failures_total", "bus" => bus)
                .increment(refused as u64);
        }
        if !accepted.is_empty() {
            let positions = leases.mark_published(&accepted).await?;
            if let Some(&head) = positions.last() {
                shared.signal.announce(head);
            }
        }
        if let Some(reason) = failure {
            shared.bus_failed(&reason);
            return Ok(Pass::BusFailed);
        }
        shared.bus_worked();
    }
    Ok(if full { Pass::More } else { Pass::Done })
}

/// The span of one wave's publication (a producer span of the messaging conventions), when
/// traces are exported. A wave of one event joins the trace of the request that made it (the
/// event's `traceparent`); a wave of several is linked to each of theirs.
fn publish_span(bus: &'static str, wave: &[PendingEvent]) -> Span {
    if !bookstore_telemetry::on() {
        return Span::none();
    }
    let traceparent = |event: &PendingEvent| {
        event
            .payload
            .get("traceparent")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let single = match wave {
        [event] => Some(event),
        _ => None,
    };
    let span = tracing::info_span!(
        "relay.publish",
        otel.name = "publish",
        otel.kind = "producer",
        messaging.system = bus,
        messaging.operation.name = "publish",
        messaging.operation.type = "send",
        // As i64: tracing-opentelemetry would export a u64 as text.
        messaging.batch.message_count = i64::try_from(wave.len()).unwrap_or(i64::MAX),
        cloudevents.event_id = single.map(|event| tracing::field::display(event.id)),
        cloudevents.event_type = single.map(|event| event.event_type.as_str()),
    );
    match single {
        Some(event) => bookstore_telemetry::follow(&span, traceparent(event).as_deref(), false),
        None => {
            for cause in wave
                .iter()
                .filter_map(traceparent)
                .filter_map(|value| bookstore_telemetry::Traceparent::parse(&value))
            {
                bookstore_telemetry::link(&span, &cause);
            }
        }
    }
    span
}
