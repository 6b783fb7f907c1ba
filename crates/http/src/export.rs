//! The encodings of streamed book reads, shared by the HTTP routes and the CLI so that both
//! print the same bytes: the catalog export (CSV in the import columns, or NDJSON) and the
//! reorder report (CSV, or JSON grouped by publisher; in [`reorder`]).
//!
//! An [`Encoder`] turns books into bytes one at a time; [`encode`] drives one over an
//! [`ItemStream`], yielding a chunk for whatever books the store had ready, so that memory
//! stays constant and the first bytes go out at once.

mod reorder;

pub use reorder::{
    ReorderCsv, ReorderGroupDto, ReorderItemDto, ReorderJson, ReorderLocationDto, ReorderReportDto,
    LOCATION_QUANTITY_COLUMN, REORDER_COLUMNS,
};

use crate::dto::book::BookV2;
use bookstore_core::{Book, ItemStream, StoreError};
use futures_core::Stream;
use futures_util::StreamExt;
use thiserror::Error;

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
            book.authors
                .iter()
                .map(|a| a.role.label(&a.name))
                .collect::<Vec<_>>()
                .join(LIST_SEPARATOR),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bookstore_core::{BookId, BookStream, Isbn, Quantity};

    pub(super) fn book(title: &str, publisher: Option<&str>, quantity: i64) -> Book {
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

    pub(super) fn run<E: Encoder>(mut encoder: E, books: &[E::Item]) -> Vec<u8> {
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
