//! The append-only audit trail of every change to a book.

use crate::ids::BookId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    Created,
    Updated,
    Deleted,
}

impl HistoryAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(Self::Created),
            "updated" => Some(Self::Updated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub book_id: BookId,
    /// The book's version after the change (for a delete: the last version).
    pub version: i64,
    pub action: HistoryAction,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
    /// The book before the change; `None` for a create.
    pub before: Option<serde_json::Value>,
    /// The book after the change; `None` for a delete.
    pub after: Option<serde_json::Value>,
}
