//! The port through which `/readyz` asks the adapters it does not know by name (the event bus)
//! whether they work as configured.

use async_trait::async_trait;

/// A dependency whose outage degrades the service without stopping it: while it is down,
/// requests still succeed (for the event bus: writes commit, their events wait in the outbox).
#[async_trait]
pub trait Dependency: Send + Sync + 'static {
    /// Its name in `/readyz` (`nats`).
    fn name(&self) -> &'static str;

    /// `None` while it works as configured; otherwise what its outage means for the service,
    /// in words for anyone to read: never a host, an address or an error text (those go to
    /// the log). Cheap: it is asked on every readiness probe.
    async fn degraded(&self) -> Option<String>;
}
