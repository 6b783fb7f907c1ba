//! Building an index from the store: every book of one snapshot, with the event-log position
//! read before the snapshot, so that the events after it (replayed by the follower, dropped
//! where the snapshot already has their version) complete it.

use crate::{generations, IndexError, SearchIndex};
use bookstore_core::outbox::EventLog;
use bookstore_core::{Book, BookSearch, CatalogStore};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Books handed to the writer at a time.
const CHUNK: usize = 2_000;

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    pub generation: PathBuf,
    pub position: i64,
    pub books: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("reading the store: {0}")]
    Store(#[from] bookstore_core::StoreError),
    #[error("the build's writer stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        Self::Index(IndexError::Io(e))
    }
}

/// Builds a new generation in `dir` from `store` (not yet published).
pub async fn build(
    store: &dyn CatalogStore,
    log: &dyn EventLog,
    dir: &Path,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Built, BuildError> {
    // The position first, then the snapshot: whatever the snapshot misses comes after it.
    let position = log.head().await?;
    let generation = generations::fresh(dir)?;
    let index = Arc::new(SearchIndex::open(&generation)?);
    let everything = BookSearch::default();
    let mut books = store.export_books(&everything);
    let mut chunk: Vec<(Book, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let mut count = 0u64;
    let mut writing: Option<tokio::task::JoinHandle<Result<(), IndexError>>> = None;
    loop {
        let next = books.next().await;
        let end = next.is_none();
        if let Some(book) = next {
            let book = book?;
            let json = serde_json::to_vec(&book).map_err(IndexError::from)?;
            chunk.push((book, json));
        }
        if chunk.len() >= CHUNK || (end && !chunk.is_empty()) {
            // One chunk is written while the next is read.
            if let Some(previous) = writing.take() {
                previous.await??;
            }
            count += chunk.len() as u64;
            progress(count);
            let ready = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            let index = index.clone();
            writing = Some(tokio::task::spawn_blocking(move || {
                index.add_unchecked(&ready)
            }));
        }
        if end {
            break;
        }
    }
    drop(books);
    if let Some(previous) = writing.take() {
        previous.await??;
    }
    let finishing = index.clone();
    tokio::task::spawn_blocking(move || finishing.apply(&[], position)).await??;
    if let Ok(index) = Arc::try_unwrap(index) {
        tokio::task::spawn_blocking(move || index.finish()).await??;
    }
    Ok(Built {
        generation,
        position,
        books: count,
    })
}
