//! What every handler can reach.

use crate::events::EventStreams;
use bookstore_core::audit::Audit;
use bookstore_core::auth::{Accounts, TokenVerifier};
use bookstore_core::consistency::ReadRouting;
use bookstore_core::health::Dependency;
use bookstore_core::ratelimit::RateLimiter;
use bookstore_core::webhook::Webhooks;
use bookstore_core::{Catalog, Inventory};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Cloned for every request by each layer that needs it, hence one shared allocation.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub catalog: Catalog,
    /// Locations, stock per location, transfers and stocktakes.
    pub inventory: Inventory,
    pub accounts: Accounts,
    pub webhooks: Webhooks,
    /// The security audit log: read by admins, written by the gateway (refusals).
    pub audit: Audit,
    pub verifier: Arc<dyn TokenVerifier>,
    /// Rate-limit counters (in memory, or shared through Redis).
    pub limiter: Arc<dyn RateLimiter>,
    /// The public base URL, for discovery documents (`https://books.example.com`).
    pub public_url: String,
    /// What `/readyz` reports beside the store and the limiter: the event bus, when this
    /// process publishes to one.
    pub dependencies: Vec<Arc<dyn Dependency>>,
    /// The published events, for `GET /events`.
    pub events: Arc<EventStreams>,
    /// Imports of catalog files (`/imports`).
    pub imports: Arc<crate::imports::Imports>,
    /// Set when the process begins to shut down: `/readyz` then answers 503.
    pub draining: Draining,
    /// Where each request's reads go (primary or read replicas), and the consistency tokens
    /// of writes.
    pub reads: Arc<dyn ReadRouting>,
    /// `GET /books/{id}` and by ISBN from memory, when on (`BOOKSTORE_CACHE_MB`).
    pub book_cache: Option<Arc<crate::cache::CacheLevels>>,
}

/// Whether the process is shutting down, so that load balancers stop sending it requests
/// while it still serves those that come. Cheap to clone; clones share the flag.
#[derive(Clone, Default, Debug)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
