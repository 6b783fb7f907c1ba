//! Domain events as CloudEvents 1.0 (structured JSON), written to the outbox in the same
//! transaction as the change they describe. Their JSON Schemas are in `schemas/events/` at
//! the root of the repository, one per type; a store test holds every event to them.

use crate::book::Book;
use crate::ids::BookId;
use crate::ports::WriteContext;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
    pub const ALL: [BookEventKind; 4] = [
        Self::Created,
        Self::Updated,
        Self::Deleted,
        Self::StockAdjusted,
    ];

    /// The kind of a CloudEvents `type`, e.g. `bookstore.book.created`.
    pub fn parse(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.event_type() == event_type)
    }

    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Created => "bookstore.book.created",
            Self::Updated => "bookstore.book.updated",
            Self::Deleted => "bookstore.book.deleted",
            Self::StockAdjusted => "bookstore.book.stock_adjusted",
        }
    }
}

/// A CloudEvents 1.0 envelope. Extension attributes: `version` (the book's, so that consumers
/// can drop stale events), `actor` (the username whose request made the change) and
/// `traceparent` (the CloudEvents distributed-tracing extension: the W3C trace context of
/// that request, so that a consumer's work joins the request's trace); and on a
/// `stock_adjusted` event `location` and `locationid`, the code and id of the location whose
/// stock the movement changed. Its `data` is a JSON value, or (`D`) anything that serializes
/// as one, such as the [`RawValue`] of a book serialized once for both its history row and
/// its event ([`CloudEvent::book_changed_raw`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent<D = serde_json::Value> {
    pub specversion: String,
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    pub version: i64,
    /// Events written before the attribute existed have none: read as empty.
    #[serde(default)]
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locationid: Option<Uuid>,
    pub data: D,
}

impl<D> CloudEvent<D> {
    fn new(
        kind: BookEventKind,
        id: BookId,
        version: i64,
        time: DateTime<Utc>,
        ctx: &WriteContext,
        data: D,
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
            actor: ctx.actor().to_owned(),
            traceparent: ctx.traceparent.clone(),
            location: None,
            locationid: None,
            data,
        }
    }

    /// The same event, naming the location whose stock changed (its code and id).
    pub fn at_location(mut self, code: &str, id: Uuid) -> Self {
        self.location = Some(code.to_owned());
        self.locationid = Some(id);
        self
    }

    /// A created or updated event of `book`, whose `data` is the book after the change.
    fn of_book(kind: BookEventKind, book: &Book, ctx: &WriteContext, data: D) -> Self {
        Self::new(kind, book.id, book.version, book.updated_at, ctx, data)
    }
}

impl CloudEvent<Box<RawValue>> {
    /// [`CloudEvent::book_changed`] with the book serialized as it is: the same JSON, made
    /// without building a [`serde_json::Value`] first, and copied as it is wherever the event
    /// or its data is written (an import writes both for every book).
    pub fn book_changed_raw(
        kind: BookEventKind,
        book: &Book,
        ctx: &WriteContext,
    ) -> Result<Self, serde_json::Error> {
        let data = serde_json::value::to_raw_value(book)?;
        Ok(Self::of_book(kind, book, ctx, data))
    }
}

impl CloudEvent {
    /// A created or updated event carries the book as it is after the change.
    pub fn book_changed(
        kind: BookEventKind,
        book: &Book,
        ctx: &WriteContext,
    ) -> Result<Self, serde_json::Error> {
        let data = serde_json::to_value(book)?;
        Ok(Self::of_book(kind, book, ctx, data))
    }

    /// A deleted event carries the id and the last version.
    pub fn book_deleted(
        id: BookId,
        last_version: i64,
        time: DateTime<Utc>,
        ctx: &WriteContext,
    ) -> Self {
        Self::new(
            BookEventKind::Deleted,
            id,
            last_version,
            time,
            ctx,
            serde_json::json!({ "id": id, "version": last_version }),
        )
    }
}
