//! `bookstore index rebuild --target dynamodb`: the table rebuilt from the store while the
//! service runs and its subscriber keeps writing.
//!
//! 1. Every book of the store is put with the same version condition as the subscriber's
//!    writes: a book the subscriber has already written at a newer version, or deleted,
//!    keeps that; an older or missing item is replaced.
//! 2. The table is scanned; an item of a book that was not in the store's export is checked
//!    against the store by id: a book created after the export began is there and is left
//!    alone; one the store no longer has gets a tombstone, on condition that its item is still
//!    the one scanned (a write since then wins, and a later delete event still applies).

use super::{BooksTable, DynamoError, Stored, Written};
use bookstore_core::ids::BookId;
use bookstore_core::{BookSearch, CatalogStore, StoreError};
use futures_util::StreamExt;
use std::collections::HashSet;
use uuid::Uuid;

/// Writes in flight at once.
const CONCURRENT: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Table(#[from] DynamoError),
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
    #[error("a book's JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a rebuild did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Books in the store's export.
    pub books: u64,
    /// Of those, items written (missing or older in the table).
    pub written: u64,
    /// Items of books the store no longer has, marked deleted.
    pub removed: u64,
    /// Items not in the export but in the store when checked (created meanwhile).
    pub kept: u64,
}

pub async fn rebuild(
    table: &BooksTable,
    store: &dyn CatalogStore,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Rebuilt, RebuildError> {
    let mut done = Rebuilt::default();
    let mut exported: HashSet<String> = HashSet::new();
    let everything = BookSearch::default();
    let books = store.export_books(&everything).map(|book| async move {
        let book = serde_json::to_value(book?)?;
        let written = table.put_book(&book).await?;
        let id = book["id"].as_str().unwrap_or_default().to_owned();
        Ok::<_, RebuildError>((id, written))
    });
    let mut writes = books.buffer_unordered(CONCURRENT);
    while let Some(result) = writes.next().await {
        let (id, written) = result?;
        done.books += 1;
        if written == Written::Applied {
            done.written += 1;
        }
        exported.insert(id);
        progress(done.books);
    }
    drop(writes);
    for item in table.scan().await? {
        let Stored::Book(_) = &item else {
            continue;
        };
        if exported.contains(item.id()) {
            continue;
        }
        let in_store = match Uuid::parse_str(item.id()) {
            Ok(id) => store.get_book(BookId::from_uuid(id)).await?.is_some(),
            // Not an id the store could have: a stray item.
            Err(_) => false,
        };
        if in_store {
            done.kept += 1;
        } else if table.delete_if_unchanged(item.id(), item.version()).await? == Written::Applied {
            done.removed += 1;
        }
    }
    Ok(done)
}
