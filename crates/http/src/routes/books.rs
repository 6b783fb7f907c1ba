//! `/books`: the catalog's books.

use crate::cache::RenderedBodies;
use crate::caller::Caller;
use crate::consistency::RequiredToken;
use crate::dto::book::{
    render, render_listed, BookInput, BookV1, BookV2, ListedBookV1, ListedBookV2,
    RenderedListedBook,
};
use crate::dto::history::HistoryEntryDto;
use crate::dto::page::{BookListDto, FacetValueDto, FacetsDto, PageDto, PageParams};
use crate::error::{ApiError, ApiResult, Problem};
use crate::etag::IfNoneMatch;
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::page_request;
use crate::state::AppState;
use crate::version::ApiVersion;
use crate::{etag, idempotency, response};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bookstore_core::{
    Book, BookDraft, BookId, BookListQuery, BookSearch, BookSort, CatalogError, Facet, Isbn,
    Precondition, RawBookSearch, StoreError, ValidationErrors,
};
use serde::Deserialize;
use utoipa::IntoParams;

const PROBLEM: &str = crate::error::PROBLEM_JSON;
/// How often a PATCH with `If-Match: *` re-reads and retries when a concurrent write wins.
const PATCH_ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BookListParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (of the same query, filters and sort).
    pub cursor: Option<String>,
    /// `relevance` (the default with `q`; only with `q`), `-updated_at` (the default without
    /// `q`), `title`, `price`, `-price` or `published_year`.
    pub sort: Option<String>,
    /// Full-text search over title (strongest), authors, genres and description (weakest),
    /// at most 1000 characters. Web-search syntax: `"exact phrase"`, `-word` to exclude,
    /// `a or b`; the last word of three letters or more also matches as a prefix (`hobbi`
    /// finds The Hobbit); accents
    /// are ignored; an ISBN-10 or ISBN-13 (any hyphenation) puts that book first; when
    /// nothing matches, near spellings of titles and author names are tried (`tolkein`).
    /// Each item then carries `score`.
    pub q: Option<String>,
    /// A contributor of the book: an author id, or a full name (case-insensitive).
    pub author: Option<String>,
    /// One of the book's genres: a genre id, or a name (case-insensitive).
    pub genre: Option<String>,
    /// ISO 639-1 language code.
    pub language: Option<String>,
    /// `hardcover`, `paperback`, `ebook`, `audiobook` or `other`.
    pub format: Option<String>,
    /// The publisher's name (case-insensitive).
    pub publisher: Option<String>,
    /// Published in this year or later.
    pub year_from: Option<i64>,
    /// Published in this year or earlier.
    pub year_to: Option<i64>,
    /// Price at least this, in minor units (books without a price never match).
    pub price_min: Option<i64>,
    /// Price at most this, in minor units.
    pub price_max: Option<i64>,
    /// `true`: only books with copies on hand.
    pub in_stock: Option<bool>,
    /// An RFC 3339 date and time: only books without a `count` stock movement since then
    /// (what is due in a rolling cycle count).
    pub not_counted_since: Option<String>,
    /// Comma-separated facets to count over the whole result: `genre`, `language`,
    /// `format`. Adds `facets` to the response.
    pub facets: Option<String>,
}

fn book_response(status: StatusCode, book: &Book, version: ApiVersion) -> Response {
    let mut response = response::json(status, &render(book, version));
    response::set_etag(&mut response, book.version);
    response
}

fn parse_draft(input: BookInput) -> ApiResult<BookDraft> {
    let raw = input.into_raw()?;
    Ok(BookDraft::parse(&raw)?)
}

/// List and search books: newest change first by default, most relevant first with `q`;
/// filters, facets and keyset pagination.
#[utoipa::path(get, path = "/books", tag = "books", params(BookListParams),
    responses(
        (status = 200, description = "A page of books, with `score` on each item when `q` is given and `facets` when asked", content(
            (BookListDto<ListedBookV1> = "application/vnd.bookstore.v1+json"),
            (BookListDto<ListedBookV2> = "application/vnd.bookstore.v2+json"))),
        (status = 406, description = "Unsupported version", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = PROBLEM)))]
pub async fn list_books(
    State(state): State<AppState>,
    Extension(token): Extension<RequiredToken>,
    caller: Caller,
    version: ApiVersion,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<BookListParams>,
) -> ApiResult<Response> {
    let sort = match params.sort.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<BookSort>().map(Some),
    };
    let raw = RawBookSearch {
        q: params.q,
        author: params.author,
        genre: params.genre,
        language: params.language,
        format: params.format,
        publisher: params.publisher,
        year_from: params.year_from,
        year_to: params.year_to,
        price_min: params.price_min,
        price_max: params.price_max,
        in_stock: params.in_stock,
        not_counted_since: params.not_counted_since,
        facets: params.facets,
    };
    let mut errors = ValidationErrors::new();
    let page = errors.check_all(page_request(params.limit, params.cursor));
    let sort = errors.check("sort", sort);
    let search = errors.check_all(BookSearch::parse(&raw));
    let query = match (page, sort, search) {
        (Some(page), Some(sort), Some(search)) if errors.is_empty() => {
            BookListQuery::new(page, sort, search)?
        }
        _ => return Err(errors.into()),
    };
    let (result, declined) = state
        .catalog
        .search_books(&caller.0, &query, token.0)
        .await?;
    let items = result
        .items
        .iter()
        .map(|s| render_listed(&s.book, s.score, version))
        .collect();
    let facets = (!result.facets.is_empty()).then(|| {
        let mut dto = FacetsDto::default();
        for counts in result.facets {
            let values = counts
                .values
                .into_iter()
                .map(|v| FacetValueDto {
                    value: v.value,
                    count: v.count,
                })
                .collect();
            match counts.facet {
                Facet::Genre => dto.genre = Some(values),
                Facet::Language => dto.language = Some(values),
                Facet::Format => dto.format = Some(values),
            }
        }
        dto
    });
    let dto: BookListDto<RenderedListedBook> = BookListDto {
        items,
        next_cursor: result.next_cursor,
        facets,
    };
    let mut response = response::list(&uri, &dto, dto.next_cursor.as_deref());
    // With a search index configured, who answered (and why not the index): for operators
    // and tests; without one, nothing changes.
    if state.catalog.search_model().is_some() {
        let source = match declined {
            None => "index".to_owned(),
            Some(reason) => format!("store; reason={}", reason.as_str()),
        };
        if let Ok(value) = axum::http::HeaderValue::from_str(&source) {
            response.headers_mut().insert(SEARCH_SOURCE.clone(), value);
        }
    }
    Ok(response)
}

/// Who answered a book list when a search index is configured.
pub static SEARCH_SOURCE: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-search-source");

/// Create a book. Authors and genres given by name are matched (ignoring case) or created.
#[utoipa::path(post, path = "/books", tag = "books",
    request_body(content = BookInput, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried create return the first response instead of creating twice")),
    responses(
        (status = 201, description = "Created; `Location` and `ETag` set", content(
            (BookV1 = "application/vnd.bookstore.v1+json"),
            (BookV2 = "application/vnd.bookstore.v2+json"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = PROBLEM),
        (status = 409, description = "ISBN already in the catalog", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields, or Idempotency-Key reused with another body", body = Problem, content_type = PROBLEM)))]
pub async fn create_book(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    headers: HeaderMap,
    body: ApiJson<BookInput>,
) -> ApiResult<Response> {
    let idempotency = idempotency::request(&headers, &caller, "/books", &body.raw)?;
    let draft = parse_draft(body.value)?;
    let created = state
        .catalog
        .create_book(&caller.write_context(), &draft, idempotency.as_ref())
        .await?;
    let book = created.value;
    let mut response = book_response(StatusCode::CREATED, &book, version);
    response::set_location(&mut response, &format!("/books/{}", book.id));
    idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Get one book. Honours `If-None-Match` with 304.
#[utoipa::path(get, path = "/books/{id}", tag = "books",
    params(("id" = uuid::Uuid, Path, description = "Book id")),
    responses(
        (status = 200, description = "The book; `ETag` set", content(
            (BookV1 = "application/vnd.bookstore.v1+json"),
            (BookV2 = "application/vnd.bookstore.v2+json"))),
        (status = 304, description = "Not modified since the ETag given in If-None-Match"),
        (status = 400, description = "Not a UUID", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM)))]
pub async fn get_book(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    IfNoneMatch(if_none_match): IfNoneMatch,
    required: Option<Extension<RequiredToken>>,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let id = BookId::from_uuid(id);
    let required = required.and_then(|r| r.0 .0);
    let Some(cache) = &state.book_cache else {
        let book = state.catalog.get_book(&caller.0, id).await?;
        return Ok(conditional_get(if_none_match.as_ref(), &book, version));
    };
    state.catalog.authorize_read(&caller.0)?;
    let (book, answered) = cache
        .book(id, required, state.reads.read_floor(), || {
            state.catalog.get_book(&caller.0, id)
        })
        .await?;
    crate::metrics::cache::answered(answered);
    Ok(cached_get(
        if_none_match.as_ref(),
        &book,
        version,
        &cache.bodies,
    ))
}

fn conditional_get(
    if_none_match: Option<&HeaderValue>,
    book: &Book,
    version: ApiVersion,
) -> Response {
    not_modified(if_none_match, book)
        .unwrap_or_else(|| book_response(StatusCode::OK, book, version))
}

/// As [`conditional_get`], with the body rendered once per version of the book (also the
/// answer of the fast path of cached reads, `crate::fast`).
pub(crate) fn cached_get(
    if_none_match: Option<&HeaderValue>,
    book: &Book,
    version: ApiVersion,
    bodies: &RenderedBodies,
) -> Response {
    if let Some(response) = not_modified(if_none_match, book) {
        return response;
    }
    let Some(rendered) = bodies.body(book, version) else {
        return book_response(StatusCode::OK, book, version);
    };
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, rendered.etag),
        ],
        rendered.body,
    )
        .into_response()
}

/// 304 when the client's `If-None-Match` names this version.
fn not_modified(if_none_match: Option<&HeaderValue>, book: &Book) -> Option<Response> {
    etag::none_match(if_none_match, book.version).then(|| {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response::set_etag(&mut response, book.version);
        response
    })
}

/// Get one book by ISBN-10 or ISBN-13, with or without hyphens.
#[utoipa::path(get, path = "/books/isbn/{isbn}", tag = "books",
    params(("isbn" = String, Path, description = "ISBN-10 or ISBN-13")),
    responses(
        (status = 200, description = "The book", content(
            (BookV1 = "application/vnd.bookstore.v1+json"),
            (BookV2 = "application/vnd.bookstore.v2+json"))),
        (status = 304, description = "Not modified"),
        (status = 400, description = "Not a valid ISBN", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No book with this ISBN", body = Problem, content_type = PROBLEM)))]
pub async fn get_book_by_isbn(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    IfNoneMatch(if_none_match): IfNoneMatch,
    required: Option<Extension<RequiredToken>>,
    Path(isbn): Path<String>,
) -> ApiResult<Response> {
    let isbn = Isbn::parse(&isbn).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let required = required.and_then(|r| r.0 .0);
    let Some(cache) = &state.book_cache else {
        let book = state.catalog.get_book_by_isbn(&caller.0, &isbn).await?;
        return Ok(conditional_get(if_none_match.as_ref(), &book, version));
    };
    state.catalog.authorize_read(&caller.0)?;
    let (book, answered) = cache
        .book_by_isbn(&isbn, required, state.reads.read_floor(), || {
            state.catalog.get_book_by_isbn(&caller.0, &isbn)
        })
        .await?;
    crate::metrics::cache::answered(answered);
    Ok(cached_get(
        if_none_match.as_ref(),
        &book,
        version,
        &cache.bodies,
    ))
}

/// Replace every client-owned field of a book. Requires `If-Match`.
#[utoipa::path(put, path = "/books/{id}", tag = "books",
    params(("id" = uuid::Uuid, Path, description = "Book id"),
        ("If-Match" = String, Header, description = "The ETag of the version being replaced, or *")),
    request_body(content = BookInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The new version", content(
            (BookV1 = "application/vnd.bookstore.v1+json"),
            (BookV2 = "application/vnd.bookstore.v2+json"))),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM),
        (status = 409, description = "ISBN belongs to another book", body = Problem, content_type = PROBLEM),
        (status = 412, description = "The book has changed since that ETag", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
        (status = 428, description = "If-Match missing", body = Problem, content_type = PROBLEM)))]
pub async fn replace_book(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    headers: HeaderMap,
    PathId(id): PathId,
    body: ApiJson<BookInput>,
) -> ApiResult<Response> {
    let expected = etag::require_if_match(&headers)?;
    let draft = parse_draft(body.value)?;
    let book = state
        .catalog
        .replace_book(
            &caller.write_context(),
            BookId::from_uuid(id),
            &expected,
            &draft,
        )
        .await?;
    Ok(book_response(StatusCode::OK, &book, version))
}

/// Change some fields of a book with a JSON Merge Patch (RFC 7396). Requires `If-Match`.
#[utoipa::path(patch, path = "/books/{id}", tag = "books",
    params(("id" = uuid::Uuid, Path, description = "Book id"),
        ("If-Match" = String, Header, description = "The ETag of the version being changed, or *")),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Fields to change; null removes an optional field"),
    responses(
        (status = 200, description = "The new version", content(
            (BookV1 = "application/vnd.bookstore.v1+json"),
            (BookV2 = "application/vnd.bookstore.v2+json"))),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM),
        (status = 409, description = "ISBN belongs to another book", body = Problem, content_type = PROBLEM),
        (status = 412, description = "The book has changed since that ETag", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM),
        (status = 428, description = "If-Match missing", body = Problem, content_type = PROBLEM)))]
pub async fn patch_book(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    headers: HeaderMap,
    PathId(id): PathId,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let expected = etag::require_if_match(&headers)?;
    let patch = body.value;
    if !patch.is_object() {
        return Err(ApiError::field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let id = BookId::from_uuid(id);
    let ctx = caller.write_context();
    for _ in 0..PATCH_ATTEMPTS {
        let current = state.catalog.get_book(&caller.0, id).await?;
        if !expected.accepts(current.version) {
            return Err(StoreError::VersionMismatch {
                current: current.version,
            }
            .into());
        }
        let draft = parse_draft(merged_input(&current, &patch, version)?)?;
        // Pin the version we merged onto, so a concurrent write is never silently undone.
        match state
            .catalog
            .replace_book(&ctx, id, &Precondition::version(current.version), &draft)
            .await
        {
            Ok(book) => return Ok(book_response(StatusCode::OK, &book, version)),
            Err(CatalogError::Store(StoreError::VersionMismatch { .. }))
                if expected == Precondition::Any => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "concurrent-updates",
        "The book kept changing while the patch was applied; try again.",
    ))
}

fn merged_input(
    current: &Book,
    patch: &serde_json::Value,
    version: ApiVersion,
) -> ApiResult<BookInput> {
    let mut document = serde_json::to_value(BookInput::from_book(current, version))
        .map_err(|_| ApiError::internal())?;
    let mut patch = patch.clone();
    // A new amount replaces the old one whichever form each is in.
    if let (Some(base), Some(new)) = (
        document.get_mut("price").and_then(|p| p.as_object_mut()),
        patch.get("price").and_then(|p| p.as_object()),
    ) {
        if new.contains_key("amount") || new.contains_key("amount_minor") {
            base.remove("amount");
            base.remove("amount_minor");
        }
    }
    if let Some(obj) = patch.as_object_mut() {
        // Server-owned fields in a patch are reported, not merged into nothing.
        for field in ["id", "version", "created_at", "updated_at", "isbn10"] {
            if obj.contains_key(field) {
                return Err(ApiError::field(
                    field,
                    "is set by the server and cannot be written",
                ));
            }
        }
    }
    crate::patch::merge(document, &patch)
}

/// Delete a book. Requires `If-Match`; its history stays readable.
#[utoipa::path(delete, path = "/books/{id}", tag = "books",
    params(("id" = uuid::Uuid, Path, description = "Book id"),
        ("If-Match" = String, Header, description = "The ETag of the version being deleted, or *")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such book", body = Problem, content_type = PROBLEM),
        (status = 412, description = "The book has changed since that ETag", body = Problem, content_type = PROBLEM),
        (status = 428, description = "If-Match missing", body = Problem, content_type = PROBLEM)))]
pub async fn delete_book(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let expected = etag::require_if_match(&headers)?;
    state
        .catalog
        .delete_book(&caller.write_context(), BookId::from_uuid(id), &expected)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The audit history of a book, newest first; readable after deletion.
#[utoipa::path(get, path = "/books/{id}/history", tag = "books",
    params(("id" = uuid::Uuid, Path, description = "Book id"), PageParams),
    responses(
        (status = 200, description = "A page of history entries", body = PageDto<HistoryEntryDto>),
        (status = 404, description = "No book ever had this id", body = Problem, content_type = PROBLEM)))]
pub async fn book_history(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state
        .catalog
        .book_history(&caller.0, BookId::from_uuid(id), &page)
        .await?;
    let dto = PageDto {
        items: result
            .items
            .into_iter()
            .map(HistoryEntryDto::from)
            .collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}
