//! The search read model (issue 17): an embedded Tantivy index of the books, kept current
//! from the store's event log, that answers `GET /books?q=…` and its filters.
//!
//! - [`schema`]: the fields and analyzers (accents folded, English stems);
//! - [`query`]: `TextQuery` and the filters as a Tantivy query, in passes (as typed with the
//!   last word a prefix, near spellings, any word);
//! - [`collect`] and [`cursor`]: keyset pages with facets, statistics pinned in cursors;
//! - [`index`]: applying changes in per-book version order, the log position in each commit;
//! - [`follow`]: the subscriber that applies the event log; [`build`] and [`generations`]:
//!   a fresh index from the store, swapped in once it has caught up;
//! - [`service`]: whether a search is answered by the index or left to the store.

pub mod build;
pub mod collect;
pub mod cursor;
pub mod facets;
pub mod follow;
pub mod generations;
mod guard;
pub mod index;
pub mod query;
pub mod schema;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use build::{build, BuildError, Built};
pub use index::{Change, SearchIndex};
pub use service::{Freshness, IndexReadiness, IndexService, State};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    #[error("the index holds no stored book for {0}")]
    Corrupt(uuid::Uuid),
    #[error(
        "the search index was built by another version of the service (other fields or order)"
    )]
    Outdated,
}
