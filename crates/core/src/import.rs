//! Imports of catalog files (CSV, ONIX): their modes, the outcome of each row, the record an
//! import keeps of its progress and rejected rows, and the port that stores that record.
//!
//! The rows themselves are written through [`CatalogStore::import_books`]
//! (crate::ports::CatalogStore::import_books), in batches.

use crate::error::StoreError;
use crate::ids::ImportId;
use crate::paging::{Page, PageRequest};
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The reason an import that a process was running when it stopped is failed with.
pub const INTERRUPTED: &str = "interrupted by a restart";

/// At most this many rejected rows of one import are kept (the count goes on): a file of a
/// million bad rows must not make a million error rows.
pub const MAX_KEPT_ERRORS: u64 = 10_000;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::book::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(crate::book::UnknownVariant::new(
                        other,
                        concat!($($text, ", "),+).trim_end_matches(", "),
                    )),
                }
            }
        }
    };
}

string_enum!(
    /// What an import does with a row whose ISBN is in the catalog already.
    ImportMode {
        /// Replaces the book (like `PUT`); a row that changes nothing writes nothing.
        Upsert => "upsert",
        /// Rejects the row.
        CreateOnly => "create_only",
    }
);

string_enum!(
    /// The kind of file an import reads.
    ImportFormat {
        Csv => "csv",
        Onix => "onix",
    }
);

string_enum!(
    ImportState {
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
);

/// What became of one valid row written by [`CatalogStore::import_books`].
///
/// [`CatalogStore::import_books`]: crate::ports::CatalogStore::import_books
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    Updated,
    /// The book exists and the row would change nothing: nothing was written.
    Unchanged,
    /// `create_only`: the book exists (in the catalog, or an earlier row of the file made it),
    /// and the row was rejected.
    Exists,
    /// The row lowers the book's quantity by more than the default location holds (a book
    /// write changes the stock there only, as `PUT /books/{id}` does): the row was rejected
    /// and nothing of it written.
    InsufficientStock {
        /// What the default location holds.
        available: i64,
    },
}

impl ImportOutcome {
    /// Why the row was rejected (its field and message), for a rejected row.
    pub fn rejection(&self) -> Option<(&'static str, String)> {
        match self {
            Self::Created | Self::Updated | Self::Unchanged => None,
            Self::Exists => Some((
                "isbn",
                "a book with this ISBN exists (mode create_only)".to_owned(),
            )),
            Self::InsufficientStock { available } => Some((
                "quantity",
                format!(
                    "the quantity can only be lowered by what the default location holds \
                     ({available}); move the stock at the other locations with stock movements \
                     first"
                ),
            )),
        }
    }
}

/// The running totals of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Rows (CSV records, ONIX products) read, valid or not.
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

impl ImportCounts {
    pub fn add(&mut self, outcome: ImportOutcome) {
        match outcome {
            ImportOutcome::Created => self.created += 1,
            ImportOutcome::Updated => self.updated += 1,
            ImportOutcome::Unchanged => self.unchanged += 1,
            ImportOutcome::Exists | ImportOutcome::InsufficientStock { .. } => self.rejected += 1,
        }
    }
}

/// A rejected row: where it is in the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRowError {
    /// CSV: the physical line the record starts on (1 is the header). ONIX: the product's
    /// position in the file (1 is the first product).
    pub line: u64,
    /// ONIX: the product's `RecordReference`, when it has one.
    pub record_reference: Option<String>,
    /// The row's ISBN as written, when it has one.
    pub isbn: Option<String>,
    /// The column (CSV) or field the message is about; `None` for the row as a whole.
    pub field: Option<String>,
    pub message: String,
}

/// An import as it is recorded: what it reads, how far it got, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub id: ImportId,
    pub format: ImportFormat,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub state: ImportState,
    pub counts: ImportCounts,
    pub bytes_read: u64,
    pub bytes_total: Option<u64>,
    /// Why it failed (the whole import, not a row).
    pub failure: Option<String>,
    /// The username of who started it.
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An import about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
    pub id: ImportId,
    pub format: ImportFormat,
    pub mode: ImportMode,
    pub dry_run: bool,
    pub bytes_total: Option<u64>,
    pub started_by: String,
}

/// Where a running import is: its totals and how much of the file it has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub counts: ImportCounts,
    pub bytes_read: u64,
}

/// The record of imports. A running import writes its progress (and the rows it rejected) at
/// least every few seconds; that write is also its heartbeat.
#[async_trait]
pub trait ImportStore: IdempotencyStore {
    /// Records a new running import (with the idempotency record, if given, in the same
    /// transaction).
    async fn create_import(
        &self,
        new: &NewImport,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Import, StoreError>;
    /// Records the progress of a running import and appends rejected rows (beyond
    /// [`MAX_KEPT_ERRORS`], only counted). `NotFound` when the import is no longer running
    /// (another replica failed it as stale): the caller stops.
    async fn record_import_progress(
        &self,
        id: ImportId,
        progress: &ImportProgress,
        errors: &[ImportRowError],
    ) -> Result<(), StoreError>;
    /// Ends a running import: `done`, or `failed` with `failure`.
    async fn finish_import(
        &self,
        id: ImportId,
        progress: &ImportProgress,
        failure: Option<&str>,
    ) -> Result<Import, StoreError>;
    async fn get_import(&self, id: ImportId) -> Result<Option<Import>, StoreError>;
    /// The rejected rows, in file order.
    async fn import_errors(
        &self,
        id: ImportId,
        page: &PageRequest,
    ) -> Result<Page<ImportRowError>, StoreError>;
    /// Fails every running import whose last heartbeat is older than `before`, with
    /// `reason`; returns how many.
    async fn fail_stale_imports(
        &self,
        before: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!(
            "create_only".parse::<ImportMode>(),
            Ok(ImportMode::CreateOnly)
        );
        assert_eq!(ImportMode::Upsert.to_string(), "upsert");
        let err = "merge".parse::<ImportMode>().expect_err("unknown");
        assert!(err.to_string().contains("upsert, create_only"), "{err}");
    }
}
