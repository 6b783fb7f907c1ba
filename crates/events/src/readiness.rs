//! The bus as `/readyz` sees it: a dependency whose outage holds events back but lets writes
//! through.

use crate::bus::{BusHealth, EventBus};
use async_trait::async_trait;
use bookstore_core::health::Dependency;
use std::sync::Arc;

pub struct BusReadiness(pub Arc<dyn EventBus>);

#[async_trait]
impl Dependency for BusReadiness {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    async fn degraded(&self) -> Option<String> {
        match self.0.health().await {
            BusHealth::Up => None,
            // The bus logs what is wrong (its text may name hosts); here, only what it means.
            BusHealth::Degraded(_) => Some(
                "The event bus is not taking events; writes still succeed, and their events \
                 are published when it is back."
                    .into(),
            ),
        }
    }
}
