//! The import loop: rows in, batches of valid books to the catalog, progress out.

use crate::{ImportError, RowSource};
use async_trait::async_trait;
use bookstore_core::import::{ImportMode, ImportOutcome, ImportProgress, ImportRowError};
use bookstore_core::{
    AuthorRef, BookDraft, BookId, Catalog, GenreRef, ValidationErrors, WriteContext,
};
use std::future::Future;
use std::pin::Pin;

/// Rows per batch (and per transaction): large enough that a transaction's cost is shared by
/// many rows, small enough that a batch's memory does not matter.
pub const DEFAULT_BATCH: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub mode: ImportMode,
    pub dry_run: bool,
    /// Rows read per batch, valid or not.
    pub batch: usize,
    /// Transactions a batch is written in at once, its rows parted by ISBN (so that the rows
    /// of one ISBN stay in order, in one of them). More than one only pays where the database
    /// runs them side by side (PostgreSQL) and has a core to spare.
    pub writers: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            mode: ImportMode::Upsert,
            dry_run: false,
            batch: DEFAULT_BATCH,
            writers: 1,
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

/// A batch of rows as read: the valid ones as drafts (with where they are), the rejected ones
/// as errors, and how the reading ended.
struct Batch {
    drafts: Vec<BookDraft>,
    pending: Vec<Pending>,
    rejected: Vec<ImportRowError>,
    /// Rows read, valid or not.
    rows: u64,
    /// Bytes of the file read once the batch was.
    bytes_read: u64,
    at_end: bool,
    /// What broke the file off after the batch's rows.
    broken: Option<ImportError>,
}

/// Reads and validates up to `size` rows.
fn read_batch(source: &mut dyn RowSource, size: usize) -> Batch {
    let mut batch = Batch {
        drafts: Vec::with_capacity(size),
        pending: Vec::with_capacity(size),
        rejected: Vec::new(),
        rows: 0,
        bytes_read: 0,
        at_end: false,
        broken: None,
    };
    while batch.rows < size as u64 {
        let row = match source.next_row() {
            None => {
                batch.at_end = true;
                break;
            }
            Some(Err(err)) => {
                // The rows read before the file broke off are written first.
                batch.broken = Some(err);
                break;
            }
            Some(Ok(row)) => row,
        };
        batch.rows += 1;
        match row
            .book
            .as_ref()
            .map_err(Clone::clone)
            .and_then(BookDraft::parse)
            .and_then(names_only)
            // Numbered in file order, before the rows are parted between writers.
            .map(|draft| draft.with_new_id(BookId::generate()))
        {
            Ok(draft) => {
                batch.drafts.push(draft);
                batch.pending.push(Pending {
                    line: row.line,
                    record_reference: row.record_reference,
                    isbn: row.isbn,
                });
            }
            Err(errors) => batch.rejected.extend(row.errors(&errors)),
        }
    }
    batch.bytes_read = source.bytes_read();
    batch
}

type Written = Pin<Box<dyn Future<Output = Result<Vec<ImportOutcome>, ImportError>> + Send>>;

/// Writes the valid rows of a batch, in `options.writers` transactions at once (the rows of
/// an ISBN in one of them), and gives their outcomes in the batch's order. On a Tokio runtime
/// each write runs as a task of its own, so that the next batch is read and validated while
/// the database writes this one (two batches in memory at most); elsewhere each is awaited
/// in turn when the outcomes are.
fn write_batch(
    catalog: &Catalog,
    ctx: &WriteContext,
    options: ImportOptions,
    drafts: Vec<BookDraft>,
) -> Written {
    let writers = options.writers.clamp(1, drafts.len().max(1));
    if writers == 1 {
        return write_part(catalog, ctx, options, drafts);
    }
    let mut parts: Vec<Vec<BookDraft>> = (0..writers).map(|_| Vec::new()).collect();
    let mut part_of = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let part = part_of_isbn(draft.isbn().as_str(), writers);
        part_of.push(part);
        parts[part].push(draft);
    }
    let writes: Vec<Written> = parts
        .into_iter()
        .map(|part| write_part(catalog, ctx, options, part))
        .collect();
    Box::pin(async move {
        // Every write is awaited, so that none is still running when one failed.
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            results.push(write.await);
        }
        let mut outcomes = Vec::with_capacity(results.len());
        for result in results {
            outcomes.push(result?.into_iter());
        }
        part_of
            .into_iter()
            .map(|part| {
                outcomes[part].next().ok_or_else(|| {
                    ImportError::Progress("the catalog gave fewer outcomes than rows".into())
                })
            })
            .collect()
    })
}

/// Which of `parts` writes the rows of `isbn`: FNV-1a, the same for an ISBN in every batch.
/// Its high bits are taken: the lowest is the parity of the digits' sum, which the check
/// digit of an ISBN-13 makes even.
fn part_of_isbn(isbn: &str, parts: usize) -> usize {
    let hash = isbn.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    ((hash >> 32) % parts as u64) as usize
}

/// Writes `drafts` in one transaction: a task of its own on a Tokio runtime.
fn write_part(
    catalog: &Catalog,
    ctx: &WriteContext,
    options: ImportOptions,
    drafts: Vec<BookDraft>,
) -> Written {
    let catalog = catalog.clone();
    let ctx = ctx.clone();
    let write = async move {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        Ok(catalog
            .import_books(&ctx, &drafts, options.mode, options.dry_run)
            .await?)
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let task = runtime.spawn(write);
            Box::pin(async move {
                task.await.map_err(|err| {
                    ImportError::Progress(format!("writing a batch failed: {err}"))
                })?
            })
        }
        Err(_) => Box::pin(write),
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
    let size = options.batch.max(1);
    let mut progress = ImportProgress::default();
    let mut batch = read_batch(source, size);
    loop {
        let Batch {
            drafts,
            pending,
            mut rejected,
            rows,
            bytes_read,
            at_end,
            broken,
        } = batch;
        let written = write_batch(catalog, ctx, options, drafts);
        // The next batch is read while this one is written; not past the end or a break.
        let next = (!at_end && broken.is_none()).then(|| read_batch(source, size));
        let outcomes = written.await?;
        progress.counts.read += rows;
        // The rows that were not valid drafts.
        progress.counts.rejected += rows - pending.len() as u64;
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
        progress.bytes_read = bytes_read;
        sink.batch_done(&progress, rejected).await?;
        if let Some(err) = broken {
            return Err(err);
        }
        match next {
            Some(next) => batch = next,
            None => return Ok(progress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_of_isbn;

    /// Valid ISBN-13s numbered from 1 (the benchmark's): every digit sum is even.
    fn isbn(n: u32) -> String {
        bookstore_core::Isbn::numbered(n).as_str().to_owned()
    }

    #[test]
    fn isbns_are_parted_evenly_and_always_alike() {
        for parts in [2, 3] {
            let mut counts = vec![0u32; parts];
            for n in 1..=3000 {
                let part = part_of_isbn(&isbn(n), parts);
                assert_eq!(part, part_of_isbn(&isbn(n), parts));
                counts[part] += 1;
            }
            let even = 3000 / parts as u32;
            assert!(
                counts
                    .iter()
                    .all(|&c| c > even * 9 / 10 && c < even * 11 / 10),
                "{parts} parts: {counts:?}"
            );
        }
        assert_eq!(part_of_isbn(&isbn(1), 1), 0);
    }
}
