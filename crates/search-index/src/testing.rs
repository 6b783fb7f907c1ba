//! For contract tests: a catalog port whose searches go through the index, fed by the real
//! event pipeline (the outbox published to the store's event log, the log applied to the
//! index), and whose every other operation is the store's.

use crate::follow::change_of;
use crate::{IndexError, SearchIndex};
use async_trait::async_trait;
use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::outbox::{EventLog, Outbox, OUTBOX_PARTITIONS};
use bookstore_core::ports::{IdempotencyRecord, IdempotencyRequest, IdempotencyStore};
use bookstore_core::{
    Author, AuthorDraft, AuthorId, Book, BookDraft, BookId, BookListQuery, BookPage, BookSearch,
    BookStream, CatalogStore, Genre, GenreDraft, GenreId, HistoryEntry, Isbn, LocationId, Page,
    PageRequest, Precondition, ReorderStream, StockMovement, StockMovementDraft, StoreError,
    WriteContext,
};
use std::sync::Arc;

pub struct IndexedCatalog {
    pub store: Arc<dyn CatalogStore>,
    pub outbox: Arc<dyn Outbox>,
    pub log: Arc<dyn EventLog>,
    pub index: SearchIndex,
    /// Searches the index does not serve (a title sort…) go to the store; counted here.
    pub declined: std::sync::atomic::AtomicUsize,
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl IndexedCatalog {
    pub fn new(
        store: Arc<dyn CatalogStore>,
        outbox: Arc<dyn Outbox>,
        log: Arc<dyn EventLog>,
    ) -> Result<Self, IndexError> {
        Ok(Self {
            store,
            outbox,
            log,
            index: SearchIndex::in_memory()?,
            declined: Default::default(),
        })
    }

    /// Publishes every pending event, then applies the log to the index.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let mut leases = self.outbox.leases().await?;
        let all: Vec<u16> = (0..OUTBOX_PARTITIONS).collect();
        leases.try_lease(&all).await?;
        loop {
            let pending = leases.pending(500).await?;
            if pending.is_empty() {
                break;
            }
            let ids: Vec<uuid::Uuid> = pending.iter().map(|e| e.id).collect();
            leases.mark_published(&ids).await?;
        }
        drop(leases);
        loop {
            let events = self.log.read_after(self.index.position(), 500, &[]).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                return Ok(());
            };
            let changes: Vec<_> = events.iter().filter_map(change_of).collect();
            self.index.apply(&changes, last).map_err(backend)?;
        }
    }
}

#[async_trait]
impl IdempotencyStore for IndexedCatalog {
    async fn find_idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store.find_idempotency_record(scope, key).await
    }
}

#[async_trait]
impl CatalogStore for IndexedCatalog {
    async fn ready(&self) -> Result<(), StoreError> {
        self.store.ready().await
    }
    async fn create_book(
        &self,
        draft: &BookDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Book, StoreError> {
        self.store.create_book(draft, ctx, idempotency).await
    }
    async fn get_book(&self, id: BookId) -> Result<Option<Book>, StoreError> {
        self.store.get_book(id).await
    }
    async fn get_book_by_isbn(&self, isbn: &Isbn) -> Result<Option<Book>, StoreError> {
        self.store.get_book_by_isbn(isbn).await
    }
    async fn list_books(&self, query: &BookListQuery) -> Result<BookPage, StoreError> {
        self.sync().await?;
        match self.index.search(query) {
            Ok(Some(page)) => Ok(page),
            Ok(None) => {
                self.declined
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.store.list_books(query).await
            }
            Err(IndexError::InvalidCursor) => Err(StoreError::InvalidCursor),
            Err(e) => Err(backend(e)),
        }
    }
    async fn replace_book(
        &self,
        id: BookId,
        expected: &Precondition,
        draft: &BookDraft,
        ctx: &WriteContext,
    ) -> Result<Book, StoreError> {
        self.store.replace_book(id, expected, draft, ctx).await
    }
    async fn delete_book(
        &self,
        id: BookId,
        expected: &Precondition,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        self.store.delete_book(id, expected, ctx).await
    }
    async fn import_books(
        &self,
        drafts: &[BookDraft],
        mode: ImportMode,
        dry_run: bool,
        ctx: &WriteContext,
    ) -> Result<Vec<ImportOutcome>, StoreError> {
        self.store.import_books(drafts, mode, dry_run, ctx).await
    }
    async fn book_history(
        &self,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.store.book_history(id, page).await
    }
    async fn record_stock_movement(
        &self,
        id: BookId,
        expected: &Precondition,
        draft: &StockMovementDraft,
        ctx: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<(Book, StockMovement), StoreError> {
        self.store
            .record_stock_movement(id, expected, draft, ctx, idempotency)
            .await
    }
    async fn stock_movements(
        &self,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<StockMovement>, StoreError> {
        self.store.stock_movements(id, page).await
    }
    async fn low_stock(&self, page: &PageRequest) -> Result<Page<Book>, StoreError> {
        self.store.low_stock(page).await
    }
    fn reorder_candidates(&self, location: Option<LocationId>) -> ReorderStream<'_> {
        self.store.reorder_candidates(location)
    }
    fn export_books<'a>(&'a self, search: &'a BookSearch) -> BookStream<'a> {
        self.store.export_books(search)
    }
    async fn create_author(
        &self,
        draft: &AuthorDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Author, StoreError> {
        self.store.create_author(draft, idempotency).await
    }
    async fn get_author(&self, id: AuthorId) -> Result<Option<Author>, StoreError> {
        self.store.get_author(id).await
    }
    async fn list_authors(
        &self,
        name_query: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Author>, StoreError> {
        self.store.list_authors(name_query, page).await
    }
    async fn update_author(
        &self,
        id: AuthorId,
        draft: &AuthorDraft,
        ctx: &WriteContext,
    ) -> Result<Author, StoreError> {
        self.store.update_author(id, draft, ctx).await
    }
    async fn delete_author(&self, id: AuthorId) -> Result<(), StoreError> {
        self.store.delete_author(id).await
    }
    async fn create_genre(
        &self,
        draft: &GenreDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Genre, StoreError> {
        self.store.create_genre(draft, idempotency).await
    }
    async fn get_genre(&self, id: GenreId) -> Result<Option<Genre>, StoreError> {
        self.store.get_genre(id).await
    }
    async fn list_genres(&self, page: &PageRequest) -> Result<Page<Genre>, StoreError> {
        self.store.list_genres(page).await
    }
    async fn update_genre(
        &self,
        id: GenreId,
        draft: &GenreDraft,
        ctx: &WriteContext,
    ) -> Result<Genre, StoreError> {
        self.store.update_genre(id, draft, ctx).await
    }
    async fn delete_genre(&self, id: GenreId) -> Result<(), StoreError> {
        self.store.delete_genre(id).await
    }
}
