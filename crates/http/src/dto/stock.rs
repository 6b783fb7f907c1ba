use bookstore_core::{StockMovement, StockMovementKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockMovementInput {
    /// `receive`, `sale`, `return` (by a positive count), `adjustment` (a signed change, with a
    /// reason), `count` (the quantity counted on the shelf) or `transfer` (a positive count
    /// moved from one location to another).
    pub kind: String,
    pub quantity: i64,
    /// Why: required for adjustments.
    pub reason: Option<String>,
    /// Where (a location's code or id); the default location when absent. Not for transfers.
    pub location: Option<String>,
    /// A transfer's source (code or id).
    pub from_location: Option<String>,
    /// A transfer's destination (code or id).
    pub to_location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockMovementDto {
    pub id: Uuid,
    pub book_id: Uuid,
    pub kind: String,
    pub quantity: i64,
    /// The change of the stock at the location: so of the book's quantity on hand, but for
    /// the two halves of a transfer (out of one location, into the other), which leave the
    /// total as it is.
    pub delta: i64,
    /// The book's quantity on hand (over all locations) after the movement.
    pub quantity_after: i64,
    pub reason: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
    /// The location whose stock the movement changed.
    pub location_id: Uuid,
    /// That location's code when the movement was made.
    pub location: String,
    /// The stock at that location after the movement.
    pub location_quantity_after: i64,
    /// For a transfer: the code of the location the stock left; null otherwise.
    pub from_location: Option<String>,
    /// For a transfer: the code of the location the stock went to; null otherwise.
    pub to_location: Option<String>,
}

impl From<StockMovement> for StockMovementDto {
    fn from(m: StockMovement) -> Self {
        let (from_location, to_location) = (transfer_end(&m, true), transfer_end(&m, false));
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
            location_id: m.location_id.as_uuid(),
            from_location,
            to_location,
            location: m.location,
            location_quantity_after: m.location_quantity_after,
        }
    }
}

/// The source (`from`) or destination of a transfer movement: the half with the negative
/// delta is at the source, its counterpart the destination.
fn transfer_end(m: &StockMovement, from: bool) -> Option<String> {
    if m.kind != StockMovementKind::Transfer {
        return None;
    }
    let here = m.location.clone();
    let there = m.counterpart.clone().unwrap_or_default();
    Some(if (m.delta < 0) == from { here } else { there })
}
