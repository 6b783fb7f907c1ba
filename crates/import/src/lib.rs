//! Streaming import of catalog files into the catalog.
//!
//! A [`RowSource`] reads a file one row at a time ([`CsvSource`], [`OnixSource`]):
//! each row is its position in the file and the book as written. [`run`] validates every
//! row into a [`BookDraft`](bookstore_core::BookDraft) and hands the valid ones to the catalog
//! in batches ([`Catalog::import_books`](bookstore_core::Catalog::import_books): one
//! transaction per batch, with history and events), reporting its progress and the rejected
//! rows after each batch. The next batch is read while one is written: at most two batches of
//! rows are in memory at any time, whatever the size of the file.
//!
//! Rows with the same ISBN in one file: each is applied in file order, so the later row wins
//! (in `create_only` mode the later one is rejected: the book exists by then).

mod counting;
pub mod csv_source;
mod engine;
pub mod onix_source;

pub use csv_source::{Column, CsvSource};
pub use engine::{run, ImportOptions, ProgressSink, DEFAULT_BATCH};
pub use onix_source::OnixSource;

use bookstore_core::import::ImportRowError;
use bookstore_core::{CatalogError, RawBook, ValidationErrors};
use thiserror::Error;

/// One row of a file: where it is, and the book as written (or why it cannot be one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// CSV: the physical line the record starts on. ONIX: the product's position (from 1).
    pub line: u64,
    /// ONIX: the product's `RecordReference`.
    pub record_reference: Option<String>,
    /// The ISBN as written, for the error list.
    pub isbn: Option<String>,
    /// The fields read, or what made them unreadable (a number that is not one, bad UTF-8).
    pub book: Result<RawBook, ValidationErrors>,
}

impl SourceRow {
    /// The rejected-row entries of `errors`, one per field.
    pub fn errors(&self, errors: &ValidationErrors) -> Vec<ImportRowError> {
        errors
            .errors()
            .iter()
            .map(|e| ImportRowError {
                line: self.line,
                record_reference: self.record_reference.clone(),
                isbn: self.isbn.clone(),
                field: (!e.field.is_empty()).then(|| e.field.clone()),
                message: e.message.clone(),
            })
            .collect()
    }
}

/// A file read one row at a time.
pub trait RowSource: Send {
    /// The next row; `None` at the end of the file; an error ends the import (the file cannot
    /// be read on: I/O, a record beyond every bound, broken XML).
    fn next_row(&mut self) -> Option<Result<SourceRow, ImportError>>;
    /// How many bytes of the file have been read so far.
    fn bytes_read(&self) -> u64;
}

/// What ends an import before the end of its file.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The CSV header is missing, or names a column that is unknown, missing or repeated.
    #[error("{0}")]
    Header(String),
    /// The file cannot be read on at this point.
    #[error("{0}")]
    Malformed(String),
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing to the catalog failed: {0}")]
    Catalog(#[from] CatalogError),
    /// The progress could not be recorded, or the import was stopped meanwhile.
    #[error("{0}")]
    Progress(String),
}
