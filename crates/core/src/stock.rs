//! Stock movements: every change of the quantity on hand, with why and by whom. Receipts,
//! sales and returns move stock by a positive count; an adjustment by a signed count (with a
//! reason: damage, theft, a found box); a count sets what was physically counted. Each
//! happens at one location (the default one unless named); a transfer moves stock between
//! two locations as a pair of movements, out of one and into the other.

use crate::book::{Quantity, MAX_QUANTITY};
use crate::error::StoreError;
use crate::ids::{BookId, LocationId};
use crate::location::{LocationRef, DEFAULT_CODE, DEFAULT_LOCATION};
use crate::text;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockMovementKind {
    Receive,
    Sale,
    Return,
    Adjustment,
    Count,
    /// One half of a transfer: out of one location (a negative delta) or into the other.
    Transfer,
}

impl StockMovementKind {
    pub const ALL: [StockMovementKind; 6] = [
        Self::Receive,
        Self::Sale,
        Self::Return,
        Self::Adjustment,
        Self::Count,
        Self::Transfer,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Adjustment => "adjustment",
            Self::Count => "count",
            Self::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// A valid movement as a client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMovementDraft {
    kind: StockMovementKind,
    quantity: i64,
    reason: Option<String>,
    location: Option<LocationRef>,
}

impl StockMovementDraft {
    pub fn parse(
        kind: &str,
        quantity: i64,
        reason: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let kind = StockMovementKind::parse(kind).filter(|k| *k != StockMovementKind::Transfer);
        if kind.is_none() {
            errors.add(
                "kind",
                "must be one of: receive, sale, return, adjustment, count, transfer",
            );
        }
        let reason = errors
            .check("reason", text::optional(reason, MAX_REASON, false))
            .flatten();
        if let Some(kind) = kind {
            let (min, message) = match kind {
                StockMovementKind::Count => (0, "must be the counted quantity, 0 or more"),
                StockMovementKind::Adjustment => (-MAX_QUANTITY, "must be a non-zero change"),
                StockMovementKind::Receive
                | StockMovementKind::Sale
                | StockMovementKind::Return
                | StockMovementKind::Transfer => (1, "must be at least 1"),
            };
            if quantity < min
                || quantity > MAX_QUANTITY
                || (kind == StockMovementKind::Adjustment && quantity == 0)
            {
                errors.add("quantity", format!("{message}, at most {MAX_QUANTITY}"));
            }
            if kind == StockMovementKind::Adjustment && reason.is_none() {
                errors.add("reason", "is required for an adjustment");
            }
        }
        errors.into_result()?;
        match kind {
            Some(kind) => Ok(Self {
                kind,
                quantity,
                reason,
                location: None,
            }),
            None => Err(ValidationErrors::single("kind", "is required")),
        }
    }

    /// The same movement at `location` (instead of the default location).
    pub fn at(mut self, location: LocationRef) -> Self {
        self.location = Some(location);
        self
    }

    /// Where the movement happens; `None`: at the default location.
    pub fn location(&self) -> Option<&LocationRef> {
        self.location.as_ref()
    }

    pub fn kind(&self) -> StockMovementKind {
        self.kind
    }

    pub fn quantity(&self) -> i64 {
        self.quantity
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// How the quantity on hand changes when this movement applies to `on_hand`.
    pub fn delta(&self, on_hand: i64) -> i64 {
        match self.kind {
            StockMovementKind::Receive
            | StockMovementKind::Return
            | StockMovementKind::Transfer => self.quantity,
            StockMovementKind::Sale => -self.quantity,
            StockMovementKind::Adjustment => self.quantity,
            StockMovementKind::Count => self.quantity.saturating_sub(on_hand),
        }
    }

    /// Applies this movement to `on_hand`: the change and the quantity after it. Taking the
    /// stock below zero is a conflict with the stock there is; past [`MAX_QUANTITY`] it is
    /// the movement's `quantity` that is wrong (a 422, not a 409).
    pub fn apply(&self, on_hand: i64) -> Result<(i64, Quantity), StoreError> {
        let delta = self.delta(on_hand);
        let after = on_hand.checked_add(delta);
        match after {
            Some(after) if after < 0 => Err(StoreError::InsufficientStock {
                available: on_hand,
                requested: delta.saturating_neg(),
            }),
            Some(after) => Quantity::new(after).map(|q| (delta, q)).map_err(|_| {
                StoreError::Invalid(ValidationErrors::single(
                    "quantity",
                    format!(
                        "would take the stock on hand ({on_hand}) past the largest quantity, \
                         {MAX_QUANTITY}"
                    ),
                ))
            }),
            None => Err(StoreError::Invalid(ValidationErrors::single(
                "quantity",
                format!("must keep the stock on hand at most {MAX_QUANTITY}"),
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMovement {
    pub id: Uuid,
    pub book_id: BookId,
    pub kind: StockMovementKind,
    /// As given: the count moved, the signed adjustment, or the counted quantity.
    pub quantity: i64,
    /// The change of the stock at the location: so of the book's quantity on hand, but for
    /// the two halves of a transfer, which leave the total as it is (and cancel out).
    pub delta: i64,
    /// The book's quantity on hand (over all locations) after the movement.
    pub quantity_after: i64,
    /// Where it happened; records from before locations were there at the default one.
    #[serde(default = "default_location")]
    pub location_id: LocationId,
    /// The location's code when the movement was made.
    #[serde(default = "default_code")]
    pub location: String,
    /// The stock at the location after the movement.
    #[serde(default)]
    pub location_quantity_after: i64,
    /// For a transfer: the code of the other location (where the stock went to, or came
    /// from).
    #[serde(default)]
    pub counterpart: Option<String>,
    pub reason: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

fn default_location() -> LocationId {
    DEFAULT_LOCATION
}

fn default_code() -> String {
    DEFAULT_CODE.to_owned()
}

/// A valid transfer as a client asked for it: `quantity` copies out of `from` and into `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferDraft {
    from: LocationRef,
    to: LocationRef,
    quantity: i64,
    reason: Option<String>,
}

impl TransferDraft {
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        quantity: i64,
        reason: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut location = |field: &str, value: Option<&str>| match value {
            None => {
                errors.add(field, "is required for a transfer");
                None
            }
            Some(v) => errors.check_all(LocationRef::parse(field, v)),
        };
        let from = location("from_location", from);
        let to = location("to_location", to);
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            errors.add(
                "quantity",
                format!("must be at least 1, at most {MAX_QUANTITY}"),
            );
        }
        let reason = errors
            .check("reason", text::optional(reason, MAX_REASON, false))
            .flatten();
        if from.is_some() && from == to {
            errors.add("to_location", "must differ from from_location");
        }
        errors.into_result()?;
        match (from, to) {
            (Some(from), Some(to)) => Ok(Self {
                from,
                to,
                quantity,
                reason,
            }),
            _ => Err(ValidationErrors::single("from_location", "is required")),
        }
    }

    pub fn from(&self) -> &LocationRef {
        &self.from
    }

    pub fn to(&self) -> &LocationRef {
        &self.to
    }

    pub fn quantity(&self) -> i64 {
        self.quantity
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// What `POST /books/{id}/stock-movements` asks for: one movement at a location, or a
/// transfer between two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockRequest {
    Movement(StockMovementDraft),
    Transfer(TransferDraft),
}

impl StockRequest {
    pub fn parse(
        kind: &str,
        quantity: i64,
        reason: Option<&str>,
        location: Option<&str>,
        from_location: Option<&str>,
        to_location: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        if StockMovementKind::parse(kind) == Some(StockMovementKind::Transfer) {
            if location.is_some() {
                return Err(ValidationErrors::single(
                    "location",
                    "is not taken by a transfer: use from_location and to_location",
                ));
            }
            return TransferDraft::parse(from_location, to_location, quantity, reason)
                .map(Self::Transfer);
        }
        let mut errors = ValidationErrors::new();
        for (field, value) in [
            ("from_location", from_location),
            ("to_location", to_location),
        ] {
            if value.is_some() {
                errors.add(field, "is only taken by a transfer; use location");
            }
        }
        let location = location.and_then(|l| errors.check_all(LocationRef::parse("location", l)));
        let draft = errors.check_all(StockMovementDraft::parse(kind, quantity, reason));
        errors.into_result()?;
        match draft {
            Some(draft) => Ok(Self::Movement(match location {
                Some(location) => draft.at(location),
                None => draft,
            })),
            None => Err(ValidationErrors::single("kind", "is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        let d = |k: &str, q: i64| StockMovementDraft::parse(k, q, Some("r")).expect("valid");
        assert_eq!(d("receive", 5).delta(2), 5);
        assert_eq!(d("sale", 3).delta(10), -3);
        assert_eq!(d("return", 1).delta(0), 1);
        assert_eq!(d("adjustment", -2).delta(10), -2);
        assert_eq!(d("count", 7).delta(10), -3);
        assert_eq!(d("count", 0).delta(4), -4);
    }

    #[test]
    fn rules() {
        assert!(StockMovementDraft::parse("sale", 0, None).is_err());
        assert!(StockMovementDraft::parse("receive", -1, None).is_err());
        assert!(StockMovementDraft::parse("adjustment", 0, Some("x")).is_err());
        let no_reason = StockMovementDraft::parse("adjustment", -1, None).expect_err("reason");
        assert_eq!(no_reason.errors()[0].field, "reason");
        assert!(StockMovementDraft::parse("count", -1, None).is_err());
        assert!(StockMovementDraft::parse("theft", 1, None).is_err());
        assert!(StockMovementDraft::parse("receive", MAX_QUANTITY + 1, None).is_err());
        assert!(StockMovementDraft::parse("count", 0, None).is_ok());
    }

    #[test]
    fn receiving_past_the_maximum_is_a_quantity_error_not_a_conflict() {
        let receive = StockMovementDraft::parse("receive", MAX_QUANTITY, None).expect("valid");
        match receive.apply(1) {
            Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "quantity"),
            other => panic!("expected a quantity error, got {other:?}"),
        }
        let adjust = StockMovementDraft::parse("adjustment", 2, Some("found")).expect("valid");
        assert!(matches!(
            adjust.apply(MAX_QUANTITY - 1),
            Err(StoreError::Invalid(_))
        ));
        let sale = StockMovementDraft::parse("sale", 3, None).expect("valid");
        assert!(matches!(
            sale.apply(2),
            Err(StoreError::InsufficientStock {
                available: 2,
                requested: 3
            })
        ));
        let (delta, after) = receive.apply(0).expect("fits");
        assert_eq!((delta, after.get()), (MAX_QUANTITY, MAX_QUANTITY));
        assert_eq!(sale.apply(3).map(|(d, q)| (d, q.get())).ok(), Some((-3, 0)));
    }
}
