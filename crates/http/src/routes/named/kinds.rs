//! The kinds of named resource: what makes an author an author and a genre a genre.

use super::Named;
use crate::dto::author::{AuthorDto, AuthorInput, AuthorListParams};
use crate::dto::genre::{GenreDto, GenreInput};
use crate::dto::location::{LocationDto, LocationInput};
use crate::dto::page::PageParams;
use crate::error::ApiResult;
use crate::routes::page_request;
use crate::state::Services;
use bookstore_core::book::MAX_NAME;
use bookstore_core::{
    Author, AuthorDraft, AuthorId, CatalogError, Created, Genre, GenreDraft, GenreId,
    IdempotencyRequest, Location, LocationDraft, LocationId, Page, Principal, ValidationErrors,
    WriteContext,
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
        state: &Services,
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
        Ok(state.catalog.list_authors(who, q, &page).await?)
    }

    async fn create(
        state: &Services,
        ctx: &WriteContext,
        draft: &AuthorDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Author>, CatalogError> {
        state.catalog.create_author(ctx, draft, idempotency).await
    }

    async fn get(state: &Services, who: &Principal, id: AuthorId) -> Result<Author, CatalogError> {
        state.catalog.get_author(who, id).await
    }

    async fn update(
        state: &Services,
        ctx: &WriteContext,
        id: AuthorId,
        draft: &AuthorDraft,
    ) -> Result<Author, CatalogError> {
        state.catalog.update_author(ctx, id, draft).await
    }

    async fn delete(
        state: &Services,
        ctx: &WriteContext,
        id: AuthorId,
    ) -> Result<(), CatalogError> {
        state.catalog.delete_author(ctx, id).await
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

    async fn list(state: &Services, who: &Principal, params: PageParams) -> ApiResult<Page<Genre>> {
        let page = page_request(params.limit, params.cursor)?;
        Ok(state.catalog.list_genres(who, &page).await?)
    }

    async fn create(
        state: &Services,
        ctx: &WriteContext,
        draft: &GenreDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Genre>, CatalogError> {
        state.catalog.create_genre(ctx, draft, idempotency).await
    }

    async fn get(state: &Services, who: &Principal, id: GenreId) -> Result<Genre, CatalogError> {
        state.catalog.get_genre(who, id).await
    }

    async fn update(
        state: &Services,
        ctx: &WriteContext,
        id: GenreId,
        draft: &GenreDraft,
    ) -> Result<Genre, CatalogError> {
        state.catalog.update_genre(ctx, id, draft).await
    }

    async fn delete(state: &Services, ctx: &WriteContext, id: GenreId) -> Result<(), CatalogError> {
        state.catalog.delete_genre(ctx, id).await
    }
}

/// `/locations`: where stock is kept (stores, warehouses, shelves inside them).
pub struct Locations;

impl Named for Locations {
    type Id = LocationId;
    type Record = Location;
    type Dto = LocationDto;
    type Input = LocationInput;
    type Draft = LocationDraft;
    type ListParams = PageParams;

    const COLLECTION: &'static str = "locations";
    const SINGULAR: &'static str = "location";
    const A_SINGULAR: &'static str = "a location";
    const LIST_SUMMARY: &'static str = "List stock locations by code. The default location \
        (a store with code `main`, unless renamed) exists from the start.";
    const DELETE_SUMMARY: &'static str = "Delete a location that holds no stock and has no \
        locations inside it; the default location cannot be deleted.";
    const IN_USE: &'static str = "The default location, or one that holds stock or has \
        locations inside it";

    fn id(uuid: Uuid) -> LocationId {
        LocationId::from_uuid(uuid)
    }

    fn record_id(record: &Location) -> Uuid {
        record.id.as_uuid()
    }

    fn draft(input: &LocationInput) -> ApiResult<LocationDraft> {
        Ok(LocationDraft::parse(
            input.code.as_deref(),
            input.name.as_deref(),
            input.kind.as_deref(),
            input.parent_id.as_deref(),
        )?)
    }

    fn as_input(record: Location) -> LocationInput {
        LocationInput {
            code: Some(record.code),
            name: Some(record.name),
            kind: Some(record.kind.as_str().to_owned()),
            parent_id: record.parent_id.map(|p| p.to_string()),
        }
    }

    async fn list(
        state: &Services,
        who: &Principal,
        params: PageParams,
    ) -> ApiResult<Page<Location>> {
        let page = page_request(params.limit, params.cursor)?;
        Ok(state.inventory.list_locations(who, &page).await?)
    }

    async fn create(
        state: &Services,
        ctx: &WriteContext,
        draft: &LocationDraft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Created<Location>, CatalogError> {
        state
            .inventory
            .create_location(ctx, draft, idempotency)
            .await
    }

    async fn get(
        state: &Services,
        who: &Principal,
        id: LocationId,
    ) -> Result<Location, CatalogError> {
        state.inventory.get_location(who, id).await
    }

    async fn update(
        state: &Services,
        ctx: &WriteContext,
        id: LocationId,
        draft: &LocationDraft,
    ) -> Result<Location, CatalogError> {
        state.inventory.update_location(ctx, id, draft).await
    }

    async fn delete(
        state: &Services,
        ctx: &WriteContext,
        id: LocationId,
    ) -> Result<(), CatalogError> {
        state.inventory.delete_location(ctx, id).await
    }
}
