use bookstore_core::{Location, StockLevel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A place that holds stock: a store, a warehouse, or a shelf inside another location.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationDto {
    pub id: Uuid,
    /// Unique, lower case; stock movements name a location by it (or by id).
    pub code: String,
    pub name: String,
    /// `store`, `warehouse` or `shelf`.
    pub kind: String,
    /// The location a shelf is inside; null for stores and warehouses.
    pub parent_id: Option<Uuid>,
    /// The location stock is kept at unless another is named (code `main` at first); it
    /// cannot be deleted.
    pub default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Location> for LocationDto {
    fn from(l: Location) -> Self {
        Self {
            default: l.is_default(),
            id: l.id.as_uuid(),
            code: l.code,
            name: l.name,
            kind: l.kind.as_str().to_owned(),
            parent_id: l.parent_id.map(|p| p.as_uuid()),
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    /// The location a shelf is inside (required for a shelf, absent otherwise).
    pub parent_id: Option<String>,
}

/// A book's stock at one location.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockLevelDto {
    pub location_id: Uuid,
    pub code: String,
    pub name: String,
    /// `store`, `warehouse` or `shelf`.
    pub kind: String,
    pub quantity: i64,
}

impl From<StockLevel> for StockLevelDto {
    fn from(l: StockLevel) -> Self {
        Self {
            location_id: l.location_id.as_uuid(),
            code: l.code,
            name: l.name,
            kind: l.kind.as_str().to_owned(),
            quantity: l.quantity,
        }
    }
}

/// A book's stock on hand: the total and its breakdown per location.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookStockDto {
    pub book_id: Uuid,
    /// The book's `quantity`: the sum over the locations.
    pub quantity: i64,
    /// Every location that holds or has held the book, by code.
    pub locations: Vec<StockLevelDto>,
}
