//! What every handler can reach.

use bookstore_core::auth::{Accounts, TokenVerifier};
use bookstore_core::Catalog;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    pub accounts: Accounts,
    pub verifier: Arc<dyn TokenVerifier>,
    /// The public base URL, for discovery documents (`https://books.example.com`).
    pub public_url: String,
}
