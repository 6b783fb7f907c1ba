//! The import loop: rows in, batches of valid books to the catalog, progress out.

use crate::{ImportError, RowSource};
use async_trait::async_trait;
use bookstore_core::import::{ImportMode, ImportProgress, ImportRowError};
use bookstore_core::{AuthorRef, BookDraft, Catalog, GenreRef, ValidationErrors, WriteContext};

/// Rows per batch (and per transaction): large enough that a transaction's cost is shared by
/// many rows, small enough that a batch's memory does not matter.
pub const DEFAULT_BATCH: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub mode: ImportMode,
    pub dry_run: bool,
    /// Rows read per batch, valid or not.
    pub batch: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            mode: ImportMode::Upsert,
            dry_run: false,
            batch: DEFAULT_BATCH,
        }
    }
}

/// Where an import reports, after every batch: the totals so far and the rows the batch
/// rejected. An error stops the import.
#[async_trait]
pub trait ProgressSink: Send {
    async fn batch_done(
        &mut self,
        progress: &ImportProgress,
        rejected: Vec<ImportRowError>,
    ) -> Result<(), ImportError>;
}

/// A valid row of the batch being gathered: its draft and where it is, for a rejection by
/// the store.
struct Pending {
    line: u64,
    record_reference: Option<String>,
    isbn: Option<String>,
}

/// A file names its genres (and authors): a value that reads as an id (a UUID) would make
/// the catalog look for a genre of that id, and fail the whole batch when there is none.
fn names_only(draft: BookDraft) -> Result<BookDraft, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    for (i, genre) in draft.genres().iter().enumerate() {
        if matches!(genre, GenreRef::Id(_)) {
            errors.add(format!("genres[{i}]"), "must be a genre name, not an id");
        }
    }
    for (i, c) in draft.authors().iter().enumerate() {
        if matches!(c.author, AuthorRef::Id(_)) {
            errors.add(format!("authors[{i}]"), "must be a name, not an id");
        }
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

/// Reads `source` to its end, writing its valid rows through `catalog` in batches and
/// reporting to `sink` after each. Returns the final totals; an error ends the import where
/// it is: the batches written before stay, and when the file breaks off (broken XML, a
/// record beyond the bounds) the valid rows read before the break are written too.
pub async fn run(
    source: &mut dyn RowSource,
    catalog: &Catalog,
    ctx: &WriteContext,
    options: ImportOptions,
    sink: &mut dyn ProgressSink,
) -> Result<ImportProgress, ImportError> {
    let batch = options.batch.max(1);
    let mut progress = ImportProgress::default();
    loop {
        let mut drafts: Vec<BookDraft> = Vec::with_capacity(batch);
        let mut pending: Vec<Pending> = Vec::with_capacity(batch);
        let mut rejected: Vec<ImportRowError> = Vec::new();
        let mut rows = 0;
        let mut at_end = false;
        let mut broken = None;
        while rows < batch {
            let row = match source.next_row() {
                None => {
                    at_end = true;
                    break;
                }
                Some(Err(err)) => {
                    // The rows read before the file broke off are written first.
                    broken = Some(err);
                    break;
                }
                Some(Ok(row)) => row,
            };
            rows += 1;
            progress.counts.read += 1;
            match row
                .book
                .as_ref()
                .map_err(Clone::clone)
                .and_then(BookDraft::parse)
                .and_then(names_only)
            {
                Ok(draft) => {
                    drafts.push(draft);
                    pending.push(Pending {
                        line: row.line,
                        record_reference: row.record_reference,
                        isbn: row.isbn,
                    });
                }
                Err(errors) => {
                    progress.counts.rejected += 1;
                    rejected.extend(row.errors(&errors));
                }
            }
        }
        if !drafts.is_empty() {
            let outcomes = catalog
                .import_books(ctx, &drafts, options.mode, options.dry_run)
                .await?;
            for (outcome, row) in outcomes.into_iter().zip(pending) {
                progress.counts.add(outcome);
                if let Some((field, message)) = outcome.rejection() {
                    rejected.push(ImportRowError {
                        line: row.line,
                        record_reference: row.record_reference,
                        isbn: row.isbn,
                        field: Some(field.into()),
                        message,
                    });
                }
            }
        }
        progress.bytes_read = source.bytes_read();
        sink.batch_done(&progress, rejected).await?;
        if let Some(err) = broken {
            return Err(err);
        }
        if at_end {
            return Ok(progress);
        }
    }
}
