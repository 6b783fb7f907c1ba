//! The event pipeline's adapters (ARCHITECTURE.md, "Roles" and "Events"): the relay that moves
//! committed outbox rows to a bus, the buses, and what announces new events to the readers of
//! the store's event log.

pub mod bus;
pub mod inprocess;
pub mod relay;
pub mod signal;

pub use bus::{BusError, BusHealth, EventBus};
pub use inprocess::InProcessBus;
pub use relay::{OutboxCommits, Relay, RelayConfig, RelayHandle};
pub use signal::LogSignal;
