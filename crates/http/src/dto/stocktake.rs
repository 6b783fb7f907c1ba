use bookstore_core::{Stocktake, StocktakeLine};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StocktakeInput {
    /// The location to count (code or id), with the shelves inside it; the default location
    /// when absent.
    pub location: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountInput {
    /// The book counted, by ISBN (10 or 13, any hyphenation) or by `book_id`.
    pub isbn: Option<String>,
    pub book_id: Option<String>,
    /// Sets the count.
    pub counted: Option<i64>,
    /// Adds to the count (a scanner sends 1 per scan; -1 takes a wrong scan back).
    pub add: Option<i64>,
    /// Where the copies were counted: the stocktake's location (the default) or a location
    /// inside it.
    pub location: Option<String>,
}

/// One book counted at one location, with what happened there since.
#[derive(Debug, Serialize, ToSchema)]
pub struct StocktakeLineDto {
    pub book_id: Uuid,
    /// Null once the book is deleted.
    pub isbn: Option<String>,
    pub title: Option<String>,
    pub location_id: Uuid,
    pub location: String,
    /// The copies counted.
    pub counted: i64,
    /// When the line was last counted.
    pub counted_at: DateTime<Utc>,
    /// The stock at the location when the line was last counted.
    pub on_hand_at_count: i64,
    /// The stock at the location now (while the stocktake is open), or at its commit.
    pub on_hand: i64,
    /// Copies sold at the location since the line was counted (until now, or the commit).
    pub sold_since_count: i64,
    /// Everything that moved at the location since the count (sales, receipts, ...):
    /// `on_hand - on_hand_at_count`.
    pub moved_since_count: i64,
    /// The stock the commit sets (or set): `counted + moved_since_count` (at least 0).
    pub expected: i64,
    /// What the count changes: `expected - on_hand` (`counted - on_hand_at_count`).
    pub difference: i64,
}

impl From<StocktakeLine> for StocktakeLineDto {
    fn from(l: StocktakeLine) -> Self {
        Self {
            moved_since_count: l.moved_since_count(),
            expected: l.expected(),
            difference: l.difference(),
            book_id: l.book_id.as_uuid(),
            isbn: l.isbn,
            title: l.title,
            location_id: l.location_id.as_uuid(),
            location: l.location,
            counted: l.counted,
            counted_at: l.counted_at,
            on_hand_at_count: l.on_hand_at_count,
            on_hand: l.on_hand,
            sold_since_count: l.sold_since_count,
        }
    }
}

/// A count of one location (and the shelves inside it).
#[derive(Debug, Serialize, ToSchema)]
pub struct StocktakeDto {
    pub id: Uuid,
    pub location_id: Uuid,
    /// The location's code when the stocktake was opened.
    pub location: String,
    pub note: Option<String>,
    /// `open`, `committed` or `cancelled`.
    pub state: String,
    /// Goes up with every count, the commit and the cancel; the `ETag`.
    pub version: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was committed or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    pub line_count: i64,
    /// A page of the count lines, by ISBN (a deleted book's lines last): at most `limit`
    /// (default 20); empty in lists (read one stocktake for them).
    pub lines: Vec<StocktakeLineDto>,
    /// The `cursor` of the next page of `lines` (also in the `Link: rel="next"` header), or
    /// null when this page is the last.
    pub next_cursor: Option<String>,
}

impl From<Stocktake> for StocktakeDto {
    fn from(s: Stocktake) -> Self {
        Self {
            id: s.id.as_uuid(),
            location_id: s.location_id.as_uuid(),
            location: s.location,
            note: s.note,
            state: s.state.as_str().to_owned(),
            version: s.version,
            created_by: s.created_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
            closed_at: s.closed_at,
            line_count: s.line_count,
            lines: s.lines.into_iter().map(StocktakeLineDto::from).collect(),
            next_cursor: s.lines_next_cursor,
        }
    }
}
