//! `/genres`: the genres books are filed under, optionally nested.

use crate::caller::Caller;
use crate::dto::genre::{GenreDto, GenreInput};
use crate::dto::page::PageDto;
use crate::dto::page::PageParams;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::page_request;
use crate::state::AppState;
use crate::{idempotency, response};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::{GenreDraft, GenreId};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

fn draft(input: &GenreInput) -> ApiResult<GenreDraft> {
    Ok(GenreDraft::parse(
        input.name.as_deref(),
        input.parent_id.as_deref(),
    )?)
}

/// List genres by name.
#[utoipa::path(get, path = "/genres", tag = "genres", params(PageParams),
    responses((status = 200, description = "A page of genres", body = PageDto<GenreDto>),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = PROBLEM)))]
pub async fn list_genres(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state.catalog.list_genres(&caller.0, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(GenreDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Create a genre.
#[utoipa::path(post, path = "/genres", tag = "genres", request_body = GenreInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried create return the first response instead of creating twice")),
    responses((status = 201, description = "Created", body = GenreDto),
        (status = 409, description = "A genre with this name exists", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another body", body = Problem, content_type = PROBLEM)))]
pub async fn create_genre(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<GenreInput>,
) -> ApiResult<Response> {
    let idempotency = idempotency::request(&headers, &caller, "/genres", &body.raw)?;
    let created = state
        .catalog
        .create_genre(
            &caller.write_context(),
            &draft(&body.value)?,
            idempotency.as_ref(),
        )
        .await?;
    let genre = created.value;
    let mut response = response::json(StatusCode::CREATED, &GenreDto::from(genre.clone()));
    response::set_location(&mut response, &format!("/genres/{}", genre.id));
    idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Get one genre.
#[utoipa::path(get, path = "/genres/{id}", tag = "genres",
    params(("id" = uuid::Uuid, Path, description = "Genre id")),
    responses((status = 200, description = "The genre", body = GenreDto),
        (status = 404, description = "No such genre", body = Problem, content_type = PROBLEM)))]
pub async fn get_genre(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let genre = state
        .catalog
        .get_genre(&caller.0, GenreId::from_uuid(id))
        .await?;
    Ok(response::json(StatusCode::OK, &GenreDto::from(genre)))
}

/// Change a genre with a JSON Merge Patch (`name`, `parent_id`).
#[utoipa::path(patch, path = "/genres/{id}", tag = "genres",
    params(("id" = uuid::Uuid, Path, description = "Genre id")),
    request_body(content = GenreInput, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The changed genre", body = GenreDto),
        (status = 404, description = "No such genre", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Another genre has this name", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM)))]
pub async fn patch_genre(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = GenreId::from_uuid(id);
    let current = state.catalog.get_genre(&caller.0, id).await?;
    let base = GenreInput {
        name: Some(current.name),
        parent_id: current.parent_id.map(|p| p.to_string()),
    };
    let input: GenreInput = crate::patch::apply(&base, &body.value)?;
    let genre = state
        .catalog
        .update_genre(&caller.write_context(), id, &draft(&input)?)
        .await?;
    Ok(response::json(StatusCode::OK, &GenreDto::from(genre)))
}

/// Delete a genre that no book uses and that has no sub-genres.
#[utoipa::path(delete, path = "/genres/{id}", tag = "genres",
    params(("id" = uuid::Uuid, Path, description = "Genre id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such genre", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Books or sub-genres still use this genre", body = Problem, content_type = PROBLEM)))]
pub async fn delete_genre(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    state
        .catalog
        .delete_genre(&caller.write_context(), GenreId::from_uuid(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
