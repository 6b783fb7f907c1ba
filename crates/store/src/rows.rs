//! Row types shared by both databases (every field decodes in SQLite and PostgreSQL) and their
//! conversion into domain values.

use crate::cursor::BookKey;
use crate::error::corrupt;
use crate::time::DbTime;
use bookstore_core::{
    Author, Book, BookDraft, BookFormat, BookSort, Contributor, Currency, Genre, GenreTag,
    HistoryAction, HistoryEntry, Isbn, Money, Quantity, ReorderCandidate, StoreError,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// Sentinels of the nullable sort keys; the generated columns `price_asc_key`,
/// `price_desc_key` and `year_key` of the migrations use the same values.
pub(crate) const PRICE_ASC_NULL: i64 = i64::MAX;
pub(crate) const PRICE_DESC_NULL: i64 = -1;
pub(crate) const YEAR_NULL: i32 = i32::MAX;

/// A book with its contributors and genres aggregated into JSON arrays (in position order).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BookRow {
    id: Uuid,
    isbn: String,
    title: String,
    sort_title: String,
    subtitle: Option<String>,
    description: Option<String>,
    publisher: Option<String>,
    published_year: Option<i32>,
    language: Option<String>,
    format: Option<String>,
    page_count: Option<i32>,
    price_minor: Option<i64>,
    price_currency: Option<String>,
    quantity: i64,
    reorder_point: i64,
    reorder_quantity: i64,
    location: Option<String>,
    version: i64,
    created_at: DbTime,
    updated_at: DbTime,
    authors: Json<Vec<Contributor>>,
    genres: Json<Vec<GenreTag>>,
}

/// A book row with its relevance score (NULL without a text query).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ScoredBookRow {
    #[sqlx(flatten)]
    pub(crate) book: BookRow,
    pub(crate) score: Option<f64>,
}

/// A book to reorder, with its stock at the location asked for (NULL without one).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReorderRow {
    #[sqlx(flatten)]
    book: BookRow,
    location_quantity: Option<i64>,
}

impl TryFrom<ReorderRow> for ReorderCandidate {
    type Error = StoreError;

    fn try_from(row: ReorderRow) -> Result<Self, StoreError> {
        Ok(Self {
            book: Book::try_from(row.book)?,
            location_quantity: row.location_quantity,
        })
    }
}

/// A book as read, with the sort key it was listed by.
pub(crate) struct ListedBook {
    pub(crate) book: Book,
    sort_title: String,
}

impl ListedBook {
    /// The position of this book in a list ordered by `sort` (the cursor's key).
    pub(crate) fn sort_key(&self, sort: BookSort) -> BookKey {
        let price = self.book.price.map(|p| p.amount_minor());
        match sort {
            BookSort::UpdatedDesc => BookKey::Time(DbTime(self.book.updated_at)),
            BookSort::Title => BookKey::Text(self.sort_title.clone()),
            BookSort::Price => BookKey::Int(price.unwrap_or(PRICE_ASC_NULL)),
            BookSort::PriceDesc => BookKey::Int(price.unwrap_or(PRICE_DESC_NULL)),
            BookSort::PublishedYear => {
                BookKey::Int32(self.book.published_year.unwrap_or(YEAR_NULL))
            }
            BookSort::Relevance => BookKey::Text(self.book.id.to_string()),
        }
    }
}

impl TryFrom<BookRow> for ListedBook {
    type Error = StoreError;

    fn try_from(row: BookRow) -> Result<Self, StoreError> {
        let isbn = Isbn::parse(&row.isbn).map_err(|e| corrupt("book isbn", e))?;
        let format = row
            .format
            .as_deref()
            .map(str::parse::<BookFormat>)
            .transpose()
            .map_err(|e| corrupt("book format", e))?;
        let price = match (row.price_minor, row.price_currency.as_deref()) {
            (None, None) => None,
            (Some(amount), Some(code)) => Some(
                Currency::parse(code)
                    .and_then(|currency| Money::new(amount, currency))
                    .map_err(|e| corrupt("book price", e))?,
            ),
            _ => {
                return Err(corrupt(
                    "book price",
                    "amount and currency must both be set",
                ))
            }
        };
        let quantity = Quantity::new(row.quantity).map_err(|e| corrupt("book quantity", e))?;
        let reorder_point =
            Quantity::new(row.reorder_point).map_err(|e| corrupt("book reorder point", e))?;
        let reorder_quantity =
            Quantity::new(row.reorder_quantity).map_err(|e| corrupt("book reorder quantity", e))?;
        Ok(Self {
            sort_title: row.sort_title,
            book: Book {
                id: row.id.into(),
                isbn,
                title: row.title,
                subtitle: row.subtitle,
                description: row.description,
                authors: row.authors.0,
                genres: row.genres.0,
                publisher: row.publisher,
                published_year: row.published_year,
                language: row.language,
                format,
                page_count: row.page_count,
                price,
                quantity,
                reorder_point,
                reorder_quantity,
                location: row.location,
                version: row.version,
                created_at: row.created_at.0,
                updated_at: row.updated_at.0,
            },
        })
    }
}

impl TryFrom<BookRow> for Book {
    type Error = StoreError;

    fn try_from(row: BookRow) -> Result<Self, StoreError> {
        ListedBook::try_from(row).map(|listed| listed.book)
    }
}

/// The book a draft describes once its contributors and genres are resolved.
pub(crate) struct BookParts<'a> {
    pub(crate) id: Uuid,
    pub(crate) draft: &'a BookDraft,
    pub(crate) authors: Vec<Contributor>,
    pub(crate) genres: Vec<GenreTag>,
    /// The draft's quantity, or what a replace without one keeps.
    pub(crate) quantity: Quantity,
    pub(crate) version: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl BookParts<'_> {
    pub(crate) fn into_book(self) -> Book {
        let d = self.draft;
        Book {
            id: self.id.into(),
            isbn: d.isbn().clone(),
            title: d.title().to_owned(),
            subtitle: d.subtitle().map(str::to_owned),
            description: d.description().map(str::to_owned),
            authors: self.authors,
            genres: self.genres,
            publisher: d.publisher().map(str::to_owned),
            published_year: d.published_year(),
            language: d.language().map(str::to_owned),
            format: d.format(),
            page_count: d.page_count(),
            price: d.price(),
            quantity: self.quantity,
            reorder_point: d.reorder_point(),
            reorder_quantity: d.reorder_quantity(),
            location: d.location().map(str::to_owned),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuthorRow {
    id: Uuid,
    name: String,
    pub(crate) name_key: String,
    bio: Option<String>,
    book_count: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl AuthorRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }
}

impl From<AuthorRow> for Author {
    fn from(row: AuthorRow) -> Self {
        Author {
            id: row.id.into(),
            name: row.name,
            bio: row.bio,
            book_count: row.book_count,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GenreRow {
    id: Uuid,
    name: String,
    pub(crate) name_key: String,
    parent_id: Option<Uuid>,
    book_count: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl GenreRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }
}

impl From<GenreRow> for Genre {
    fn from(row: GenreRow) -> Self {
        Genre {
            id: row.id.into(),
            name: row.name,
            parent_id: row.parent_id.map(Into::into),
            book_count: row.book_count,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HistoryRow {
    id: Uuid,
    book_id: Uuid,
    version: i64,
    action: String,
    actor: String,
    request_id: Option<String>,
    at: DbTime,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
}

impl TryFrom<HistoryRow> for HistoryEntry {
    type Error = StoreError;

    fn try_from(row: HistoryRow) -> Result<Self, StoreError> {
        let action = HistoryAction::parse(&row.action)
            .ok_or_else(|| corrupt("history action", &row.action))?;
        Ok(HistoryEntry {
            id: row.id,
            book_id: row.book_id.into(),
            version: row.version,
            action,
            actor: row.actor,
            request_id: row.request_id,
            at: row.at.0,
            before: row.before.map(|j| j.0),
            after: row.after.map(|j| j.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    pub(crate) fingerprint: String,
    pub(crate) response: Json<serde_json::Value>,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MigrationRow {
    pub(crate) version: i64,
    pub(crate) success: bool,
    pub(crate) checksum: Vec<u8>,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StockMovementRow {
    id: Uuid,
    book_id: Uuid,
    kind: String,
    quantity: i64,
    delta: i64,
    quantity_after: i64,
    reason: Option<String>,
    actor: String,
    request_id: Option<String>,
    at: DbTime,
    location_id: Uuid,
    location_code: String,
    location_quantity_after: i64,
    counterpart: Option<String>,
}

impl TryFrom<StockMovementRow> for bookstore_core::StockMovement {
    type Error = StoreError;

    fn try_from(row: StockMovementRow) -> Result<Self, Self::Error> {
        let kind = bookstore_core::StockMovementKind::parse(&row.kind)
            .ok_or_else(|| corrupt("stock movement kind", &row.kind))?;
        Ok(Self {
            id: row.id,
            book_id: bookstore_core::BookId::from_uuid(row.book_id),
            kind,
            quantity: row.quantity,
            delta: row.delta,
            quantity_after: row.quantity_after,
            reason: row.reason,
            actor: row.actor,
            request_id: row.request_id,
            at: row.at.0,
            location_id: bookstore_core::LocationId::from_uuid(row.location_id),
            location: row.location_code,
            location_quantity_after: row.location_quantity_after,
            counterpart: row.counterpart,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LocationRow {
    id: Uuid,
    code: String,
    name: String,
    kind: String,
    parent_id: Option<Uuid>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl LocationRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    pub(crate) fn code(&self) -> &str {
        &self.code
    }
}

impl TryFrom<LocationRow> for bookstore_core::Location {
    type Error = StoreError;

    fn try_from(row: LocationRow) -> Result<Self, Self::Error> {
        let kind = bookstore_core::LocationKind::parse(&row.kind)
            .ok_or_else(|| corrupt("location kind", &row.kind))?;
        Ok(Self {
            id: row.id.into(),
            code: row.code,
            name: row.name,
            kind,
            parent_id: row.parent_id.map(Into::into),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StockLevelRow {
    location_id: Uuid,
    code: String,
    name: String,
    kind: String,
    quantity: i64,
}

impl TryFrom<StockLevelRow> for bookstore_core::StockLevel {
    type Error = StoreError;

    fn try_from(row: StockLevelRow) -> Result<Self, Self::Error> {
        let kind = bookstore_core::LocationKind::parse(&row.kind)
            .ok_or_else(|| corrupt("location kind", &row.kind))?;
        Ok(Self {
            location_id: row.location_id.into(),
            code: row.code,
            name: row.name,
            kind,
            quantity: row.quantity,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StocktakeRow {
    id: Uuid,
    location_id: Uuid,
    location_code: String,
    note: Option<String>,
    state: String,
    version: i64,
    created_by: String,
    created_at: DbTime,
    updated_at: DbTime,
    closed_at: Option<DbTime>,
    line_count: i64,
}

impl StocktakeRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<StocktakeRow> for bookstore_core::Stocktake {
    type Error = StoreError;

    fn try_from(row: StocktakeRow) -> Result<Self, Self::Error> {
        let state = bookstore_core::StocktakeState::parse(&row.state)
            .ok_or_else(|| corrupt("stocktake state", &row.state))?;
        Ok(Self {
            id: row.id.into(),
            location_id: row.location_id.into(),
            location: row.location_code,
            note: row.note,
            state,
            version: row.version,
            created_by: row.created_by,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            closed_at: row.closed_at.map(|t| t.0),
            line_count: row.line_count,
            lines: Vec::new(),
            lines_next_cursor: None,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StocktakeLineRow {
    book_id: Uuid,
    isbn: Option<String>,
    title: Option<String>,
    location_id: Uuid,
    location_code: String,
    counted: i64,
    counted_at: DbTime,
    on_hand_at_count: i64,
    on_hand: i64,
    sold_since_count: i64,
}

impl StocktakeLineRow {
    /// The line's place in the order of a stocktake's lines: the book's ISBN (`~`, after
    /// every ISBN, once the book is deleted), the location's code, the book and location ids.
    pub(crate) fn position(&self) -> (String, String, Uuid, Uuid) {
        (
            self.isbn
                .clone()
                .unwrap_or_else(|| DELETED_BOOK_ISBN.to_owned()),
            self.location_code.clone(),
            self.book_id,
            self.location_id,
        )
    }
}

/// What a deleted book's lines sort by in place of an ISBN: after every ISBN (bytewise).
pub(crate) const DELETED_BOOK_ISBN: &str = "~";

impl From<StocktakeLineRow> for bookstore_core::StocktakeLine {
    fn from(row: StocktakeLineRow) -> Self {
        Self {
            book_id: row.book_id.into(),
            isbn: row.isbn,
            title: row.title,
            location_id: row.location_id.into(),
            location: row.location_code,
            counted: row.counted,
            counted_at: row.counted_at.0,
            on_hand_at_count: row.on_hand_at_count,
            on_hand: row.on_hand,
            sold_since_count: row.sold_since_count,
        }
    }
}

/// A line as a commit applies it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PendingLineRow {
    pub(crate) book_id: Uuid,
    pub(crate) location_id: Uuid,
    pub(crate) location_code: String,
    pub(crate) counted: i64,
    pub(crate) counted_at: DbTime,
    pub(crate) on_hand_at_count: i64,
}
