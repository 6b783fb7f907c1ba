//! The default bus: events stay in this process. Subscribers here read them from the store's
//! event log (woken by the `LogSignal`), so the bus has nothing to carry and accepts every
//! event at once.

use crate::bus::{BusError, BusHealth, EventBus};
use async_trait::async_trait;
use bookstore_core::outbox::PendingEvent;

#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessBus;

#[async_trait]
impl EventBus for InProcessBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, events: &[PendingEvent]) -> Vec<Result<(), BusError>> {
        events.iter().map(|_| Ok(())).collect()
    }

    async fn health(&self) -> BusHealth {
        BusHealth::Up
    }
}
