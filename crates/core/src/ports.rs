//! The ports: what the catalog needs from a store. Adapters (SQLite, PostgreSQL) implement it;
//! one contract test suite holds them to the same behaviour.

use crate::author::{Author, AuthorDraft};
use crate::book::{Book, BookDraft};
use crate::error::StoreError;
use crate::genre::{Genre, GenreDraft};
use crate::history::HistoryEntry;
use crate::ids::{AuthorId, BookId, GenreId, LocationId};
use crate::import::{ImportMode, ImportOutcome};
use crate::isbn::Isbn;
use crate::paging::{BookListQuery, Page, PageRequest};
use crate::policy::Principal;
use crate::reorder::{BookStream, ReorderStream};
use crate::search::{BookPage, BookSearch};
use crate::stock::{StockMovement, StockMovementDraft};
use async_trait::async_trait;

/// Who made a change and in answer to which request: written into the audit history, and
/// into the change's event (the actor, and the request's trace context).
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub principal: Principal,
    pub request_id: Option<String>,
    /// The W3C `traceparent` of the span that served the request
    /// (`00-<trace id>-<span id>-<flags>`), when there was one.
    pub traceparent: Option<String>,
}

impl WriteContext {
    pub fn actor(&self) -> &str {
        &self.principal.username
    }
}

/// Which version a conditional write expects (`If-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`: any current version.
    Any,
    /// `If-Match: "3"` or `If-Match: "3", "4"`: one of these versions.
    Versions(Vec<i64>),
}

impl Precondition {
    pub fn version(v: i64) -> Self {
        Self::Versions(vec![v])
    }

    pub fn accepts(&self, current: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&current),
        }
    }
}

/// A create request that carries an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRequest {
    /// Keys are per caller: two users may use the same key.
    pub scope: String,
    pub key: String,
    /// A digest of the request body: a retry must send the same body.
    pub fingerprint: String,
}

/// How long an `Idempotency-Key` is remembered; then the store forgets (and prunes) it.
pub const IDEMPOTENCY_KEY_TTL_SECS: i64 = 24 * 60 * 60;

/// What the first request with a key produced: the created value, as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub response: serde_json::Value,
}

/// The idempotency records every creating write stores with what it creates.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// The record of a key used within [`IDEMPOTENCY_KEY_TTL_SECS`]; an older one is gone.
    async fn find_idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
}

#[async_trait]
pub trait CatalogStore: IdempotencyStore {
    /// Reachable, and migrated to the schema this binary expects.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Creates the book, its history row, its outbox event and (if given) the idempotency
    /// record in one transaction. Authors and genres named rather than referenced by id are
    /// matched case-insensitively or created.
    async fn create_book(
        &self,
        draft: &BookDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Book, StoreError>;
    async fn get_book(&self, id: BookId) -> Result<Option<Book>, StoreError>;
    async fn get_book_by_isbn(&self, isbn: &Isbn) -> Result<Option<Book>, StoreError>;
    /// A page of books in the query's order, filtered and (with a text query) searched, with
    /// the facets it asks for counted over the whole result.
    async fn list_books(&self, query: &BookListQuery) -> Result<BookPage, StoreError>;
    /// Replaces every client-owned field, if the precondition holds. A quantity that differs
    /// from the stock on hand is recorded as an `adjustment` movement (reason `edited`); a
    /// draft without one leaves the stock alone. A replace that changes nothing writes
    /// nothing and returns the current version.
    async fn replace_book(
        &self,
        id: BookId,
        expected: &Precondition,
        draft: &BookDraft,
        ctx: &WriteContext,
    ) -> Result<Book, StoreError>;
    async fn delete_book(
        &self,
        id: BookId,
        expected: &Precondition,
        ctx: &WriteContext,
    ) -> Result<(), StoreError>;
    /// Writes a batch of imported books in one transaction, in order, each by its ISBN: a
    /// new ISBN is created as by [`CatalogStore::create_book`] (its quantity a first
    /// `receive`), an existing one replaced as by [`CatalogStore::replace_book`] without a
    /// precondition (a different quantity an `adjustment`, reason `import`), or rejected with
    /// [`ImportOutcome::Exists`] in [`ImportMode::CreateOnly`]. A replace that changes nothing
    /// writes nothing; one that lowers the quantity by more than the default location holds
    /// is rejected with [`ImportOutcome::InsufficientStock`] (the other rows are written).
    /// Each write has its history row and its event. `dry_run`: the same, rolled back, so the
    /// outcomes say what the batch would do.
    async fn import_books(
        &self,
        drafts: &[BookDraft],
        mode: ImportMode,
        dry_run: bool,
        ctx: &WriteContext,
    ) -> Result<Vec<ImportOutcome>, StoreError>;
    /// Newest first; readable after the book is deleted.
    async fn book_history(
        &self,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError>;

    /// Applies a stock movement: the new quantity, a history row and a `stock_adjusted` event
    /// in one transaction (with the idempotency record, if given). `InsufficientStock` when
    /// it would take the quantity below zero.
    async fn record_stock_movement(
        &self,
        id: BookId,
        expected: &Precondition,
        draft: &StockMovementDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<(Book, StockMovement), StoreError>;
    /// Newest first; readable after the book is deleted.
    async fn stock_movements(
        &self,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<StockMovement>, StoreError>;
    /// Books at or below their reorder point, fewest on hand first.
    async fn low_stock(&self, page: &PageRequest) -> Result<Page<Book>, StoreError>;
    /// Every book with something to reorder ([`crate::reorder::suggested_quantity`]), by
    /// publisher (books without one last), then title, streamed. Judged by the book's total
    /// stock, or with `location` by the stock at that location and every location inside it
    /// (each candidate then carries it); an unknown location has no stock.
    fn reorder_candidates(&self, location: Option<LocationId>) -> ReorderStream<'_>;
    /// Every book that the filters and text query of `search` let through, by id (creation
    /// order), streamed from one read: a consistent snapshot, in constant memory.
    fn export_books<'a>(&'a self, search: &'a BookSearch) -> BookStream<'a>;

    async fn create_author(
        &self,
        draft: &AuthorDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Author, StoreError>;
    async fn get_author(&self, id: AuthorId) -> Result<Option<Author>, StoreError>;
    /// Ordered by name; `name_query` matches any part of the name, case-insensitively.
    async fn list_authors(
        &self,
        name_query: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Author>, StoreError>;
    /// A new name gives every book naming the author a new version, a history row and an
    /// `updated` event, in the same transaction: the books read differently now.
    async fn update_author(
        &self,
        id: AuthorId,
        draft: &AuthorDraft,
        ctx: &WriteContext,
    ) -> Result<Author, StoreError>;
    async fn delete_author(&self, id: AuthorId) -> Result<(), StoreError>;

    async fn create_genre(
        &self,
        draft: &GenreDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Genre, StoreError>;
    async fn get_genre(&self, id: GenreId) -> Result<Option<Genre>, StoreError>;
    async fn list_genres(&self, page: &PageRequest) -> Result<Page<Genre>, StoreError>;
    /// A new name touches the genre's books as [`CatalogStore::update_author`] does.
    async fn update_genre(
        &self,
        id: GenreId,
        draft: &GenreDraft,
        ctx: &WriteContext,
    ) -> Result<Genre, StoreError>;
    async fn delete_genre(&self, id: GenreId) -> Result<(), StoreError>;
}
