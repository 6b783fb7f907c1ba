//! What every handler can reach.

use crate::caller::Authenticator;
use bookstore_core::Catalog;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    pub authenticator: Arc<dyn Authenticator>,
}
