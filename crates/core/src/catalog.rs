//! The catalog use cases: each checks the policy, then asks the store.

use crate::author::{Author, AuthorDraft};
use crate::book::{Book, BookDraft};
use crate::error::{CatalogError, StoreError};
use crate::genre::{Genre, GenreDraft};
use crate::history::HistoryEntry;
use crate::ids::{AuthorId, BookId, GenreId};
use crate::isbn::Isbn;
use crate::paging::{BookListQuery, Page, PageRequest};
use crate::policy::{Action, Principal};
use crate::ports::{CatalogStore, IdempotencyRequest, Precondition, WriteContext};
use std::sync::Arc;

#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
}

/// The result of a create: `replayed` when an `Idempotency-Key` retry returned the first
/// request's book instead of creating another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    pub value: T,
    pub replayed: bool,
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

impl Catalog {
    pub fn new(store: Arc<dyn CatalogStore>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    pub async fn create_book(
        &self,
        ctx: &WriteContext,
        draft: &BookDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Book>, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        if let Some(request) = idempotency {
            if let Some(replay) = self.replay(request).await? {
                return Ok(replay);
            }
        }
        match self.store.create_book(draft, ctx, idempotency).await {
            Ok(book) => Ok(Created {
                value: book,
                replayed: false,
            }),
            // A concurrent request with the same key won the race: answer as it did.
            Err(StoreError::IdempotencyKeyTaken) => match idempotency {
                Some(request) => self
                    .replay(request)
                    .await?
                    .ok_or(CatalogError::Store(StoreError::IdempotencyKeyTaken)),
                None => Err(StoreError::IdempotencyKeyTaken.into()),
            },
            Err(other) => Err(other.into()),
        }
    }

    async fn replay(
        &self,
        request: &IdempotencyRequest,
    ) -> Result<Option<Created<Book>>, CatalogError> {
        let Some(record) = self
            .store
            .find_idempotency_record(&request.scope, &request.key)
            .await?
        else {
            return Ok(None);
        };
        if record.fingerprint != request.fingerprint {
            return Err(CatalogError::IdempotencyKeyReused);
        }
        Ok(Some(Created {
            value: record.book,
            replayed: true,
        }))
    }

    pub async fn get_book(&self, who: &Principal, id: BookId) -> Result<Book, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_book(id).await?, "book")
    }

    pub async fn get_book_by_isbn(
        &self,
        who: &Principal,
        isbn: &Isbn,
    ) -> Result<Book, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_book_by_isbn(isbn).await?, "book")
    }

    pub async fn list_books(
        &self,
        who: &Principal,
        query: &BookListQuery,
    ) -> Result<Page<Book>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_books(query).await?)
    }

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

    pub async fn delete_book(
        &self,
        ctx: &WriteContext,
        id: BookId,
        expected: &Precondition,
    ) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_book(id, expected, ctx).await?)
    }

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

    pub async fn create_author(
        &self,
        ctx: &WriteContext,
        draft: &AuthorDraft,
    ) -> Result<Author, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.create_author(draft).await?)
    }

    pub async fn get_author(&self, who: &Principal, id: AuthorId) -> Result<Author, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_author(id).await?, "author")
    }

    pub async fn list_authors(
        &self,
        who: &Principal,
        name_query: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Author>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_authors(name_query, page).await?)
    }

    pub async fn update_author(
        &self,
        ctx: &WriteContext,
        id: AuthorId,
        draft: &AuthorDraft,
    ) -> Result<Author, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.update_author(id, draft).await?)
    }

    pub async fn delete_author(
        &self,
        ctx: &WriteContext,
        id: AuthorId,
    ) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_author(id).await?)
    }

    pub async fn create_genre(
        &self,
        ctx: &WriteContext,
        draft: &GenreDraft,
    ) -> Result<Genre, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.create_genre(draft).await?)
    }

    pub async fn get_genre(&self, who: &Principal, id: GenreId) -> Result<Genre, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        found(self.store.get_genre(id).await?, "genre")
    }

    pub async fn list_genres(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Genre>, CatalogError> {
        authorize(who, Action::ReadCatalog)?;
        Ok(self.store.list_genres(page).await?)
    }

    pub async fn update_genre(
        &self,
        ctx: &WriteContext,
        id: GenreId,
        draft: &GenreDraft,
    ) -> Result<Genre, CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.update_genre(id, draft).await?)
    }

    pub async fn delete_genre(&self, ctx: &WriteContext, id: GenreId) -> Result<(), CatalogError> {
        authorize(&ctx.principal, Action::WriteCatalog)?;
        Ok(self.store.delete_genre(id).await?)
    }
}
