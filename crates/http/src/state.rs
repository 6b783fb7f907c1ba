//! What every handler can reach.

use bookstore_core::auth::{Accounts, TokenVerifier};
use bookstore_core::ratelimit::RateLimiter;
use bookstore_core::Catalog;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    pub accounts: Accounts,
    pub verifier: Arc<dyn TokenVerifier>,
    /// Rate-limit counters (in memory, or shared through Redis).
    pub limiter: Arc<dyn RateLimiter>,
    /// The public base URL, for discovery documents (`https://books.example.com`).
    pub public_url: String,
}
