//! Stock: movements of a book's quantity on hand, and the books to reorder.

use crate::caller::Caller;
use crate::dto::book::{render, BookV1, BookV2};
use crate::dto::location::{BookStockDto, StockLevelDto};
use crate::dto::page::{PageDto, PageParams};
use crate::dto::stock::{StockMovementDto, StockMovementInput};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::page_request;
use crate::state::AppState;
use crate::version::ApiVersion;
use crate::{etag, idempotency, response};
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bookstore_core::{BookId, Precondition, StockRequest};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

/// Record a stock movement at a location (the default one unless `location` names another),
/// or a transfer between two locations. `If-Match` is optional here: sales at two tills must
/// not conflict, and no location's stock can go below zero either way.
#[utoipa::path(post, path = "/books/{id}/stock-movements", tag = "stock",
    params(("id" = uuid::Uuid, Path, description = "Book id"),
        ("If-Match" = Option<String>, Header, description = "Apply only to this version of the book"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retried movement return the first response instead of applying twice")),
    request_body = StockMovementInput,
    responses(
        (status = 201, description = "Recorded; `ETag` is the book's new version. For a transfer, \
            the movement out of `from_location` (the movement into `to_location` is listed beside it)", body = StockMovementDto),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not enough stock (at the location, or at a transfer's source)", body = Problem, content_type = PROBLEM),
        (status = 412, description = "The book has changed since that ETag", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid movement, an unknown location, or Idempotency-Key reused with another request", body = Problem, content_type = PROBLEM)))]
pub async fn record_movement(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathId(id): PathId,
    body: ApiJson<StockMovementInput>,
) -> ApiResult<Response> {
    let expected = if headers.contains_key(header::IF_MATCH) {
        etag::require_if_match(&headers)?
    } else {
        Precondition::Any
    };
    let path = format!("/books/{id}/stock-movements");
    let idempotency = idempotency::request(&headers, &caller, &path, &body.raw)?;
    let input = body.value;
    let request = StockRequest::parse(
        &input.kind,
        input.quantity,
        input.reason.as_deref(),
        input.location.as_deref(),
        input.from_location.as_deref(),
        input.to_location.as_deref(),
    )?;
    let ctx = caller.write_context();
    let id = BookId::from_uuid(id);
    let (created, replayed) = match request {
        StockRequest::Movement(draft) => {
            let created = state
                .catalog
                .record_stock_movement(&ctx, id, &expected, &draft, idempotency.as_ref())
                .await?;
            (created.value, created.replayed)
        }
        StockRequest::Transfer(draft) => {
            let created = state
                .inventory
                .transfer_stock(&ctx, id, &expected, &draft, idempotency.as_ref())
                .await?;
            let (book, [out, _into]) = created.value;
            ((book, out), created.replayed)
        }
    };
    let (book, movement) = created;
    let mut response = response::json(StatusCode::CREATED, &StockMovementDto::from(movement));
    response::set_etag(&mut response, book.version);
    idempotency::mark_replayed(&mut response, replayed);
    Ok(response)
}

/// A book's stock on hand per location.
#[utoipa::path(get, path = "/books/{id}/stock", tag = "stock",
    params(("id" = uuid::Uuid, Path, description = "Book id")),
    responses(
        (status = 200, description = "The book's quantity and its breakdown per location", body = BookStockDto),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM)))]
pub async fn book_stock(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let levels = state
        .inventory
        .book_stock(&caller.0, BookId::from_uuid(id))
        .await?;
    let dto = BookStockDto {
        book_id: id,
        quantity: levels.iter().map(|l| l.quantity).sum(),
        locations: levels.into_iter().map(StockLevelDto::from).collect(),
    };
    Ok(response::json(StatusCode::OK, &dto))
}

/// A book's stock movements, newest first, each with its location.
#[utoipa::path(get, path = "/books/{id}/stock-movements", tag = "stock",
    params(("id" = uuid::Uuid, Path, description = "Book id"), PageParams),
    responses(
        (status = 200, description = "A page of movements; a deleted book's stay readable, like its history", body = PageDto<StockMovementDto>),
        (status = 404, description = "No book with this id ever existed", body = Problem, content_type = PROBLEM)))]
pub async fn list_movements(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state
        .catalog
        .stock_movements(&caller.0, BookId::from_uuid(id), &page)
        .await?;
    let dto = PageDto {
        items: result
            .items
            .into_iter()
            .map(StockMovementDto::from)
            .collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Books at or below their reorder point, fewest on hand first.
#[utoipa::path(get, path = "/books/low-stock", tag = "stock", params(PageParams),
    responses((status = 200, description = "A page of books", content(
        (PageDto<BookV1> = "application/vnd.bookstore.v1+json"),
        (PageDto<BookV2> = "application/vnd.bookstore.v2+json")))))]
pub async fn low_stock(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state.catalog.low_stock(&caller.0, &page).await?;
    let dto = PageDto {
        items: result.items.iter().map(|b| render(b, version)).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}
