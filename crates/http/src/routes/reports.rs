//! Streamed reads of many books: the catalog export (`GET /books/export`) and the reorder
//! suggestions (`GET /reorder-suggestions`). Each chooses its media type from `Accept` itself
//! (CSV is not a version of the JSON API), and sends its body as the store reads the books:
//! the first bytes at once, memory constant whatever the catalog's size.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::export::{
    encode, EncodeError, Encoder, ExportCsv, ExportNdjson, ReorderCsv, ReorderJson,
    ReorderReportDto, CSV_MEDIA_TYPE, NDJSON_MEDIA_TYPE,
};
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::version::{V1_MEDIA_TYPE, V2_MEDIA_TYPE};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::{
    Action, BookSearch, Catalog, CatalogError, ItemStream, LocationId, LocationRef, Principal,
    RawBookSearch,
};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

const PROBLEM: &str = crate::error::PROBLEM_JSON;

/// The media type in `offered` (in order of preference) that `accept` weighs highest, by the
/// most specific range naming each; the first offered without `Accept`; `None` when `Accept`
/// refuses them all.
pub fn choose<'a>(accept: Option<&str>, offered: &[&'a str]) -> Option<&'a str> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return offered.first().copied();
    };
    let mut ranges: Vec<(String, f32)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut quality = 1.0f32;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        ranges.push((range, quality.clamp(0.0, 1.0)));
    }
    let weight = |media_type: &str| {
        let kind = media_type.split('/').next().unwrap_or("");
        ranges
            .iter()
            .filter_map(|(range, q)| {
                let specificity = if range == media_type {
                    2
                } else if range.strip_suffix("/*") == Some(kind) {
                    1
                } else if range == "*/*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, *q))
            })
            .max_by_key(|(specificity, _)| *specificity)
            .map(|(_, q)| q)
    };
    let mut best: Option<(&str, f32)> = None;
    for media_type in offered {
        if let Some(q) = weight(media_type).filter(|q| *q > 0.0) {
            if best.is_none_or(|(_, top)| q > top) {
                best = Some((media_type, q));
            }
        }
    }
    best.map(|(media_type, _)| media_type)
}

fn not_acceptable(supported: &[&str]) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-acceptable",
        "None of the media types in Accept is served here; see supported.",
    )
    .with_extension("supported", serde_json::json!(supported))
    .with_header(header::VARY, HeaderValue::from_static("Accept"))
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT)
        // An unreadable header accepts nothing we serve.
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

/// What a streamed answer reads: the items it opens from the catalog.
trait Source: Send + 'static {
    type Item: Send;
    fn open<'a>(
        &'a self,
        catalog: &'a Catalog,
        who: &Principal,
    ) -> Result<ItemStream<'a, Self::Item>, CatalogError>;
}

/// The books to reorder, judged by the stock at a location (and inside it) or in total.
struct Reorder(Option<LocationId>);

impl Source for Reorder {
    type Item = bookstore_core::ReorderCandidate;
    fn open<'a>(
        &'a self,
        catalog: &'a Catalog,
        who: &Principal,
    ) -> Result<ItemStream<'a, Self::Item>, CatalogError> {
        catalog.reorder_candidates(who, self.0)
    }
}

/// The books a search lets through.
struct Export(BookSearch);

impl Source for Export {
    type Item = bookstore_core::Book;
    fn open<'a>(
        &'a self,
        catalog: &'a Catalog,
        who: &Principal,
    ) -> Result<ItemStream<'a, Self::Item>, CatalogError> {
        catalog.export_books(who, &self.0)
    }
}

/// A streamed answer: the items of `source`, encoded by `encoder`, in `content_type`. The
/// body owns what it reads from, so that it outlives the handler.
fn streamed<S: Source, E: Encoder<Item = S::Item> + 'static>(
    state: &AppState,
    who: Principal,
    source: S,
    content_type: &'static str,
    encoder: E,
) -> Response {
    let catalog = state.catalog.clone();
    let body = async_stream::stream! {
        match source.open(&catalog, &who) {
            Ok(books) => {
                let mut chunks = std::pin::pin!(encode(books, encoder));
                while let Some(chunk) = chunks.next().await {
                    if let Err(err) = &chunk {
                        // The status has gone out: ending the body early is all that is left,
                        // and the client sees a truncated transfer.
                        tracing::error!(error = ?err, "a streamed response failed");
                    }
                    yield chunk;
                }
            }
            Err(err) => yield Err(EncodeError::Refused(err)),
        }
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::VARY, HeaderValue::from_static("Accept")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn require_read(caller: &Caller) -> ApiResult<()> {
    if caller.0.may(Action::ReadCatalog) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role is not allowed to do this.",
        ))
    }
}

const REORDER_TYPES: [&str; 4] = [V1_MEDIA_TYPE, V2_MEDIA_TYPE, "application/json", "text/csv"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReorderParams {
    /// One store: a location's code (any case) or id. The stock compared with each book's
    /// reorder point, and ordered up from, is then the stock at this location and the
    /// shelves inside it, not the book's total. An unknown location is a 422.
    pub location: Option<String>,
}

/// Books to reorder, grouped by publisher, with the quantity to order.
///
/// A book is listed when its stock on hand is at or below its `reorder_point` and there is
/// something to order. The suggested quantity orders the book up to `reorder_point` +
/// `reorder_quantity`: it is `reorder_point + reorder_quantity - on hand`, so never less than
/// `reorder_quantity`, and more when the stock fell below the point. A book at its point
/// without a reorder quantity has nothing to order and is left out. The stock on hand is the
/// book's `quantity` (the total over all locations); with `?location=`, it is the stock at
/// that location and the shelves inside it, given in each item as `location_quantity`
/// beside the total, and the report names the location (`stock_location`). Groups are in
/// bytewise order of the publisher's name, books without a publisher last (`publisher:
/// null`, or an empty field in CSV); within a group, by title. JSON (the same body in every
/// version), or CSV with `Accept: text/csv` (columns `publisher`, `isbn`, `title`, `authors`
/// (`;`-separated), `format`, `quantity`, then `location_quantity` only with `?location=`,
/// `reorder_point`, `reorder_quantity`, `suggested_quantity`, `location` (the shelf label);
/// one row per book, in the same order). Streamed.
#[utoipa::path(get, path = "/reorder-suggestions", tag = "stock", params(ReorderParams),
    responses(
        (status = 200, description = "The books to reorder, by publisher", content(
            (ReorderReportDto = "application/vnd.bookstore.v1+json"),
            (ReorderReportDto = "application/vnd.bookstore.v2+json"),
            (String = "text/csv"))),
        (status = 406, description = "None of the media types in `Accept` is served; see `supported`", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An unknown query parameter, a `location` that is not a location's code or id, or no location with that code or id; `errors` names the parameter", body = Problem, content_type = PROBLEM)))]
pub async fn reorder_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ReorderParams>,
) -> ApiResult<Response> {
    let chosen =
        choose(accept(&headers), &REORDER_TYPES).ok_or_else(|| not_acceptable(&REORDER_TYPES))?;
    let asked = params
        .location
        .as_deref()
        .map(|l| LocationRef::parse("location", l))
        .transpose()?;
    require_read(&caller)?;
    let who = caller.0;
    let location = match &asked {
        Some(asked) => Some(
            state
                .inventory
                .resolve_location(&who, "location", asked)
                .await?,
        ),
        None => None,
    };
    let source = Reorder(location.as_ref().map(|l| l.id));
    Ok(match chosen {
        "text/csv" => streamed(
            &state,
            who,
            source,
            CSV_MEDIA_TYPE,
            ReorderCsv::at_location(location.is_some()),
        ),
        V2_MEDIA_TYPE => streamed(
            &state,
            who,
            source,
            V2_MEDIA_TYPE,
            ReorderJson::at_location(location.as_ref()),
        ),
        _ => streamed(
            &state,
            who,
            source,
            V1_MEDIA_TYPE,
            ReorderJson::at_location(location.as_ref()),
        ),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BookExportParams {
    /// Full-text search as in `GET /books`, at most 1000 characters: only the books whose
    /// words match (or the book with this ISBN). No relevance order and no near spellings:
    /// an export lists matches, in id order.
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
    /// An RFC 3339 date and time: only books without a `count` stock movement since then.
    pub not_counted_since: Option<String>,
}

const EXPORT_TYPES: [&str; 2] = ["text/csv", NDJSON_MEDIA_TYPE];

/// Export the catalog, or the part the filters let through, streamed.
///
/// The filters and `q` are those of `GET /books`; the books come in id order (the order they
/// were created in), read from one snapshot of the catalog. `Accept: text/csv` (also the
/// answer to `*/*` or no `Accept`) gives CSV with a header row and exactly the columns of
/// an import, so that an export imports again: `isbn`, `title`, `subtitle`, `authors`
/// (`;`-separated, in order), `genres` (`;`-separated), `publisher`, `published_year`,
/// `language`, `format`, `page_count`, `price` (decimal, e.g. `12.99`), `currency`,
/// `quantity` (the stock on hand), `reorder_point`, `reorder_quantity`, `location`,
/// `description`. `Accept: application/x-ndjson` gives one book per line in the v2
/// representation (`BookV2`). A failure after the first byte ends the body early.
#[utoipa::path(get, path = "/books/export", tag = "books", params(BookExportParams),
    responses(
        (status = 200, description = "The books, streamed", content(
            (String = "text/csv"),
            (crate::dto::book::BookV2 = "application/x-ndjson"))),
        (status = 406, description = "Neither CSV nor NDJSON is acceptable; see `supported`", body = Problem, content_type = PROBLEM)))]
pub async fn export_books(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<BookExportParams>,
) -> ApiResult<Response> {
    let chosen =
        choose(accept(&headers), &EXPORT_TYPES).ok_or_else(|| not_acceptable(&EXPORT_TYPES))?;
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
        facets: None,
    };
    let search = BookSearch::parse(&raw)?;
    require_read(&caller)?;
    let (who, source) = (caller.0, Export(search));
    Ok(match chosen {
        NDJSON_MEDIA_TYPE => streamed(
            &state,
            who,
            source,
            NDJSON_MEDIA_TYPE,
            ExportNdjson::default(),
        ),
        _ => streamed(&state, who, source, CSV_MEDIA_TYPE, ExportCsv::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn negotiation_table() {
        let offered = ["text/csv", "application/x-ndjson"];
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (None, Some("text/csv")),
            (Some("*/*"), Some("text/csv")),
            (Some("text/*"), Some("text/csv")),
            (Some("application/x-ndjson"), Some("application/x-ndjson")),
            (
                Some("text/csv;q=0.5, application/x-ndjson"),
                Some("application/x-ndjson"),
            ),
            (Some("application/json"), None),
            (Some("text/csv;q=0"), None),
            (Some("TEXT/CSV; charset=utf-8"), Some("text/csv")),
            (Some("text/csv;q=0, */*"), Some("application/x-ndjson")),
        ];
        for (accept, expected) in cases {
            assert_eq!(choose(*accept, &offered), *expected, "Accept: {accept:?}");
        }
    }
}
