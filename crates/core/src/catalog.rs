//! The catalog use cases: each checks the policy, then asks the store.

use crate::author::{Author, AuthorDraft};
use crate::book::{Book, BookDraft};
use crate::error::{CatalogError, StoreError};
use crate::genre::{Genre, GenreDraft};
use crate::history::HistoryEntry;
use crate::idempotency::{create_once, Created, KeyReused};
use crate::ids::{AuthorId, BookId, GenreId, LocationId};
use crate::isbn::Isbn;
use crate::paging::{BookListQuery, Page, PageRequest};
use crate::policy::{Action, Principal};
use crate::ports::{
    CatalogStore, IdempotencyRequest, IdempotencyStore, Precondition, WriteContext,
};
use crate::reorder::{BookStream, ReorderStream};
use crate::search::{BookPage, BookSearch};
use crate::stock::{StockMovement, StockMovementDraft};
use std::sync::Arc;

#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    /// The search read model, when one is configured (`BOOKSTORE_SEARCH=index`).
    search: Option<Arc<dyn crate::search::SearchReadModel>>,
}

fn authorize(who: &Principal, action: Action) -> Result<(), CatalogError> {
    if who.may(action) {
        Ok(())
    } else {
        Err(CatalogError::Forbidden(action))
    }
}

fn found<T>(value: Option<T>, entity: &'static str) -> Result<T, CatalogError> {
    value.ok_or(CatalogError::Store(StoreError::NotFound { entity }))
}

impl From<KeyReused> for CatalogError {
    fn from(_: KeyReused) -> Self {
        Self::IdempotencyKeyReused
    }
}

impl Catalog {
    pub fn new(store: Arc<dyn CatalogStore>) -> Self {
        Self {
            store,
            search: None,
        }
    }

    /// Searches go to `model` when it answers them (see [`Catalog::search_books`]).
    pub fn with_search_model(mut self, model: Arc<dyn crate::search::SearchReadModel>) -> Self {
        self.search = Some(model);
        self
    }

    pub fn search_model(&self) -> Option<&Arc<dyn crate::search::SearchReadModel>> {
        self.search.as_ref()
    }

    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    #[tracing::instrument(name = "catalog.create_book", skip_all)]
    pub async fn create_book(
        &self,
        ctx: &WriteContext,
        draft: &BookDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Book>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store.create_book(draft, ctx, idempotency)
        })
        .await
    }

    fn keys(&self) -> &dyn IdempotencyStore {
        &*self.store
    }

    /// Whether `who` may read the catalog: what a read served from a cache checks.
    pub fn authorize_read(&self, who: &Principal) -> Result<(), CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(())
    }

    #[tracing::instrument(name = "catalog.get_book", skip_all)]
    pub async fn get_book(&self, who: &Principal, id: BookId) -> Result<Book, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_book(id).await?, "book")
    }

    #[tracing::instrument(name = "catalog.get_book_by_isbn", skip_all)]
    pub async fn get_book_by_isbn(
        &self,
        who: &Principal,
        isbn: &Isbn,
    ) -> Result<Book, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_book_by_isbn(isbn).await?, "book")
    }

    #[tracing::instrument(name = "catalog.list_books", skip_all)]
    pub async fn list_books(
        &self,
        who: &Principal,
        query: &BookListQuery,
    ) -> Result<BookPage, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_books(query).await?)
    }

    /// [`Catalog::list_books`] through the search read model when there is one and it
    /// answers; the store otherwise. Also says who answered: `Err(reason)` for the store.
    #[tracing::instrument(name = "catalog.search_books", skip_all)]
    pub async fn search_books(
        &self,
        who: &Principal,
        query: &BookListQuery,
        token: Option<crate::consistency::ConsistencyToken>,
    ) -> Result<(BookPage, Option<crate::search::Declined>), CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        let declined = match &self.search {
            None => None,
            Some(model) => match model.list_books(query, token).await? {
                Ok(page) => return Ok((page, None)),
                Err(reason) => Some(reason),
            },
        };
        Ok((self.store.list_books(query).await?, declined))
    }

    #[tracing::instrument(name = "catalog.replace_book", skip_all)]
    pub async fn replace_book(
        &self,
        ctx: &WriteContext,
        id: BookId,
        expected: &Precondition,
        draft: &BookDraft,
    ) -> Result<Book, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.replace_book(id, expected, draft, ctx).await?)
    }

    /// Writes a batch of imported books (see [`CatalogStore::import_books`]).
    #[tracing::instrument(name = "catalog.import_books", skip_all)]
    pub async fn import_books(
        &self,
        ctx: &WriteContext,
        drafts: &[BookDraft],
        mode: crate::import::ImportMode,
        dry_run: bool,
    ) -> Result<Vec<crate::import::ImportOutcome>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.import_books(drafts, mode, dry_run, ctx).await?)
    }

    #[tracing::instrument(name = "catalog.delete_book", skip_all)]
    pub async fn delete_book(
        &self,
        ctx: &WriteContext,
        id: BookId,
        expected: &Precondition,
    ) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_book(id, expected, ctx).await?)
    }

    #[tracing::instrument(name = "catalog.book_history", skip_all)]
    pub async fn book_history(
        &self,
        who: &Principal,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        let history = self.store.book_history(id, page).await?;
        if history.items.is_empty() && page.cursor.is_none() {
            // No history at all means the book never existed.
            return Err(StoreError::NotFound { entity: "book" }.into());
        }
        Ok(history)
    }

    #[tracing::instrument(name = "catalog.record_stock_movement", skip_all)]
    pub async fn record_stock_movement(
        &self,
        ctx: &WriteContext,
        id: BookId,
        expected: &Precondition,
        draft: &StockMovementDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<(Book, StockMovement)>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store
                .record_stock_movement(id, expected, draft, ctx, idempotency)
        })
        .await
    }

    #[tracing::instrument(name = "catalog.stock_movements", skip_all)]
    pub async fn stock_movements(
        &self,
        who: &Principal,
        id: BookId,
        page: &PageRequest,
    ) -> Result<Page<StockMovement>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        let movements = self.store.stock_movements(id, page).await?;
        if movements.items.is_empty()
            && page.cursor.is_none()
            && self.store.get_book(id).await?.is_none()
        {
            return Err(StoreError::NotFound { entity: "book" }.into());
        }
        Ok(movements)
    }

    #[tracing::instrument(name = "catalog.low_stock", skip_all)]
    pub async fn low_stock(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Book>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.low_stock(page).await?)
    }

    /// The books to reorder, streamed (see [`CatalogStore::reorder_candidates`]); `location`
    /// as [`crate::Inventory::resolve_location`] found it.
    pub fn reorder_candidates(
        &self,
        who: &Principal,
        location: Option<LocationId>,
    ) -> Result<ReorderStream<'_>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.reorder_candidates(location))
    }

    /// The books `search` lets through, streamed (see [`CatalogStore::export_books`]).
    pub fn export_books<'a>(
        &'a self,
        who: &Principal,
        search: &'a BookSearch,
    ) -> Result<BookStream<'a>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.export_books(search))
    }

    #[tracing::instrument(name = "catalog.create_author", skip_all)]
    pub async fn create_author(
        &self,
        ctx: &WriteContext,
        draft: &AuthorDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Author>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store.create_author(draft, idempotency)
        })
        .await
    }

    #[tracing::instrument(name = "catalog.get_author", skip_all)]
    pub async fn get_author(&self, who: &Principal, id: AuthorId) -> Result<Author, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_author(id).await?, "author")
    }

    #[tracing::instrument(name = "catalog.list_authors", skip_all)]
    pub async fn list_authors(
        &self,
        who: &Principal,
        name_query: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Author>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_authors(name_query, page).await?)
    }

    #[tracing::instrument(name = "catalog.update_author", skip_all)]
    pub async fn update_author(
        &self,
        ctx: &WriteContext,
        id: AuthorId,
        draft: &AuthorDraft,
    ) -> Result<Author, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.update_author(id, draft, ctx).await?)
    }

    #[tracing::instrument(name = "catalog.delete_author", skip_all)]
    pub async fn delete_author(
        &self,
        ctx: &WriteContext,
        id: AuthorId,
    ) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_author(id).await?)
    }

    #[tracing::instrument(name = "catalog.create_genre", skip_all)]
    pub async fn create_genre(
        &self,
        ctx: &WriteContext,
        draft: &GenreDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Genre>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        create_once(self.keys(), idempotency, || {
            self.store.create_genre(draft, idempotency)
        })
        .await
    }

    #[tracing::instrument(name = "catalog.get_genre", skip_all)]
    pub async fn get_genre(&self, who: &Principal, id: GenreId) -> Result<Genre, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_genre(id).await?, "genre")
    }

    #[tracing::instrument(name = "catalog.list_genres", skip_all)]
    pub async fn list_genres(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Genre>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_genres(page).await?)
    }

    #[tracing::instrument(name = "catalog.update_genre", skip_all)]
    pub async fn update_genre(
        &self,
        ctx: &WriteContext,
        id: GenreId,
        draft: &GenreDraft,
    ) -> Result<Genre, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.update_genre(id, draft, ctx).await?)
    }

    #[tracing::instrument(name = "catalog.delete_genre", skip_all)]
    pub async fn delete_genre(&self, ctx: &WriteContext, id: GenreId) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_genre(id).await?)
    }
}

#[cfg(test)]
mod tests {
    //! The use cases against the in-memory fake store (`crate::fakes`): policy and
    //! idempotency rules.

    use super::*;
    use crate::book::RawBook;
    use crate::fakes::{book_from, FakeStore};
    use crate::policy::Role;
    use crate::ports::IdempotencyRecord;
    use futures_executor::block_on;

    fn ctx(role: Role) -> WriteContext {
        WriteContext {
            principal: Principal {
                subject: format!("{role:?}-id"),
                username: format!("{role:?}"),
                role,
            },
            request_id: None,
            traceparent: None,
        }
    }

    fn draft(title: &str) -> BookDraft {
        BookDraft::parse(&RawBook {
            isbn: Some("9780261103344".into()),
            title: Some(title.into()),
            ..RawBook::default()
        })
        .expect("valid")
    }

    fn key(fingerprint: &str) -> IdempotencyRequest {
        IdempotencyRequest {
            scope: "Admin-id".into(),
            key: "k1".into(),
            fingerprint: fingerprint.into(),
        }
    }

    fn catalog() -> (Catalog, Arc<FakeStore>) {
        let store = Arc::new(FakeStore::default());
        (Catalog::new(store.clone()), store)
    }

    #[test]
    fn staff_cannot_write_and_the_store_is_never_asked() {
        let (catalog, store) = catalog();
        let result = block_on(catalog.create_book(&ctx(Role::Staff), &draft("x"), None));
        assert!(matches!(
            result,
            Err(CatalogError::Forbidden(Action::WriteCatalog))
        ));
        assert_eq!(store.calls(), Vec::<&str>::new());
        let staff = ctx(Role::Staff).principal;
        assert!(block_on(catalog.list_books(&staff, &BookListQuery::default())).is_ok());
    }

    #[test]
    fn a_retry_with_the_same_key_and_body_replays_the_first_book() {
        let (catalog, store) = catalog();
        let admin = ctx(Role::Admin);
        let first =
            block_on(catalog.create_book(&admin, &draft("A"), Some(&key("f1")))).expect("ok");
        assert!(!first.replayed);
        let again =
            block_on(catalog.create_book(&admin, &draft("A"), Some(&key("f1")))).expect("ok");
        assert!(again.replayed);
        assert_eq!(again.value, first.value);
        assert_eq!(store.count("create_book"), 1);
    }

    #[test]
    fn the_same_key_with_another_body_is_refused() {
        let (catalog, _) = catalog();
        let admin = ctx(Role::Admin);
        block_on(catalog.create_book(&admin, &draft("A"), Some(&key("f1")))).expect("ok");
        let result = block_on(catalog.create_book(&admin, &draft("B"), Some(&key("f2"))));
        assert!(matches!(result, Err(CatalogError::IdempotencyKeyReused)));
    }

    #[test]
    fn losing_a_race_for_a_key_answers_like_the_winner() {
        let (catalog, store) = catalog();
        let winner = book_from(&draft("A"));
        *store.race.lock().unwrap() = Some((
            "Admin-id".into(),
            "k1".into(),
            IdempotencyRecord {
                fingerprint: "f1".into(),
                response: serde_json::to_value(&winner).unwrap(),
            },
        ));
        let result =
            block_on(catalog.create_book(&ctx(Role::Admin), &draft("A"), Some(&key("f1"))))
                .expect("ok");
        assert!(result.replayed);
        assert_eq!(result.value, winner);
    }

    #[test]
    fn history_of_a_book_that_never_existed_is_not_found() {
        let (catalog, _) = catalog();
        let result = block_on(catalog.book_history(
            &ctx(Role::Staff).principal,
            BookId::generate(),
            &PageRequest::default(),
        ));
        assert!(matches!(
            result,
            Err(CatalogError::Store(StoreError::NotFound { entity: "book" }))
        ));
    }
}
