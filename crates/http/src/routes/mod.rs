pub mod audit;
pub mod auth;
pub mod books;
pub mod events;
pub mod health;
pub mod imports;
pub mod named;
pub mod reports;
pub mod stock;
pub mod stocktakes;
pub mod users;
pub mod webhooks;
pub mod wellknown;

use bookstore_core::{Limit, PageRequest, ValidationErrors};

/// Reads `limit` and `cursor` into a page request, reporting a bad limit as a field error.
pub fn page_request(
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<PageRequest, ValidationErrors> {
    let limit = match limit {
        None => Limit::DEFAULT,
        Some(l) => Limit::new(l).map_err(|msg| ValidationErrors::single("limit", msg))?,
    };
    Ok(PageRequest {
        limit,
        cursor: cursor.filter(|c| !c.is_empty()),
    })
}
