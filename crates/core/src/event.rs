//! Domain events as CloudEvents 1.0 (structured JSON), written to the outbox in the same
//! transaction as the change they describe.

use crate::book::Book;
use crate::ids::BookId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const SOURCE: &str = "/bookstore/catalog";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookEventKind {
    Created,
    Updated,
    Deleted,
    StockAdjusted,
}

impl BookEventKind {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Created => "bookstore.book.created",
            Self::Updated => "bookstore.book.updated",
            Self::Deleted => "bookstore.book.deleted",
            Self::StockAdjusted => "bookstore.book.stock_adjusted",
        }
    }
}

/// A CloudEvents 1.0 envelope; `version` is an extension attribute so that consumers can drop
/// stale events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    pub version: i64,
    pub data: serde_json::Value,
}

impl CloudEvent {
    fn new(
        kind: BookEventKind,
        id: BookId,
        version: i64,
        time: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: SOURCE.into(),
            event_type: kind.event_type().into(),
            subject: id.to_string(),
            time,
            datacontenttype: "application/json".into(),
            version,
            data,
        }
    }

    /// A created or updated event carries the book as it is after the change.
    pub fn book_changed(kind: BookEventKind, book: &Book) -> Result<Self, serde_json::Error> {
        Ok(Self::new(
            kind,
            book.id,
            book.version,
            book.updated_at,
            serde_json::to_value(book)?,
        ))
    }

    /// A deleted event carries the id and the last version.
    pub fn book_deleted(id: BookId, last_version: i64, time: DateTime<Utc>) -> Self {
        Self::new(
            BookEventKind::Deleted,
            id,
            last_version,
            time,
            serde_json::json!({ "id": id, "version": last_version }),
        )
    }
}
