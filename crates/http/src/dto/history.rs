use bookstore_core::HistoryEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One audited change. `before` and `after` are snapshots of the book in the store's own
/// representation, which does not change with the API version.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntryDto {
    pub id: Uuid,
    pub book_id: Uuid,
    pub version: i64,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<HistoryEntry> for HistoryEntryDto {
    fn from(h: HistoryEntry) -> Self {
        Self {
            id: h.id,
            book_id: h.book_id.as_uuid(),
            version: h.version,
            action: h.action.as_str().to_owned(),
            actor: h.actor,
            request_id: h.request_id,
            at: h.at,
            before: h.before,
            after: h.after,
        }
    }
}
