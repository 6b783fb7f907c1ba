//! Stock movements: every change of the quantity on hand, with why and by whom. Receipts,
//! sales and returns move stock by a positive count; an adjustment by a signed count (with a
//! reason: damage, theft, a found box); a count sets what was physically counted.

use crate::book::{Quantity, MAX_QUANTITY};
use crate::error::StoreError;
use crate::ids::BookId;
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
}

impl StockMovementKind {
    pub const ALL: [StockMovementKind; 5] = [
        Self::Receive,
        Self::Sale,
        Self::Return,
        Self::Adjustment,
        Self::Count,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Adjustment => "adjustment",
            Self::Count => "count",
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
}

impl StockMovementDraft {
    pub fn parse(
        kind: &str,
        quantity: i64,
        reason: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let kind = StockMovementKind::parse(kind);
        if kind.is_none() {
            errors.add(
                "kind",
                "must be one of: receive, sale, return, adjustment, count",
            );
        }
        let reason = errors
            .check("reason", text::optional(reason, MAX_REASON, false))
            .flatten();
        if let Some(kind) = kind {
            let (min, message) = match kind {
                StockMovementKind::Count => (0, "must be the counted quantity, 0 or more"),
                StockMovementKind::Adjustment => (-MAX_QUANTITY, "must be a non-zero change"),
                _ => (1, "must be at least 1"),
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
            }),
            None => Err(ValidationErrors::single("kind", "is required")),
        }
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
            StockMovementKind::Receive | StockMovementKind::Return => self.quantity,
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
    /// The change of the quantity on hand.
    pub delta: i64,
    pub quantity_after: i64,
    pub reason: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
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
