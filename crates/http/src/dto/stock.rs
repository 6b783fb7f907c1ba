use bookstore_core::StockMovement;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockMovementInput {
    /// `receive`, `sale`, `return` (by a positive count), `adjustment` (a signed change, with a
    /// reason) or `count` (the quantity counted on the shelf).
    pub kind: String,
    pub quantity: i64,
    /// Why: required for adjustments.
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockMovementDto {
    pub id: Uuid,
    pub book_id: Uuid,
    pub kind: String,
    pub quantity: i64,
    /// The change of the quantity on hand.
    pub delta: i64,
    /// The book's quantity on hand after the movement.
    pub quantity_after: i64,
    pub reason: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<StockMovement> for StockMovementDto {
    fn from(m: StockMovement) -> Self {
        Self {
            id: m.id,
            book_id: m.book_id.as_uuid(),
            kind: m.kind.as_str().to_owned(),
            quantity: m.quantity,
            delta: m.delta,
            quantity_after: m.quantity_after,
            reason: m.reason,
            actor: m.actor,
            request_id: m.request_id,
            at: m.at,
        }
    }
}
