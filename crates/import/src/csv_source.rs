//! CSV files: a header row naming the columns (any order), then one book per record.
//!
//! Columns (API.md "Import and export"): `isbn` and `title` are required; `subtitle`,
//! `authors` and `genres` (`;`-separated, in order), `publisher`, `published_year`,
//! `language`, `format`, `page_count`, `price` (a decimal such as `12.99`) with `currency`,
//! `quantity`, `reorder_point`, `reorder_quantity`, `location`, `description` are optional.
//! An unknown, repeated or missing required column refuses the whole file. An empty cell is
//! no value. Each record's line is the physical line it starts on (newlines inside quoted
//! fields count), the header being line 1.

use crate::counting::{Counting, RecordTooLong};
use crate::{ImportError, RowSource, SourceRow};
use bookstore_core::{ContributorRole, RawBook, RawContributor, RawPrice, ValidationErrors};
use csv::{ByteRecord, ReaderBuilder};
use std::io::Read;

/// The longest record accepted (bytes): far beyond any valid book (a description is at most
/// 20,000 characters), and a bound on the memory a record can take.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

macro_rules! columns {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A column of an import CSV.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Column {
            $($variant),+
        }

        impl Column {
            pub const ALL: &'static [Column] = &[$(Column::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Column::$variant => $name),+
                }
            }

            pub fn from_name(name: &str) -> Option<Column> {
                match name {
                    $($name => Some(Column::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

columns!(
    Isbn => "isbn",
    Title => "title",
    Subtitle => "subtitle",
    Authors => "authors",
    Genres => "genres",
    Publisher => "publisher",
    PublishedYear => "published_year",
    Language => "language",
    Format => "format",
    PageCount => "page_count",
    Price => "price",
    Currency => "currency",
    Quantity => "quantity",
    ReorderPoint => "reorder_point",
    ReorderQuantity => "reorder_quantity",
    Location => "location",
    Description => "description",
);

const REQUIRED: [Column; 2] = [Column::Isbn, Column::Title];

/// Reads books from a CSV file, one record at a time.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<Counting<R>>,
    columns: Vec<Column>,
    record: ByteRecord,
}

impl<R: Read + Send> CsvSource<R> {
    /// Reads and checks the header. `Header` when it is missing, not UTF-8, or names an
    /// unknown, repeated or no required column.
    pub fn new(read: R) -> Result<Self, ImportError> {
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(Counting::new(read, MAX_RECORD_BYTES));
        let header = reader.byte_headers().map_err(fatal)?.clone();
        if header.is_empty() || header.iter().all(|h| h.is_empty()) && header.len() == 1 {
            return Err(ImportError::Header(
                "the file is empty: a header row naming the columns is required".into(),
            ));
        }
        let mut columns = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| {
                ImportError::Header(format!(
                    "the header (line 1) is not valid UTF-8 in column {}",
                    i + 1
                ))
            })?;
            let name = name.trim_start_matches('\u{feff}').trim();
            let column = Column::from_name(&name.to_ascii_lowercase()).ok_or_else(|| {
                let known: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
                ImportError::Header(format!(
                    "unknown column '{}' (column {}); the columns are: {}",
                    name.chars().take(100).collect::<String>(),
                    i + 1,
                    known.join(", ")
                ))
            })?;
            if columns.contains(&column) {
                return Err(ImportError::Header(format!(
                    "column '{}' is named twice",
                    column.name()
                )));
            }
            columns.push(column);
        }
        for required in REQUIRED {
            if !columns.contains(&required) {
                return Err(ImportError::Header(format!(
                    "the required column '{}' is missing",
                    required.name()
                )));
            }
        }
        reader.get_mut().mark();
        Ok(Self {
            reader,
            columns,
            record: ByteRecord::new(),
        })
    }

    /// The columns of the header, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn row(&self) -> SourceRow {
        let line = self.record.position().map(|p| p.line()).unwrap_or(0);
        let mut errors = ValidationErrors::new();
        let mut cells: Vec<(Column, &str)> = Vec::with_capacity(self.columns.len());
        if self.record.len() != self.columns.len() {
            errors.add(
                "",
                format!(
                    "the record has {} fields, the header {}",
                    self.record.len(),
                    self.columns.len()
                ),
            );
        }
        for (column, raw) in self.columns.iter().zip(self.record.iter()) {
            match std::str::from_utf8(raw) {
                Ok(text) => cells.push((*column, text)),
                Err(_) => errors.add(column.name(), format!("is not valid UTF-8 (line {line})")),
            }
        }
        let isbn = cells
            .iter()
            .find(|(c, _)| *c == Column::Isbn)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let book = if errors.is_empty() {
            raw_book(&cells)
        } else {
            Err(errors)
        };
        SourceRow {
            line,
            record_reference: None,
            isbn,
            book,
        }
    }
}

impl<R: Read + Send> RowSource for CsvSource<R> {
    fn next_row(&mut self) -> Option<Result<SourceRow, ImportError>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                self.reader.get_mut().mark();
                Some(Ok(self.row()))
            }
            Err(err) => {
                let line = self.reader.position().line();
                Some(Err(match fatal(err) {
                    ImportError::Io(io)
                        if io.get_ref().is_some_and(|e| e.is::<RecordTooLong>()) =>
                    {
                        ImportError::Malformed(format!(
                            "the record after line {line} is longer than {MAX_RECORD_BYTES} bytes"
                        ))
                    }
                    other => other,
                }))
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.reader.get_ref().total()
    }
}

fn fatal(err: csv::Error) -> ImportError {
    match err.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::Malformed(format!("the CSV cannot be read: {other:?}")),
    }
}

fn cell(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| value.to_owned())
}

fn list(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn whole_number(column: Column, value: &str, errors: &mut ValidationErrors) -> Option<i64> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    errors.check(
        column.name(),
        trimmed.parse::<i64>().map_err(|_| "must be a whole number"),
    )
}

/// The book of a record's cells; field errors for cells that cannot be read as their column.
fn raw_book(cells: &[(Column, &str)]) -> Result<RawBook, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let mut raw = RawBook::default();
    let mut price = None;
    let mut currency = None;
    for &(column, value) in cells {
        match column {
            Column::Isbn => raw.isbn = cell(value),
            Column::Title => raw.title = cell(value),
            Column::Subtitle => raw.subtitle = cell(value),
            Column::Authors => {
                raw.authors = list(value)
                    .into_iter()
                    .map(|item| {
                        let (name, role) = ContributorRole::parse_label(&item);
                        RawContributor {
                            name: Some(name.to_owned()),
                            role: role.map(|r| r.as_str().to_owned()),
                            ..RawContributor::default()
                        }
                    })
                    .collect()
            }
            Column::Genres => raw.genres = list(value),
            Column::Publisher => raw.publisher = cell(value),
            Column::PublishedYear => raw.published_year = whole_number(column, value, &mut errors),
            Column::Language => raw.language = cell(value),
            Column::Format => raw.format = cell(value),
            Column::PageCount => raw.page_count = whole_number(column, value, &mut errors),
            Column::Price => price = cell(value).map(|p| p.trim().to_owned()),
            Column::Currency => currency = cell(value).map(|c| c.trim().to_owned()),
            Column::Quantity => raw.quantity = whole_number(column, value, &mut errors),
            Column::ReorderPoint => raw.reorder_point = whole_number(column, value, &mut errors),
            Column::ReorderQuantity => {
                raw.reorder_quantity = whole_number(column, value, &mut errors)
            }
            Column::Location => raw.location = cell(value),
            Column::Description => raw.description = cell(value),
        }
    }
    match (price, currency) {
        (Some(amount), Some(currency)) => raw.price = Some(RawPrice::Decimal { amount, currency }),
        (Some(_), None) => errors.add("currency", "is required with a price"),
        (None, _) => {}
    }
    if errors.is_empty() {
        Ok(raw)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
