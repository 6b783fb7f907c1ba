//! The authors and genres an upsert's batch names: created before its transaction, and
//! deleted again when nothing came to name them.

use super::ImportWrites;
use crate::catalog::begin_write;
use crate::catalog::named::{Ref, ResolveNamed};
use crate::error::backend;
use crate::sql;
use bookstore_core::{AuthorRef, BookDraft, GenreRef, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Creates the authors and genres `drafts` name that do not exist yet, each statement
/// committed on its own, before the batch's transaction; the batch then finds them all.
///
/// Why: a writer that creates an author holds its key until it commits, and another that
/// names the same new author waits for that. Two transactions writing a batch side by side
/// (an import's writers, parted by ISBN) would then mostly run one after the other, their
/// rows naming the same new authors. Only for upserts, which write every row they read (but
/// those a stock check refuses, whose new names [`super::import_books`] deletes again): a
/// `create_only` row whose ISBN exists names nothing to create.
pub(super) async fn create_names<D: ResolveNamed + ImportWrites>(
    store: &D,
    drafts: &[BookDraft],
    now: DateTime<Utc>,
) -> Result<CreatedNames, StoreError> {
    let authors: Vec<Ref<'_>> = drafts
        .iter()
        .flat_map(|d| d.authors().iter())
        .filter_map(|c| match &c.author {
            AuthorRef::Name(name) => Some(Ref::Name(name)),
            AuthorRef::Id(_) => None,
        })
        .collect();
    let genres: Vec<Ref<'_>> = drafts
        .iter()
        .flat_map(|d| d.genres().iter())
        .filter_map(|g| match g {
            GenreRef::Name(name) => Some(Ref::Name(name)),
            GenreRef::Id(_) => None,
        })
        .collect();
    let mut created = CreatedNames::default();
    if authors.is_empty() && genres.is_empty() {
        return Ok(created);
    }
    let mut conn = store.writer().acquire().await.map_err(backend)?;
    created.authors = D::create_missing(&mut conn, &sql::AUTHORS, &authors, now).await?;
    created.genres = D::create_missing(&mut conn, &sql::GENRES, &genres, now).await?;
    Ok(created)
}

/// The authors and genres [`create_names`] created, by id.
#[derive(Default)]
pub(crate) struct CreatedNames {
    pub(crate) authors: Vec<Uuid>,
    pub(crate) genres: Vec<Uuid>,
}

impl CreatedNames {
    pub(super) fn is_empty(&self) -> bool {
        self.authors.is_empty() && self.genres.is_empty()
    }
}

/// Deletes those of `created` that no book names (nor, for a genre, nests under), in a
/// transaction of its own.
pub(super) async fn remove_unused_names<D: ImportWrites>(
    store: &D,
    created: &CreatedNames,
) -> Result<(), StoreError> {
    let mut tx = begin_write(store).await?;
    D::remove_unused_names(&mut tx, created).await?;
    tx.commit().await.map_err(backend)
}
