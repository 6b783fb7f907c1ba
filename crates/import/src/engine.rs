//! The import loop: rows in, batches of valid books to the catalog, progress out.

use crate::{ImportError, RowSource};
use async_trait::async_trait;
use bookstore_core::import::{ImportMode, ImportOutcome, ImportProgress, ImportRowError};
use bookstore_core::{
    AuthorRef, BookDraft, BookId, Catalog, CatalogError, GenreRef, ValidationErrors, WriteContext,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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

/// What a writer did with a part of a batch: `None` when it did not write it, because an
/// earlier part failed.
type PartWritten = Option<Result<Vec<ImportOutcome>, CatalogError>>;

/// A part of a batch for a writer, and where it says what became of it.
struct Job {
    drafts: Vec<BookDraft>,
    done: oneshot::Sender<PartWritten>,
}

/// The writers of an import, each a task that writes its parts of the batches in turn, one
/// transaction a part: a writer starts on its part of the next batch as soon as it is done
/// with this one, without waiting for the others (whose parts take longer or shorter), so
/// that no core idles at the end of each batch. Once a part fails, the parts not yet begun
/// are not written.
struct Writers {
    queues: Vec<mpsc::Sender<Job>>,
    stopped: Arc<AtomicBool>,
}

impl Writers {
    fn start(
        catalog: &Catalog,
        ctx: &WriteContext,
        options: ImportOptions,
    ) -> Result<Self, ImportError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| ImportError::Progress("an import runs on a Tokio runtime".into()))?;
        let stopped = Arc::new(AtomicBool::new(false));
        let queues = (0..options.writers.max(1))
            .map(|_| {
                // This batch's part and the next one's: never more.
                let (queue, jobs) = mpsc::channel(BATCHES_IN_FLIGHT);
                runtime.spawn(write_parts(
                    catalog.clone(),
                    ctx.clone(),
                    options,
                    jobs,
                    stopped.clone(),
                ));
                queue
            })
            .collect();
        Ok(Self { queues, stopped })
    }

    /// Hands the valid rows of `batch` to the writers (the rows of an ISBN always to the
    /// same one, so that they stay in order).
    async fn send(&self, mut batch: Batch) -> Sent {
        let writers = self.queues.len();
        let mut parts: Vec<Vec<BookDraft>> = (0..writers).map(|_| Vec::new()).collect();
        let mut part_of = Vec::with_capacity(batch.drafts.len());
        for draft in std::mem::take(&mut batch.drafts) {
            let part = part_of_isbn(draft.isbn().as_str(), writers);
            part_of.push(part);
            parts[part].push(draft);
        }
        let mut written = Vec::with_capacity(writers);
        for (queue, drafts) in self.queues.iter().zip(parts) {
            if drafts.is_empty() {
                written.push(None);
                continue;
            }
            let (done, outcome) = oneshot::channel();
            // A writer that is gone (its task panicked) drops the job: its part reads as
            // failed below.
            let _ = queue.send(Job { drafts, done }).await;
            written.push(Some(outcome));
        }
        Sent {
            batch,
            part_of,
            written,
        }
    }

    /// Writes no part that has not begun.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// Batches handed to the writers at once: the one being written and the next.
const BATCHES_IN_FLIGHT: usize = 2;

/// A writer's task: its parts, in the order they were read.
async fn write_parts(
    catalog: Catalog,
    ctx: WriteContext,
    options: ImportOptions,
    mut jobs: mpsc::Receiver<Job>,
    stopped: Arc<AtomicBool>,
) {
    while let Some(job) = jobs.recv().await {
        let written = if stopped.load(Ordering::Acquire) {
            None
        } else {
            let result = catalog
                .import_books(&ctx, &job.drafts, options.mode, options.dry_run)
                .await;
            if result.is_err() {
                stopped.store(true, Ordering::Release);
            }
            Some(result)
        };
        let _ = job.done.send(written);
    }
}

/// A batch handed to the writers: its rows as read (their drafts handed on), which part each
/// valid one went to, and what each part's writer will say of it (`None`: the part had no
/// rows).
struct Sent {
    batch: Batch,
    part_of: Vec<usize>,
    written: Vec<Option<oneshot::Receiver<PartWritten>>>,
}

impl Sent {
    /// Whether rows follow this batch in the file.
    fn goes_on(&self) -> bool {
        !self.batch.at_end && self.batch.broken.is_none()
    }
}

/// Waits for every part of `sent`, counts what the written ones did and reports the batch to
/// `sink`. The rows of a part that failed are not counted (its transaction wrote nothing);
/// the error of the first failed part, else the break in the file after the batch, else the
/// sink's, is returned.
async fn finish(
    sent: Sent,
    progress: &mut ImportProgress,
    sink: &mut dyn ProgressSink,
) -> Result<(), ImportError> {
    let Sent {
        batch:
            Batch {
                pending,
                mut rejected,
                rows,
                bytes_read,
                broken,
                ..
            },
        part_of,
        written,
    } = sent;
    let mut failure: Option<ImportError> = None;
    let mut outcomes: Vec<Option<std::vec::IntoIter<ImportOutcome>>> = Vec::new();
    for part in written {
        let Some(receiver) = part else {
            outcomes.push(Some(Vec::new().into_iter()));
            continue;
        };
        outcomes.push(match receiver.await {
            Ok(Some(Ok(done))) => Some(done.into_iter()),
            Ok(Some(Err(err))) => {
                failure.get_or_insert(err.into());
                None
            }
            // Not written after another part failed: that part's error is the one to tell.
            Ok(None) => None,
            Err(_) => {
                failure.get_or_insert(ImportError::Progress(
                    "a writer ended before it wrote its part".into(),
                ));
                None
            }
        });
    }
    // The rows that were not valid drafts, then those of the parts written: the rows of a
    // part that was not are not counted as read.
    let invalid = rows - pending.len() as u64;
    progress.counts.read += invalid;
    progress.counts.rejected += invalid;
    for (part, row) in part_of.into_iter().zip(pending) {
        let Some(outcome) = outcomes[part].as_mut() else {
            continue;
        };
        progress.counts.read += 1;
        let Some(outcome) = outcome.next() else {
            failure.get_or_insert(ImportError::Progress(
                "the catalog gave fewer outcomes than rows".into(),
            ));
            break;
        };
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
    let reported = sink.batch_done(progress, rejected).await;
    match (failure, broken) {
        (Some(err), _) | (None, Some(err)) => Err(err),
        (None, None) => reported,
    }
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

/// Reads `source` to its end, writing its valid rows through `catalog` in batches and
/// reporting to `sink` after each. Returns the final totals; an error ends the import where
/// it is: the batches written before stay, and when the file breaks off (broken XML, a
/// record beyond the bounds) the valid rows read before the break are written too. The next
/// batch is read and handed to the writers while this one is written (two batches in memory
/// at most); when one fails, the other is still waited for and reported, so that every
/// batch written is counted and nothing writes once this returns. Runs on a Tokio runtime.
pub async fn run(
    source: &mut dyn RowSource,
    catalog: &Catalog,
    ctx: &WriteContext,
    options: ImportOptions,
    sink: &mut dyn ProgressSink,
) -> Result<ImportProgress, ImportError> {
    let size = options.batch.max(1);
    let writers = Writers::start(catalog, ctx, options)?;
    let mut progress = ImportProgress::default();
    let mut current = writers.send(read_batch(source, size)).await;
    loop {
        let next = if current.goes_on() {
            Some(writers.send(read_batch(source, size)).await)
        } else {
            None
        };
        if let Err(err) = finish(current, &mut progress, sink).await {
            writers.stop();
            if let Some(next) = next {
                // Written, in part or whole, before the writers were stopped: reported, even
                // to a sink that asked to stop (it records what was written).
                let _ = finish(next, &mut progress, sink).await;
            }
            return Err(err);
        }
        match next {
            Some(next) => current = next,
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
