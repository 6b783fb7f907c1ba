//! The kinds of named resource: what makes an author an author and a genre a genre.

use super::Named;
use crate::dto::author::{AuthorDto, AuthorInput, AuthorListParams};
use crate::dto::genre::{GenreDto, GenreInput};
use crate::dto::page::PageParams;
use crate::error::ApiResult;
use crate::routes::page_request;
use bookstore_core::book::MAX_NAME;
use bookstore_core::{
    Author, AuthorDraft, AuthorId, Catalog, CatalogError, Created, Genre, GenreDraft, GenreId,
    IdempotencyRequest, Page, Principal, ValidationErrors, WriteContext,
};
use uuid::Uuid;

/// `/authors`: contributors that books name.
pub struct Authors;

impl Named for Authors {
    type Id = AuthorId;
    type Record = Author;
    type Dto = AuthorDto;
    type Input = AuthorInput;
    type Draft = AuthorDraft;
    type ListParams = AuthorListParams;

    const COLLECTION: &'static str = "authors";
    const SINGULAR: &'static str = "author";
    const A_SINGULAR: &'static str = "an author";
    const LIST_SUMMARY: &'static str = "List authors by name; `q` matches any part of the name.";
    const DELETE_SUMMARY: &'static str = "Delete an author that no book names.";
    const IN_USE: &'static str = "Books still name this author";

    fn id(uuid: Uuid) -> AuthorId {
        AuthorId::from_uuid(uuid)
    }

    fn record_id(record: &Author) -> Uuid {
        record.id.as_uuid()
    }

    fn draft(input: &AuthorInput) -> ApiResult<AuthorDraft> {
        Ok(AuthorDraft::parse(
            input.name.as_deref(),
            input.bio.as_deref(),
        )?)
    }

    fn as_input(record: Author) -> AuthorInput {
        AuthorInput {
            name: Some(record.name),
            bio: record.bio,
        }
    }

    async fn list(
        catalog: &Catalog,
        who: &Principal,
        params: AuthorListParams,
    ) -> ApiResult<Page<Author>> {
        let page = page_request(params.limit, params.cursor)?;
        let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        // No name is longer, and an unbounded pattern is work for the store and nothing else.
        if q.is_some_and(|q| q.chars().count() > MAX_NAME) {
            return Err(ValidationErrors::single(
                "q",
                format!("must be at most {MAX_NAME} characters, as names are"),
            )
            .into());
        }
        Ok(catalog.list_authors(who, q, &page).await?)
    }

    async fn create(
        catalog: &Catalog,
        ctx: &WriteContext,
        draft: &AuthorDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Author>, CatalogError> {
        catalog.create_author(ctx, draft, idempotency).await
    }

    async fn get(catalog: &Catalog, who: &Principal, id: AuthorId) -> Result<Author, CatalogError> {
        catalog.get_author(who, id).await
    }

    async fn update(
        catalog: &Catalog,
        ctx: &WriteContext,
        id: AuthorId,
        draft: &AuthorDraft,
    ) -> Result<Author, CatalogError> {
        catalog.update_author(ctx, id, draft).await
    }

    async fn delete(
        catalog: &Catalog,
        ctx: &WriteContext,
        id: AuthorId,
    ) -> Result<(), CatalogError> {
        catalog.delete_author(ctx, id).await
    }
}

/// `/genres`: the genres books are filed under, optionally nested.
pub struct Genres;

impl Named for Genres {
    type Id = GenreId;
    type Record = Genre;
    type Dto = GenreDto;
    type Input = GenreInput;
    type Draft = GenreDraft;
    type ListParams = PageParams;

    const COLLECTION: &'static str = "genres";
    const SINGULAR: &'static str = "genre";
    const A_SINGULAR: &'static str = "a genre";
    const LIST_SUMMARY: &'static str = "List genres by name.";
    const DELETE_SUMMARY: &'static str =
        "Delete a genre that no book uses and that has no sub-genres.";
    const IN_USE: &'static str = "Books or sub-genres still use this genre";

    fn id(uuid: Uuid) -> GenreId {
        GenreId::from_uuid(uuid)
    }

    fn record_id(record: &Genre) -> Uuid {
        record.id.as_uuid()
    }

    fn draft(input: &GenreInput) -> ApiResult<GenreDraft> {
        Ok(GenreDraft::parse(
            input.name.as_deref(),
            input.parent_id.as_deref(),
        )?)
    }

    fn as_input(record: Genre) -> GenreInput {
        GenreInput {
            name: Some(record.name),
            parent_id: record.parent_id.map(|p| p.to_string()),
        }
    }

    async fn list(
        catalog: &Catalog,
        who: &Principal,
        params: PageParams,
    ) -> ApiResult<Page<Genre>> {
        let page = page_request(params.limit, params.cursor)?;
        Ok(catalog.list_genres(who, &page).await?)
    }

    async fn create(
        catalog: &Catalog,
        ctx: &WriteContext,
        draft: &GenreDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Genre>, CatalogError> {
        catalog.create_genre(ctx, draft, idempotency).await
    }

    async fn get(catalog: &Catalog, who: &Principal, id: GenreId) -> Result<Genre, CatalogError> {
        catalog.get_genre(who, id).await
    }

    async fn update(
        catalog: &Catalog,
        ctx: &WriteContext,
        id: GenreId,
        draft: &GenreDraft,
    ) -> Result<Genre, CatalogError> {
        catalog.update_genre(ctx, id, draft).await
    }

    async fn delete(
        catalog: &Catalog,
        ctx: &WriteContext,
        id: GenreId,
    ) -> Result<(), CatalogError> {
        catalog.delete_genre(ctx, id).await
    }
}
