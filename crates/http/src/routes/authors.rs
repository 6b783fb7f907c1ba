//! `/authors`: contributors that books name.

use crate::caller::Caller;
use crate::dto::author::{AuthorDto, AuthorInput, AuthorListParams};
use crate::dto::page::PageDto;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::page_request;
use crate::state::AppState;
use crate::{idempotency, response};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::{AuthorDraft, AuthorId};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

fn draft(input: &AuthorInput) -> ApiResult<AuthorDraft> {
    Ok(AuthorDraft::parse(
        input.name.as_deref(),
        input.bio.as_deref(),
    )?)
}

/// List authors by name; `q` matches any part of the name.
#[utoipa::path(get, path = "/authors", tag = "authors", params(AuthorListParams),
    responses((status = 200, description = "A page of authors", body = PageDto<AuthorDto>),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = PROBLEM)))]
pub async fn list_authors(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<AuthorListParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let result = state.catalog.list_authors(&caller.0, q, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(AuthorDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Create an author.
#[utoipa::path(post, path = "/authors", tag = "authors", request_body = AuthorInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried create return the first response instead of creating twice")),
    responses((status = 201, description = "Created", body = AuthorDto),
        (status = 409, description = "An author with this name exists", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another body", body = Problem, content_type = PROBLEM)))]
pub async fn create_author(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<AuthorInput>,
) -> ApiResult<Response> {
    let idempotency = idempotency::request(&headers, &caller, "/authors", &body.raw)?;
    let created = state
        .catalog
        .create_author(
            &caller.write_context(),
            &draft(&body.value)?,
            idempotency.as_ref(),
        )
        .await?;
    let author = created.value;
    let mut response = response::json(StatusCode::CREATED, &AuthorDto::from(author.clone()));
    response::set_location(&mut response, &format!("/authors/{}", author.id));
    idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Get one author.
#[utoipa::path(get, path = "/authors/{id}", tag = "authors",
    params(("id" = uuid::Uuid, Path, description = "Author id")),
    responses((status = 200, description = "The author", body = AuthorDto),
        (status = 404, description = "No such author", body = Problem, content_type = PROBLEM)))]
pub async fn get_author(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let author = state
        .catalog
        .get_author(&caller.0, AuthorId::from_uuid(id))
        .await?;
    Ok(response::json(StatusCode::OK, &AuthorDto::from(author)))
}

/// Change an author with a JSON Merge Patch (`name`, `bio`).
#[utoipa::path(patch, path = "/authors/{id}", tag = "authors",
    params(("id" = uuid::Uuid, Path, description = "Author id")),
    request_body(content = AuthorInput, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The changed author", body = AuthorDto),
        (status = 404, description = "No such author", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Another author has this name", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM)))]
pub async fn patch_author(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = AuthorId::from_uuid(id);
    let current = state.catalog.get_author(&caller.0, id).await?;
    let base = AuthorInput {
        name: Some(current.name),
        bio: current.bio,
    };
    let input: AuthorInput = crate::patch::apply(&base, &body.value)?;
    let author = state
        .catalog
        .update_author(&caller.write_context(), id, &draft(&input)?)
        .await?;
    Ok(response::json(StatusCode::OK, &AuthorDto::from(author)))
}

/// Delete an author that no book names.
#[utoipa::path(delete, path = "/authors/{id}", tag = "authors",
    params(("id" = uuid::Uuid, Path, description = "Author id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such author", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Books still name this author", body = Problem, content_type = PROBLEM)))]
pub async fn delete_author(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    state
        .catalog
        .delete_author(&caller.write_context(), AuthorId::from_uuid(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
