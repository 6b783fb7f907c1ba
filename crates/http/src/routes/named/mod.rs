//! Named resources: authors and genres. Each is a name plus a little more that books refer
//! to; each is listed by name, created, read, changed with a merge patch and deleted when no
//! book uses it. One set of handlers serves every kind ([`Named`] says what differs), and
//! [`doc`] describes their operations from the same description, so the kinds cannot drift
//! apart in behaviour or in the OpenAPI document.

mod doc;
mod kinds;

pub use kinds::{Authors, Genres, Locations};

use crate::caller::Caller;
use crate::dto::page::PageDto;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::{AppState, Services};
use crate::{idempotency, response};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use bookstore_core::{CatalogError, Created, IdempotencyRequest, Page, Principal, WriteContext};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

/// What one kind of named resource is made of, and which catalog use cases serve it.
pub trait Named: Send + Sync + 'static {
    type Id: Copy + Send + Sync;
    type Record: Send;
    type Dto: Serialize + ToSchema + From<Self::Record>;
    /// The body of a create, and the document a merge patch applies to.
    type Input: Serialize + DeserializeOwned + ToSchema + Send;
    type Draft: Send + Sync;
    type ListParams: DeserializeOwned + IntoParams + Send;

    /// The collection's path segment and tag: `authors`.
    const COLLECTION: &'static str;
    /// One of them, in prose: `author`.
    const SINGULAR: &'static str;
    /// With its article: `an author`.
    const A_SINGULAR: &'static str;
    /// What the list does, for the document.
    const LIST_SUMMARY: &'static str;
    /// What a delete needs, for the document.
    const DELETE_SUMMARY: &'static str;
    /// Why a delete can be refused with 409.
    const IN_USE: &'static str;

    fn id(uuid: Uuid) -> Self::Id;
    fn record_id(record: &Self::Record) -> Uuid;
    /// Validates an input into what the store takes.
    fn draft(input: &Self::Input) -> ApiResult<Self::Draft>;
    /// The stored resource as an input document, for merge patches.
    fn as_input(record: Self::Record) -> Self::Input;

    fn list(
        state: &Services,
        who: &Principal,
        params: Self::ListParams,
    ) -> impl Future<Output = ApiResult<Page<Self::Record>>> + Send;
    fn create(
        state: &Services,
        ctx: &WriteContext,
        draft: &Self::Draft,
        idempotency: Option<&IdempotencyRequest>,
    ) -> impl Future<Output = Result<Created<Self::Record>, CatalogError>> + Send;
    fn get(
        state: &Services,
        who: &Principal,
        id: Self::Id,
    ) -> impl Future<Output = Result<Self::Record, CatalogError>> + Send;
    fn update(
        state: &Services,
        ctx: &WriteContext,
        id: Self::Id,
        draft: &Self::Draft,
    ) -> impl Future<Output = Result<Self::Record, CatalogError>> + Send;
    fn delete(
        state: &Services,
        ctx: &WriteContext,
        id: Self::Id,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;
}

/// The routes of one kind, with their OpenAPI operations.
pub fn routes<R: Named>() -> OpenApiRouter<AppState> {
    let collection = format!("/{}", R::COLLECTION);
    let item = format!("/{}/{{id}}", R::COLLECTION);
    let (list_doc, item_doc, schemas) = doc::operations::<R>(&collection, &item);
    let list: MethodRouter<AppState> = get(list::<R>).post(create::<R>);
    let one: MethodRouter<AppState> = get(get_one::<R>).patch(patch::<R>).delete(delete::<R>);
    OpenApiRouter::new()
        .routes((schemas.clone(), list_doc, list))
        .routes((schemas, item_doc, one))
}

async fn list<R: Named>(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<R::ListParams>,
) -> ApiResult<Response> {
    let result = R::list(&state, &caller.0, params).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(R::Dto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

async fn create<R: Named>(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<R::Input>,
) -> ApiResult<Response> {
    let collection = format!("/{}", R::COLLECTION);
    let idempotency = idempotency::request(&headers, &caller, &collection, &body.raw)?;
    let draft = R::draft(&body.value)?;
    let created = R::create(
        &state,
        &caller.write_context(),
        &draft,
        idempotency.as_ref(),
    )
    .await?;
    let location = format!("{collection}/{}", R::record_id(&created.value));
    let mut response = response::json(StatusCode::CREATED, &R::Dto::from(created.value));
    response::set_location(&mut response, &location);
    idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

async fn get_one<R: Named>(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let record = R::get(&state, &caller.0, R::id(id)).await?;
    Ok(response::json(StatusCode::OK, &R::Dto::from(record)))
}

async fn patch<R: Named>(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = R::id(id);
    let current = R::get(&state, &caller.0, id).await?;
    let input: R::Input = crate::patch::apply(&R::as_input(current), &body.value)?;
    let draft = R::draft(&input)?;
    let record = R::update(&state, &caller.write_context(), id, &draft).await?;
    Ok(response::json(StatusCode::OK, &R::Dto::from(record)))
}

async fn delete<R: Named>(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    R::delete(&state, &caller.write_context(), R::id(id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
