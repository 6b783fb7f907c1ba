//! Imports: a batch of books written by ISBN in one transaction, each row as a create or a
//! replace would write it (history, event, stock movement), or not at all when it changes
//! nothing.
//!
//! A batch is written set-based, a statement per kind of write whatever the number of rows
//! (each store's [`ImportWrites`]: PostgreSQL binds one array per column, SQLite runs
//! many-row statements): the ISBNs looked up, the books to replace read (and locked), the
//! authors and genres matched or created, the stock at the default location read; then the
//! new and the changed books written with their search text, their links, stock levels,
//! movements, history rows and events; last, on PostgreSQL, the words of the written books
//! (`search_words`). The search text and the words are the import's to write: it tells the
//! link and word triggers to leave them (migration 0017), so a book is written once and the
//! words' lock is held only from the end of the batch to its commit. The batch is split into
//! segments at a repeated ISBN, so that the later row sees what the earlier one wrote. New
//! authors and genres of an upsert are created before the batch's transaction (see
//! [`create_names`]), and deleted again when the batch fails (see [`import_books`]).

mod names;
mod pg;
mod sqlite;

pub(crate) use names::CreatedNames;
use names::{create_names, remove_unused_names};

use super::named::{Ref, ResolveNamed};
use super::stock::{book_write_movement, At};
use super::{begin_write, Dialect};
use crate::error::{backend, is_unique_violation, json_error};
use crate::retry::retrying;
use crate::rows::BookParts;
use crate::sql;
use crate::time;
use bookstore_core::event::{BookEventKind, CloudEvent};
use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::{
    AuthorId, AuthorRef, Book, BookDraft, BookId, Contributor, GenreId, GenreRef, GenreTag,
    HistoryAction, Quantity, StockMovement, StockMovementKind, StoreError, WriteContext,
};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::Database;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The reason of the stock movements an import records.
const REASON: &str = "import";

/// A written book's history row and event (whose data is the book after the change, as the
/// history row keeps it: serialized once for both).
pub(crate) struct Change {
    pub(crate) book_id: Uuid,
    pub(crate) version: i64,
    pub(crate) action: HistoryAction,
    pub(crate) before: Option<serde_json::Value>,
    pub(crate) event: CloudEvent<Box<RawValue>>,
}

/// The links a batch replaces, of the replaced books whose contributors or genres changed:
/// the old ones deleted, the books' new ones written.
#[derive(Default)]
pub(crate) struct Relinks<'a> {
    pub(crate) authors: Vec<&'a Book>,
    pub(crate) genres: Vec<&'a Book>,
}

/// The statements of an import's batch, each writing or reading the rows of the whole batch
/// at once: each store implements them (`pg.rs`, `sqlite.rs`).
pub(crate) trait ImportWrites: Dialect {
    /// Starts a batch's transaction: tells the database that the books' search text comes
    /// with them, where its triggers would otherwise work it out again.
    async fn begin_batch(conn: &mut <Self::Db as Database>::Connection) -> Result<(), StoreError>;
    /// Ends a batch's writes, before its commit: whatever the triggers left to the import,
    /// for the books written (created or changed), whose search words are `words` (as
    /// [`Self::insert_books`] and [`Self::update_books`] gave them).
    async fn end_batch(
        conn: &mut <Self::Db as Database>::Connection,
        words: &[String],
    ) -> Result<(), StoreError>;
    /// The ids of the books with these ISBNs, by ISBN.
    async fn ids_by_isbn(
        conn: &mut <Self::Db as Database>::Connection,
        isbns: &[&str],
    ) -> Result<HashMap<String, Uuid>, StoreError>;
    /// The books `ids` (those that exist), locked until the end of the transaction where the
    /// database locks rows.
    async fn books_for_write(
        conn: &mut <Self::Db as Database>::Connection,
        ids: &[Uuid],
    ) -> Result<Vec<Book>, StoreError>;
    /// The default location, where a book write changes the stock.
    async fn default_location(
        conn: &mut <Self::Db as Database>::Connection,
    ) -> Result<At, StoreError>;
    /// The stock of the books `ids` at `location` (absent: none there).
    async fn levels_at(
        conn: &mut <Self::Db as Database>::Connection,
        location: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, i64>, StoreError>;
    /// Inserts new books with their search text and their contributor and genre links. A
    /// taken ISBN (a concurrent writer's) is `DuplicateIsbn`. Gives the distinct words of
    /// their search documents, where the import adds them itself (PostgreSQL).
    async fn insert_books(
        conn: &mut <Self::Db as Database>::Connection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError>;
    /// Rewrites the rows of existing books, with their search text; gives their words as
    /// [`Self::insert_books`] does.
    async fn update_books(
        conn: &mut <Self::Db as Database>::Connection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError>;
    async fn relink(
        conn: &mut <Self::Db as Database>::Connection,
        relinks: &Relinks<'_>,
    ) -> Result<(), StoreError>;
    /// Sets the stock of books at `location`: `(book, quantity)`.
    async fn set_levels(
        conn: &mut <Self::Db as Database>::Connection,
        location: Uuid,
        levels: &[(Uuid, i64)],
    ) -> Result<(), StoreError>;
    async fn insert_movements(
        conn: &mut <Self::Db as Database>::Connection,
        movements: &[StockMovement],
    ) -> Result<(), StoreError>;
    /// Deletes the authors and genres of `created` that nothing references, in the caller's
    /// transaction. Where writers run side by side, it first locks them: a writer that
    /// linked one meanwhile has committed by then (and the link is seen), one that links one
    /// later waits for the delete (and fails on the foreign key).
    async fn remove_unused_names(
        conn: &mut <Self::Db as Database>::Connection,
        created: &CreatedNames,
    ) -> Result<(), StoreError>;
    /// The history rows and outbox events of the written books.
    async fn record_changes(
        conn: &mut <Self::Db as Database>::Connection,
        changes: &[Change],
        ctx: &WriteContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Writes `drafts` in order in one transaction (rolled back for a dry run), retried when a
/// concurrent writer aborted it. The authors and genres an upsert names are created first,
/// each statement committed on its own (see [`create_names`]); when the batch then fails, or
/// rejects rows for their stock, those of them that no book names are deleted again, so
/// that a batch leaves no name behind that it did not link.
pub(crate) async fn import_books<D: ResolveNamed + ImportWrites>(
    store: &D,
    drafts: &[BookDraft],
    mode: ImportMode,
    dry_run: bool,
    ctx: &WriteContext,
) -> Result<Vec<ImportOutcome>, StoreError> {
    let created = if mode == ImportMode::Upsert && !dry_run {
        create_names::<D>(store, drafts, time::now()).await?
    } else {
        CreatedNames::default()
    };
    let attempt = || retrying(|| import_books_once(store, drafts, mode, dry_run, ctx));
    let written = match attempt().await {
        // A concurrent writer created one of the batch's new ISBNs first: the batch again
        // finds that book and replaces it.
        Err(StoreError::DuplicateIsbn { .. }) => attempt().await,
        other => other,
    };
    let all_linked = written.as_ref().is_ok_and(|outcomes| {
        !outcomes
            .iter()
            .any(|o| matches!(o, ImportOutcome::InsufficientStock { .. }))
    });
    if !all_linked && !created.is_empty() {
        // The batch's error is what its caller must see; a name left behind is only untidy.
        if let Err(err) = remove_unused_names::<D>(store, &created).await {
            tracing::warn!(error = %err, "removing the unused names a failed import batch created");
        }
    }
    written
}

/// Writes `drafts` in order in one transaction (rolled back for a dry run).
async fn import_books_once<D: ResolveNamed + ImportWrites>(
    store: &D,
    drafts: &[BookDraft],
    mode: ImportMode,
    dry_run: bool,
    ctx: &WriteContext,
) -> Result<Vec<ImportOutcome>, StoreError> {
    let now = time::now();
    let mut tx = begin_write(store).await?;
    D::begin_batch(&mut tx).await?;
    let mut outcomes = Vec::with_capacity(drafts.len());
    let mut words = HashSet::new();
    let mut start = 0;
    while start < drafts.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < drafts.len() && seen.insert(drafts[end].isbn().as_str()) {
            end += 1;
        }
        let segment = &drafts[start..end];
        write_segment::<D>(&mut tx, segment, mode, ctx, now, &mut outcomes, &mut words).await?;
        start = end;
    }
    let words: Vec<String> = words.into_iter().collect();
    D::end_batch(&mut tx, &words).await?;
    if dry_run {
        tx.rollback().await.map_err(backend)?;
    } else {
        tx.commit().await.map_err(backend)?;
    }
    Ok(outcomes)
}

/// What a row of a segment would write, before the stock is checked.
enum Row {
    Exists,
    Unchanged,
    Create(Box<Book>),
    Replace { before: Box<Book>, after: Box<Book> },
}

/// Writes rows of distinct ISBNs; the search words of the books it creates or changes go to
/// `words`.
async fn write_segment<D: ResolveNamed + ImportWrites>(
    conn: &mut <D::Db as Database>::Connection,
    drafts: &[BookDraft],
    mode: ImportMode,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    outcomes: &mut Vec<ImportOutcome>,
    words: &mut HashSet<String>,
) -> Result<(), StoreError> {
    let isbns: Vec<&str> = drafts.iter().map(|d| d.isbn().as_str()).collect();
    let existing = D::ids_by_isbn(conn, &isbns).await?;
    let mut current: HashMap<Uuid, Book> = HashMap::new();
    if mode == ImportMode::Upsert && !existing.is_empty() {
        let ids: Vec<Uuid> = existing.values().copied().collect();
        current = D::books_for_write(conn, &ids)
            .await?
            .into_iter()
            .map(|book| (book.id.as_uuid(), book))
            .collect();
    }
    // `None`: the row is rejected (create_only). A book deleted since its ISBN was looked up
    // is created anew.
    let befores: Vec<Option<Option<Book>>> = drafts
        .iter()
        .map(|draft| match existing.get(draft.isbn().as_str()) {
            Some(_) if mode == ImportMode::CreateOnly => None,
            Some(id) => Some(current.remove(id)),
            None => Some(None),
        })
        .collect();
    let rows = plan_rows::<D>(conn, drafts, befores, now).await?;

    let needs_stock = rows.iter().any(|row| match row {
        Row::Create(book) => book.quantity.get() > 0,
        Row::Replace { before, after } => before.quantity != after.quantity,
        Row::Exists | Row::Unchanged => false,
    });
    let (at, levels) = if needs_stock {
        let at = D::default_location(conn).await?;
        let changed: Vec<Uuid> = rows
            .iter()
            .filter_map(|row| match row {
                Row::Replace { before, after } if before.quantity != after.quantity => {
                    Some(before.id.as_uuid())
                }
                _ => None,
            })
            .collect();
        let levels = if changed.is_empty() {
            HashMap::new()
        } else {
            D::levels_at(conn, at.id, &changed).await?
        };
        (Some(at), levels)
    } else {
        (None, HashMap::new())
    };

    let mut created: Vec<Book> = Vec::new();
    let mut updated: Vec<Book> = Vec::new();
    // The books whose stock the batch changes, with how and the stock at the default
    // location after it.
    let mut stock: Vec<(Book, StockMovementKind, i64, i64)> = Vec::new();
    let mut relinked_authors: HashSet<Uuid> = HashSet::new();
    let mut relinked_genres: HashSet<Uuid> = HashSet::new();
    let mut changes: Vec<Change> = Vec::new();
    for row in rows {
        match row {
            Row::Exists => outcomes.push(ImportOutcome::Exists),
            Row::Unchanged => outcomes.push(ImportOutcome::Unchanged),
            Row::Create(book) => {
                // The stock a book starts with is its first receipt, as for a create.
                let q = book.quantity.get();
                if q > 0 {
                    stock.push(((*book).clone(), StockMovementKind::Receive, q, q));
                }
                changes.push(change(&book, None, BookEventKind::Created, ctx)?);
                created.push(*book);
                outcomes.push(ImportOutcome::Created);
            }
            Row::Replace { before, after } => {
                let delta = after.quantity.get() - before.quantity.get();
                if delta != 0 {
                    // At the default location, the only one a book write knows of, as for
                    // a `PUT`: it cannot give more than it holds.
                    let on_hand = levels.get(&before.id.as_uuid()).copied().unwrap_or(0);
                    let level = on_hand.saturating_add(delta);
                    if level < 0 {
                        outcomes.push(ImportOutcome::InsufficientStock { available: on_hand });
                        continue;
                    }
                    stock.push((
                        (*after).clone(),
                        StockMovementKind::Adjustment,
                        delta,
                        level,
                    ));
                }
                if before.authors != after.authors {
                    relinked_authors.insert(before.id.as_uuid());
                }
                if before.genres != after.genres {
                    relinked_genres.insert(before.id.as_uuid());
                }
                let before_json = serde_json::to_value(&*before).map_err(json_error)?;
                changes.push(change(
                    &after,
                    Some(before_json),
                    BookEventKind::Updated,
                    ctx,
                )?);
                updated.push(*after);
                outcomes.push(ImportOutcome::Updated);
            }
        }
    }

    words.extend(D::insert_books(conn, &created).await?);
    words.extend(D::update_books(conn, &updated).await?);
    let relinks = Relinks {
        authors: updated
            .iter()
            .filter(|b| relinked_authors.contains(&b.id.as_uuid()))
            .collect(),
        genres: updated
            .iter()
            .filter(|b| relinked_genres.contains(&b.id.as_uuid()))
            .collect(),
    };
    D::relink(conn, &relinks).await?;
    if let Some(at) = at {
        let levels: Vec<(Uuid, i64)> = stock
            .iter()
            .map(|(book, _, _, level)| (book.id.as_uuid(), *level))
            .collect();
        D::set_levels(conn, at.id, &levels).await?;
        let movements: Vec<StockMovement> = stock
            .iter()
            .map(|(book, kind, delta, level)| {
                book_write_movement(book, *kind, *delta, REASON, (at.clone(), *level), ctx, now)
            })
            .collect();
        D::insert_movements(conn, &movements).await?;
    }
    D::record_changes(conn, &changes, ctx, now).await
}

/// What each row would write: its book after the write, with its authors and genres resolved
/// (matched by name, or created) for all the rows at once. `befores`: per row, `None` when it
/// is rejected as existing, else the book it replaces, if any.
async fn plan_rows<D: ResolveNamed>(
    conn: &mut <D::Db as Database>::Connection,
    drafts: &[BookDraft],
    befores: Vec<Option<Option<Book>>>,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, StoreError> {
    let written = || {
        drafts
            .iter()
            .zip(&befores)
            .filter(|(_, before)| before.is_some())
            .map(|(draft, _)| draft)
    };
    let author_refs: Vec<Ref<'_>> = written()
        .flat_map(|d| d.authors().iter())
        .map(|c| match &c.author {
            AuthorRef::Id(id) => Ref::Id(id.as_uuid()),
            AuthorRef::Name(name) => Ref::Name(name),
        })
        .collect();
    let genre_refs: Vec<Ref<'_>> = written()
        .flat_map(|d| d.genres().iter())
        .map(|g| match g {
            GenreRef::Id(id) => Ref::Id(id.as_uuid()),
            GenreRef::Name(name) => Ref::Name(name),
        })
        .collect();
    let mut authors = if author_refs.is_empty() {
        Vec::new()
    } else {
        D::resolve_refs(conn, &sql::AUTHORS, &author_refs, now).await?
    }
    .into_iter();
    let mut genres = if genre_refs.is_empty() {
        Vec::new()
    } else {
        D::resolve_refs(conn, &sql::GENRES, &genre_refs, now).await?
    }
    .into_iter();

    let mut rows = Vec::with_capacity(drafts.len());
    for (draft, before) in drafts.iter().zip(befores) {
        let Some(before) = before else {
            rows.push(Row::Exists);
            continue;
        };
        let contributors = contributors_of(draft, authors.by_ref().take(draft.authors().len()));
        let tags = genres_of(genres.by_ref().take(draft.genres().len()));
        let Some(before) = before else {
            rows.push(Row::Create(Box::new(
                BookParts {
                    id: draft.new_id().unwrap_or_else(BookId::generate).as_uuid(),
                    draft,
                    authors: contributors,
                    genres: tags,
                    quantity: draft.quantity().unwrap_or(Quantity::ZERO),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                }
                .into_book(),
            )));
            continue;
        };
        let after = BookParts {
            id: before.id.as_uuid(),
            draft,
            authors: contributors,
            genres: tags,
            quantity: draft.quantity().unwrap_or(before.quantity),
            version: before.version + 1,
            created_at: before.created_at,
            updated_at: now,
        }
        .into_book();
        // Nothing to change: no new version, no history, no event.
        let unchanged = Book {
            version: before.version,
            updated_at: before.updated_at,
            ..after.clone()
        };
        rows.push(if unchanged == before {
            Row::Unchanged
        } else {
            Row::Replace {
                before: Box::new(before),
                after: Box::new(after),
            }
        });
    }
    Ok(rows)
}

fn change(
    book: &Book,
    before: Option<serde_json::Value>,
    kind: BookEventKind,
    ctx: &WriteContext,
) -> Result<Change, StoreError> {
    Ok(Change {
        book_id: book.id.as_uuid(),
        version: book.version,
        action: match kind {
            BookEventKind::Created => HistoryAction::Created,
            _ => HistoryAction::Updated,
        },
        before,
        event: CloudEvent::book_changed_raw(kind, book, ctx).map_err(json_error)?,
    })
}

/// A row's contributors from their resolved ids and names, in order; one listed twice with
/// the same role is kept once (as `named::resolve_contributors` does).
fn contributors_of(
    draft: &BookDraft,
    found: impl Iterator<Item = (Uuid, String)>,
) -> Vec<Contributor> {
    let mut resolved: Vec<Contributor> = Vec::with_capacity(draft.authors().len());
    for (contributor, (id, name)) in draft.authors().iter().zip(found) {
        let author_id = AuthorId::from_uuid(id);
        let role = contributor.role;
        if !resolved
            .iter()
            .any(|c| c.author_id == author_id && c.role == role)
        {
            resolved.push(Contributor {
                author_id,
                name,
                role,
            });
        }
    }
    resolved
}

/// A row's genres from their resolved ids and names, in order, each once.
fn genres_of(found: impl Iterator<Item = (Uuid, String)>) -> Vec<GenreTag> {
    let mut resolved: Vec<GenreTag> = Vec::new();
    for (id, name) in found {
        let id = GenreId::from_uuid(id);
        if !resolved.iter().any(|g| g.id == id) {
            resolved.push(GenreTag { id, name });
        }
    }
    resolved
}

/// The search text of a book's contributors, as the link triggers compute it: their names in
/// position order, separated by spaces.
pub(crate) fn authors_text(book: &Book) -> String {
    join_names(book.authors.iter().map(|c| c.name.as_str()))
}

/// The search text of a book's genres, as the link triggers compute it.
pub(crate) fn genres_text(book: &Book) -> String {
    join_names(book.genres.iter().map(|g| g.name.as_str()))
}

fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for name in names {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(name);
    }
    text
}

/// Maps a failed insert of new books: a unique violation is an ISBN a concurrent writer took.
pub(crate) fn insert_error(err: sqlx::Error, books: &[Book]) -> StoreError {
    if is_unique_violation(&err) {
        match books.first() {
            Some(book) => StoreError::DuplicateIsbn {
                isbn: book.isbn.clone(),
                existing: None,
            },
            None => backend(err),
        }
    } else {
        backend(err)
    }
}
