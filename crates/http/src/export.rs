//! The encodings of streamed book reads, shared by the HTTP routes and the CLI so that both
//! print the same bytes: the catalog export (CSV in the import columns, or NDJSON) and the
//! reorder report (CSV, or JSON grouped by publisher).
//!
//! An [`Encoder`] turns books into bytes one at a time; [`encode`] drives one over an
//! [`ItemStream`], yielding a chunk for whatever books the store had ready, so that memory
//! stays constant and the first bytes go out at once.

use crate::dto::book::BookV2;
use bookstore_core::{Book, ItemStream, Location, ReorderCandidate, StoreError};
use futures_core::Stream;
use futures_util::StreamExt;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

/// The columns of an export, in order: exactly the import's columns (API.md, "Import and
/// export"), so that an export imports again into the same catalogue.
pub const EXPORT_COLUMNS: [&str; 17] = [
    "isbn",
    "title",
    "subtitle",
    "authors",
    "genres",
    "publisher",
    "published_year",
    "language",
    "format",
    "page_count",
    "price",
    "currency",
    "quantity",
    "reorder_point",
    "reorder_quantity",
    "location",
    "description",
];

/// The columns of the reorder report as CSV, in order; for one location,
/// [`LOCATION_QUANTITY_COLUMN`] follows `quantity`.
pub const REORDER_COLUMNS: [&str; 10] = [
    "publisher",
    "isbn",
    "title",
    "authors",
    "format",
    "quantity",
    "reorder_point",
    "reorder_quantity",
    "suggested_quantity",
    "location",
];

/// The column of the stock at the location a reorder report is for.
pub const LOCATION_QUANTITY_COLUMN: &str = "location_quantity";

/// Separates the names of a list (authors, genres) in one CSV field.
pub const LIST_SEPARATOR: &str = ";";

/// Books read at most at a time into one chunk.
const CHUNK_BOOKS: usize = 256;

pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";
pub const NDJSON_MEDIA_TYPE: &str = "application/x-ndjson";

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("reading the books: {0}")]
    Store(#[from] StoreError),
    #[error("not allowed to read the books: {0}")]
    Refused(#[from] bookstore_core::CatalogError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Turns books into bytes, buffering them until [`Encoder::take`].
pub trait Encoder: Send {
    /// What is encoded: a book, or a book to reorder.
    type Item: Send;
    /// What comes before the first book (a header row, an opening bracket).
    fn head(&mut self) -> Result<(), EncodeError>;
    fn push(&mut self, item: &Self::Item) -> Result<(), EncodeError>;
    /// What comes after the last book.
    fn end(&mut self) -> Result<(), EncodeError>;
    /// The bytes encoded since the last take.
    fn take(&mut self) -> Result<Vec<u8>, EncodeError>;
}

/// Encodes `books`: the head at once, then a chunk per batch of books ready, then the end.
/// Empty chunks are skipped (a reorder report skips most books).
pub fn encode<'a, E: Encoder + 'a>(
    books: ItemStream<'a, E::Item>,
    mut encoder: E,
) -> impl Stream<Item = Result<Vec<u8>, EncodeError>> + Send + 'a {
    async_stream::try_stream! {
        encoder.head()?;
        yield encoder.take()?;
        let mut batches = books.ready_chunks(CHUNK_BOOKS);
        while let Some(batch) = batches.next().await {
            for book in batch {
                encoder.push(&book?)?;
            }
            let chunk = encoder.take()?;
            if !chunk.is_empty() {
                yield chunk;
            }
        }
        encoder.end()?;
        let chunk = encoder.take()?;
        if !chunk.is_empty() {
            yield chunk;
        }
    }
}

/// A CSV writer into memory whose bytes can be taken out as they are written.
struct CsvBuffer(csv::Writer<Vec<u8>>);

impl CsvBuffer {
    fn new() -> Self {
        // Fields with a line break are quoted; lines end with `\n`, as the importer expects.
        Self(csv::Writer::from_writer(Vec::new()))
    }

    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        let full = std::mem::replace(&mut self.0, csv::Writer::from_writer(Vec::new()));
        full.into_inner()
            .map_err(|e| EncodeError::Csv(csv::Error::from(std::io::Error::other(e.to_string()))))
    }
}

fn joined<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(LIST_SEPARATOR)
}

fn number(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The export as CSV: a header row of [`EXPORT_COLUMNS`], then one row per book.
pub struct ExportCsv(CsvBuffer);

impl ExportCsv {
    pub fn new() -> Self {
        Self(CsvBuffer::new())
    }

    /// The row of `book`, in [`EXPORT_COLUMNS`] order.
    pub fn row(book: &Book) -> [String; 17] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            book.isbn.to_string(),
            book.title.clone(),
            text(&book.subtitle),
            joined(book.authors.iter().map(|a| a.name.as_str())),
            joined(book.genres.iter().map(|g| g.name.as_str())),
            text(&book.publisher),
            number(book.published_year),
            text(&book.language),
            book.format
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            number(book.page_count),
            book.price
                .map(|p| p.to_decimal_string())
                .unwrap_or_default(),
            book.price
                .map(|p| p.currency().code().to_owned())
                .unwrap_or_default(),
            book.quantity.get().to_string(),
            book.reorder_point.get().to_string(),
            book.reorder_quantity.get().to_string(),
            text(&book.location),
            text(&book.description),
        ]
    }
}

impl Default for ExportCsv {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder for ExportCsv {
    type Item = Book;
    fn head(&mut self) -> Result<(), EncodeError> {
        Ok(self.0 .0.write_record(EXPORT_COLUMNS)?)
    }
    fn push(&mut self, book: &Book) -> Result<(), EncodeError> {
        Ok(self.0 .0.write_record(Self::row(book))?)
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        self.0.take()
    }
}

/// The export as NDJSON: one book per line, in the v2 representation (authors with ids and
/// roles, genres with ids, decimal price), the one that says everything a book holds.
#[derive(Default)]
pub struct ExportNdjson(Vec<u8>);

impl Encoder for ExportNdjson {
    type Item = Book;
    fn head(&mut self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn push(&mut self, book: &Book) -> Result<(), EncodeError> {
        serde_json::to_writer(&mut self.0, &BookV2::from(book))?;
        self.0.push(b'\n');
        Ok(())
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(std::mem::take(&mut self.0))
    }
}

/// A book to reorder, as the JSON report lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderItemDto {
    pub book_id: Uuid,
    /// Canonical ISBN-13.
    pub isbn: String,
    pub title: String,
    /// Contributor names in order.
    pub authors: Vec<String>,
    /// `hardcover`, `paperback`, `ebook`, `audiobook` or `other`.
    pub format: Option<String>,
    /// Copies on hand, over all locations.
    pub quantity: i64,
    /// Only in a report for one location (`?location=`): the copies at that location and
    /// the shelves inside it, which the suggestion is computed from instead of `quantity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_quantity: Option<i64>,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
    /// Copies to order: enough to reach `reorder_point` + `reorder_quantity` from the stock
    /// on hand (`location_quantity` when present, else `quantity`), so never less than
    /// `reorder_quantity`.
    pub suggested_quantity: i64,
    /// The shelf label (the book's free-text `location` field, not a stock location).
    pub location: Option<String>,
}

/// The books of one publisher to reorder.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderGroupDto {
    /// The publisher as the books name it; `null` for the books without one.
    pub publisher: Option<String>,
    /// By title.
    pub items: Vec<ReorderItemDto>,
    /// The sum of the items' `suggested_quantity`.
    pub suggested_total: i64,
}

/// The stock location a reorder report is for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderLocationDto {
    pub id: Uuid,
    /// Lower case.
    pub code: String,
    pub name: String,
}

impl From<&Location> for ReorderLocationDto {
    fn from(location: &Location) -> Self {
        Self {
            id: location.id.as_uuid(),
            code: location.code.clone(),
            name: location.name.clone(),
        }
    }
}

/// The reorder report: books at or below their reorder point with something to order,
/// grouped by publisher (in bytewise order of the name; books without a publisher last).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReorderReportDto {
    /// Only in a report for one location (`?location=`): that location, whose stock (with
    /// the shelves inside it) each item's `location_quantity` counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock_location: Option<ReorderLocationDto>,
    pub groups: Vec<ReorderGroupDto>,
}

fn reorder_item(candidate: &ReorderCandidate, suggested: i64) -> ReorderItemDto {
    let book = &candidate.book;
    ReorderItemDto {
        book_id: book.id.as_uuid(),
        isbn: book.isbn.to_string(),
        title: book.title.clone(),
        authors: book.authors.iter().map(|a| a.name.clone()).collect(),
        format: book.format.map(|f| f.as_str().to_owned()),
        quantity: book.quantity.get(),
        location_quantity: candidate.location_quantity,
        reorder_point: book.reorder_point.get(),
        reorder_quantity: book.reorder_quantity.get(),
        suggested_quantity: suggested,
        location: book.location.clone(),
    }
}

/// The reorder report as CSV: a header row of [`REORDER_COLUMNS`], then one row per book, by
/// publisher (books without one last, with an empty publisher). For one location, a
/// [`LOCATION_QUANTITY_COLUMN`] follows `quantity`.
pub struct ReorderCsv {
    out: CsvBuffer,
    at_location: bool,
}

impl ReorderCsv {
    /// The report over the books' total stock.
    pub fn new() -> Self {
        Self::at_location(false)
    }

    /// `at_location`: the report for one location, with its stock column.
    pub fn at_location(at_location: bool) -> Self {
        Self {
            out: CsvBuffer::new(),
            at_location,
        }
    }

    /// Where the location's column goes: after `quantity`.
    const LOCATION_COLUMN_AT: usize = 6;
}

impl Default for ReorderCsv {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder for ReorderCsv {
    type Item = ReorderCandidate;
    fn head(&mut self) -> Result<(), EncodeError> {
        let mut header = REORDER_COLUMNS.to_vec();
        if self.at_location {
            header.insert(Self::LOCATION_COLUMN_AT, LOCATION_QUANTITY_COLUMN);
        }
        Ok(self.out.0.write_record(header)?)
    }
    fn push(&mut self, candidate: &ReorderCandidate) -> Result<(), EncodeError> {
        let Some(suggested) = candidate.suggested_quantity() else {
            return Ok(());
        };
        let book = &candidate.book;
        let mut row = vec![
            book.publisher.clone().unwrap_or_default(),
            book.isbn.to_string(),
            book.title.clone(),
            joined(book.authors.iter().map(|a| a.name.as_str())),
            book.format
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            book.quantity.get().to_string(),
            book.reorder_point.get().to_string(),
            book.reorder_quantity.get().to_string(),
            suggested.to_string(),
            book.location.clone().unwrap_or_default(),
        ];
        if self.at_location {
            row.insert(
                Self::LOCATION_COLUMN_AT,
                number(candidate.location_quantity),
            );
        }
        Ok(self.out.0.write_record(row)?)
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        self.out.take()
    }
}

/// The reorder report as JSON ([`ReorderReportDto`]), written a book at a time: the books
/// come ordered by publisher, so a group closes when the publisher changes.
#[derive(Default)]
pub struct ReorderJson {
    /// The location the report is for, if it is for one.
    location: Option<ReorderLocationDto>,
    out: Vec<u8>,
    /// The publisher of the open group, if one is open.
    group: Option<Option<String>>,
    total: i64,
    /// Whether a group was written: the next one needs a comma.
    grouped: bool,
}

impl ReorderJson {
    /// The report for one location (`None`: over the books' total stock).
    pub fn at_location(location: Option<&Location>) -> Self {
        Self {
            location: location.map(ReorderLocationDto::from),
            ..Self::default()
        }
    }

    fn close_group(&mut self) -> Result<(), EncodeError> {
        if self.group.take().is_some() {
            self.out.extend_from_slice(b"],\"suggested_total\":");
            serde_json::to_writer(&mut self.out, &self.total)?;
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl Encoder for ReorderJson {
    type Item = ReorderCandidate;
    fn head(&mut self) -> Result<(), EncodeError> {
        self.out.push(b'{');
        if let Some(location) = &self.location {
            self.out.extend_from_slice(b"\"stock_location\":");
            serde_json::to_writer(&mut self.out, location)?;
            self.out.push(b',');
        }
        self.out.extend_from_slice(b"\"groups\":[");
        Ok(())
    }
    fn push(&mut self, candidate: &ReorderCandidate) -> Result<(), EncodeError> {
        let Some(suggested) = candidate.suggested_quantity() else {
            return Ok(());
        };
        let book = &candidate.book;
        match &self.group {
            Some(publisher) if *publisher == book.publisher => self.out.push(b','),
            _ => {
                self.close_group()?;
                if self.grouped {
                    self.out.push(b',');
                }
                self.grouped = true;
                self.out.extend_from_slice(b"{\"publisher\":");
                serde_json::to_writer(&mut self.out, &book.publisher)?;
                self.out.extend_from_slice(b",\"items\":[");
                self.group = Some(book.publisher.clone());
                self.total = 0;
            }
        }
        serde_json::to_writer(&mut self.out, &reorder_item(candidate, suggested))?;
        self.total += suggested;
        Ok(())
    }
    fn end(&mut self) -> Result<(), EncodeError> {
        self.close_group()?;
        self.out.extend_from_slice(b"]}");
        Ok(())
    }
    fn take(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(std::mem::take(&mut self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bookstore_core::{BookId, Isbn, Quantity};

    fn book(title: &str, publisher: Option<&str>, quantity: i64) -> Book {
        let now = chrono::Utc::now();
        Book {
            id: BookId::generate(),
            isbn: Isbn::parse("9780261103344").expect("isbn"),
            title: title.into(),
            subtitle: None,
            description: Some("Line one,\n\"quoted\"".into()),
            authors: Vec::new(),
            genres: Vec::new(),
            publisher: publisher.map(str::to_owned),
            published_year: None,
            language: None,
            format: None,
            page_count: None,
            price: None,
            quantity: Quantity::new(quantity).expect("quantity"),
            reorder_point: Quantity::new(2).expect("point"),
            reorder_quantity: Quantity::new(5).expect("reorder"),
            location: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    fn run<E: Encoder>(mut encoder: E, books: &[E::Item]) -> Vec<u8> {
        let mut out = Vec::new();
        encoder.head().expect("head");
        out.extend(encoder.take().expect("take"));
        for book in books {
            encoder.push(book).expect("push");
            out.extend(encoder.take().expect("take"));
        }
        encoder.end().expect("end");
        out.extend(encoder.take().expect("take"));
        out
    }

    #[test]
    fn reorder_json_groups_consecutive_publishers() {
        let books = [
            book("A", Some("Ace"), 0),
            book("B", Some("Ace"), 9),
            book("C", Some("Ace"), 2),
            book("D", Some("Tor"), 1),
            book("E", None, 0),
        ]
        .map(ReorderCandidate::total);
        let json: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::default(), &books)).expect("json");
        let groups = json["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 3, "{json}");
        assert_eq!(groups[0]["publisher"], "Ace");
        assert_eq!(groups[0]["items"].as_array().expect("items").len(), 2);
        assert_eq!(groups[0]["suggested_total"], 7 + 5);
        assert_eq!(groups[1]["items"][0]["suggested_quantity"], 6);
        assert!(groups[2]["publisher"].is_null());
        let empty: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::default(), &[])).expect("json");
        assert_eq!(empty, serde_json::json!({"groups": []}));
        assert!(!String::from_utf8(run(ReorderJson::default(), &books))
            .expect("utf-8")
            .contains("location_quantity"));
    }

    #[test]
    fn a_report_for_one_location_says_which_stock_counted() {
        let now = chrono::Utc::now();
        let store = Location {
            id: bookstore_core::LocationId::generate(),
            code: "north".into(),
            name: "North store".into(),
            kind: bookstore_core::LocationKind::Store,
            parent_id: None,
            created_at: now,
            updated_at: now,
        };
        // 9 in total, 1 at the store: ordered up to 2 + 5 from 1.
        let candidates = [ReorderCandidate {
            book: book("A", Some("Ace"), 9),
            location_quantity: Some(1),
        }];
        let json: serde_json::Value =
            serde_json::from_slice(&run(ReorderJson::at_location(Some(&store)), &candidates))
                .expect("json");
        assert_eq!(json["stock_location"]["code"], "north");
        let item = &json["groups"][0]["items"][0];
        assert_eq!(
            (
                &item["quantity"],
                &item["location_quantity"],
                &item["suggested_quantity"]
            ),
            (
                &serde_json::json!(9),
                &serde_json::json!(1),
                &serde_json::json!(6)
            )
        );
        let out = run(ReorderCsv::at_location(true), &candidates);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let headers: Vec<String> = reader
            .headers()
            .expect("headers")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            &headers[5..8],
            ["quantity", "location_quantity", "reorder_point"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!((&rows[0][5], &rows[0][6], &rows[0][9]), ("9", "1", "6"));
    }

    #[tokio::test]
    async fn the_head_goes_out_before_any_book_is_read() {
        // A store that has not answered yet (a slow filter, a busy database).
        let books: BookStream<'static> = Box::pin(futures_util::stream::pending());
        let mut chunks = std::pin::pin!(encode(books, ExportCsv::new()));
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), chunks.next())
            .await
            .expect("the head at once")
            .expect("a chunk")
            .expect("encoded");
        assert_eq!(
            first,
            format!("{}\n", EXPORT_COLUMNS.join(",")).into_bytes()
        );
    }

    #[test]
    fn export_csv_quotes_what_needs_quoting() {
        let out = run(ExportCsv::new(), &[book("Commas, \"quotes\"", None, 1)]);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(
            reader
                .headers()
                .expect("headers")
                .iter()
                .collect::<Vec<_>>(),
            EXPORT_COLUMNS
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][1], "Commas, \"quotes\"");
        assert_eq!(&rows[0][16], "Line one,\n\"quoted\"");
    }
}
