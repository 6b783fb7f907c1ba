//! What a relay publishes to: in-process by default, NATS JetStream when configured.

use async_trait::async_trait;
use bookstore_core::outbox::PendingEvent;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("the event bus is unreachable: {0}")]
    Unavailable(String),
    #[error("the event bus did not accept event {id}: {reason}")]
    Rejected { id: Uuid, reason: String },
}

/// Whether the bus takes events now. A bus that is down degrades the service (events wait in
/// the outbox) but does not stop writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusHealth {
    Up,
    Degraded(String),
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// For logs, `/readyz` and metrics: `in-process`, `nats`.
    fn name(&self) -> &'static str;

    /// Publishes events of distinct aggregates (so their order among themselves does not
    /// matter) and says, for each in the same order, whether the bus has durably accepted it.
    /// Only an accepted event may be marked published.
    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>>;

    async fn health(&self) -> BusHealth;
}
