//! Stocktakes: open a count of one location, count books into it (set, or add per scan),
//! review the differences, then commit them as `count` movements, or cancel.

use crate::caller::Caller;
use crate::dto::page::{PageDto, PageParams};
use crate::dto::stocktake::{CountInput, StocktakeDto, StocktakeInput, StocktakeLineDto};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::page_request;
use crate::state::AppState;
use crate::{etag, idempotency, response};
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bookstore_core::{
    CatalogError, CountDraft, PageRequest, StocktakeDraft, StocktakeId, StoreError,
};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

fn stocktake_response(status: StatusCode, dto: StocktakeDto) -> Response {
    let version = dto.version;
    let mut response = response::json(status, &dto);
    response::set_etag(&mut response, version);
    response
}

/// A stocktake with a page of its lines, and the `Link` to the next page (`uri` with the next
/// cursor), if there is one.
fn stocktake_page(uri: &Uri, dto: StocktakeDto) -> Response {
    let version = dto.version;
    let mut response = response::list(uri, &dto, dto.next_cursor.as_deref());
    response::set_etag(&mut response, version);
    response
}

/// Open a stocktake of one location (the default one unless named) and the shelves inside it.
#[utoipa::path(post, path = "/stocktakes", tag = "stocktakes",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried request return the first response instead of opening another")),
    request_body = StocktakeInput,
    responses(
        (status = 201, description = "Opened; `Location` names it, `ETag` is its version", body = StocktakeDto),
        (status = 422, description = "Invalid fields or an unknown location, or Idempotency-Key reused with another request", body = Problem, content_type = PROBLEM)))]
pub async fn open_stocktake(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<StocktakeInput>,
) -> ApiResult<Response> {
    let idempotency = idempotency::request(&headers, &caller, "/stocktakes", &body.raw)?;
    let input = body.value;
    let draft = StocktakeDraft::parse(input.location.as_deref(), input.note.as_deref())?;
    let created = state
        .inventory
        .open_stocktake(&caller.write_context(), &draft, idempotency.as_ref())
        .await?;
    let path = format!("/stocktakes/{}", created.value.id);
    let mut response = stocktake_response(StatusCode::CREATED, created.value.into());
    response::set_location(&mut response, &path);
    idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Stocktakes, newest first (without their lines).
#[utoipa::path(get, path = "/stocktakes", tag = "stocktakes", params(PageParams),
    responses((status = 200, description = "A page of stocktakes", body = PageDto<StocktakeDto>)))]
pub async fn list_stocktakes(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state.inventory.list_stocktakes(&caller.0, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(StocktakeDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// One stocktake with a page of its count lines (by ISBN), each with the stock on hand and the
/// difference: `limit` lines (default 20), the next page by `cursor`.
#[utoipa::path(get, path = "/stocktakes/{id}", tag = "stocktakes",
    params(("id" = uuid::Uuid, Path, description = "Stocktake id"), PageParams),
    responses(
        (status = 200, description = "The stocktake with a page of its lines; `ETag` is its version, `Link: rel=\"next\"` the next page of lines", body = StocktakeDto),
        (status = 404, description = "No such stocktake", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid `limit` or `cursor`", body = Problem, content_type = PROBLEM)))]
pub async fn get_stocktake(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let stocktake = state
        .inventory
        .get_stocktake(&caller.0, StocktakeId::from_uuid(id), &page)
        .await?;
    Ok(stocktake_page(&uri, stocktake.into()))
}

/// Count a book: `counted` sets the count, `add` adds to it (a scanner sends `add: 1` per
/// scan). The stock at the location now is remembered with the count.
#[utoipa::path(post, path = "/stocktakes/{id}/counts", tag = "stocktakes",
    params(("id" = uuid::Uuid, Path, description = "Stocktake id")),
    request_body = CountInput,
    responses(
        (status = 200, description = "The line as counted now; `ETag` is the stocktake's new version", body = StocktakeLineDto),
        (status = 404, description = "No such stocktake", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The stocktake is committed or cancelled", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid count, an unknown book, or a location outside the stocktake's", body = Problem, content_type = PROBLEM)))]
pub async fn record_count(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ApiJson<CountInput>,
) -> ApiResult<Response> {
    let input = body.value;
    let draft = CountDraft::parse(
        input.isbn.as_deref(),
        input.book_id.as_deref(),
        input.counted,
        input.add,
        input.location.as_deref(),
    )?;
    let (stocktake, line) = state
        .inventory
        .record_count(&caller.write_context(), StocktakeId::from_uuid(id), &draft)
        .await?;
    let mut response = response::json(StatusCode::OK, &StocktakeLineDto::from(line));
    response::set_etag(&mut response, stocktake.version);
    Ok(response)
}

/// Commit: every line becomes a `count` movement at its location, setting the stock to what
/// was counted plus what moved there since the count, all in one transaction.
#[utoipa::path(post, path = "/stocktakes/{id}/commit", tag = "stocktakes",
    params(("id" = uuid::Uuid, Path, description = "Stocktake id"),
        ("If-Match" = String, Header, description = "The stocktake's version, as reviewed")),
    responses(
        (status = 200, description = "Committed, with the first page of its lines as applied (`Link: rel=\"next\"` names the next page of `GET /stocktakes/{id}`)", body = StocktakeDto),
        (status = 404, description = "No such stocktake", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The stocktake is committed or cancelled", body = Problem, content_type = PROBLEM),
        (status = 412, description = "The stocktake has changed since that ETag (a count came in)", body = Problem, content_type = PROBLEM),
        (status = 428, description = "`If-Match` is missing", body = Problem, content_type = PROBLEM)))]
pub async fn commit_stocktake(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let expected = etag::require_if_match(&headers)?;
    let id = StocktakeId::from_uuid(id);
    match state
        .inventory
        .commit_stocktake(&caller.write_context(), id, &expected)
        .await
    {
        Ok(_) => {}
        Err(CatalogError::Store(StoreError::VersionMismatch { current })) => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                format!(
                    "the stocktake has changed: its current version is {current}; review it again"
                ),
            )
            .with_extension("current_version", current.into())
            .with_header(
                header::ETAG,
                HeaderValue::from_str(&etag::format(current))
                    .unwrap_or(HeaderValue::from_static("\"0\"")),
            ));
        }
        Err(other) => return Err(other.into()),
    }
    let stocktake = state
        .inventory
        .get_stocktake(&caller.0, id, &PageRequest::default())
        .await?;
    let read: Uri = format!("/stocktakes/{id}")
        .parse()
        .map_err(|_| ApiError::internal())?;
    Ok(stocktake_page(&read, stocktake.into()))
}

/// Cancel an open stocktake: nothing is applied; it stays readable.
#[utoipa::path(delete, path = "/stocktakes/{id}", tag = "stocktakes",
    params(("id" = uuid::Uuid, Path, description = "Stocktake id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No such stocktake", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The stocktake is committed or cancelled already", body = Problem, content_type = PROBLEM)))]
pub async fn cancel_stocktake(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    state
        .inventory
        .cancel_stocktake(&caller.write_context(), StocktakeId::from_uuid(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
