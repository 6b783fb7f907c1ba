//! Imports: a batch of books written by ISBN in one transaction, each row as a create or a
//! replace would write it (history, event, stock movement), or not at all when it changes
//! nothing.
//!
//! A batch is written in a handful of statements, not a dozen per row: the ISBNs looked up
//! at once, the authors and genres of every row resolved at once, the new books, their
//! links, movements, history rows and events inserted many rows a statement (by
//! [`ImportWrites`], in each store's expansion of [`impl_import!`]). Replaced books are
//! read, locked and updated one by one. The batch is split into segments at a repeated
//! ISBN, so that the later row sees what the earlier one wrote.

use super::books::{current_for_write, write_book_row, BookWrite, WriteLinks};
use super::named::{Ref, ResolveNamed};
use super::stock::{book_write_level, book_write_movement};
use super::{begin_write, Dialect};
use crate::error::{backend, is_unique_violation, json_error};
use crate::rows::{BookParts, BookRow};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::event::{BookEventKind, CloudEvent};
use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::{
    AuthorId, AuthorRef, Book, BookDraft, BookId, Contributor, GenreId, GenreRef, GenreTag,
    HistoryAction, Precondition, Quantity, StockMovement, StockMovementKind, StoreError,
    WriteContext,
};
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The reason of the stock movements an import records.
const REASON: &str = "import";

/// Rows per multi-row insert: 20 parameters a book, well under either database's limit.
pub(crate) const INSERT_CHUNK: usize = 500;

/// A written book's history row and event.
pub(crate) struct Change {
    pub(crate) book_id: Uuid,
    pub(crate) version: i64,
    pub(crate) action: HistoryAction,
    pub(crate) before: Option<serde_json::Value>,
    pub(crate) after: serde_json::Value,
    pub(crate) event: CloudEvent,
}

/// The many-rows statements of an import's batch, which build their statements with a
/// `QueryBuilder` (see `history.rs`): each store implements them in its expansion of
/// [`impl_import!`].
pub(crate) trait ImportWrites: Dialect {
    /// The ids of the books with these ISBNs, by ISBN.
    async fn ids_by_isbn(
        conn: &mut <Self::Db as Database>::Connection,
        isbns: &[&str],
    ) -> Result<HashMap<String, Uuid>, StoreError>;
    /// Inserts new books with their contributor and genre links. A taken ISBN (a concurrent
    /// writer's) is `DuplicateIsbn`.
    async fn insert_books(
        conn: &mut <Self::Db as Database>::Connection,
        books: &[Book],
    ) -> Result<(), StoreError>;
    async fn insert_movements(
        conn: &mut <Self::Db as Database>::Connection,
        movements: &[StockMovement],
    ) -> Result<(), StoreError>;
    /// The history rows and outbox events of the written books.
    async fn record_changes(
        conn: &mut <Self::Db as Database>::Connection,
        changes: &[Change],
        ctx: &WriteContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Writes `drafts` in order in one transaction (rolled back for a dry run).
pub(crate) async fn import_books_once<D: ResolveNamed + WriteLinks + ImportWrites>(
    store: &D,
    drafts: &[BookDraft],
    mode: ImportMode,
    dry_run: bool,
    ctx: &WriteContext,
) -> Result<Vec<ImportOutcome>, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let mut outcomes = Vec::with_capacity(drafts.len());
    let mut start = 0;
    while start < drafts.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < drafts.len() && seen.insert(drafts[end].isbn().as_str()) {
            end += 1;
        }
        write_segment::<D>(&mut tx, &drafts[start..end], mode, ctx, now, &mut outcomes).await?;
        start = end;
    }
    if dry_run {
        tx.rollback().await.map_err(backend)?;
    } else {
        tx.commit().await.map_err(backend)?;
    }
    Ok(outcomes)
}

/// What becomes of one row of a segment.
enum Plan {
    Exists,
    Create,
    Replace(Box<Book>),
}

/// Writes rows of distinct ISBNs.
async fn write_segment<D: ResolveNamed + WriteLinks + ImportWrites>(
    conn: &mut <D::Db as Database>::Connection,
    drafts: &[BookDraft],
    mode: ImportMode,
    ctx: &WriteContext,
    now: DateTime<Utc>,
    outcomes: &mut Vec<ImportOutcome>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
{
    let isbns: Vec<&str> = drafts.iter().map(|d| d.isbn().as_str()).collect();
    let existing = D::ids_by_isbn(conn, &isbns).await?;
    let mut plans = Vec::with_capacity(drafts.len());
    for draft in drafts {
        plans.push(match existing.get(draft.isbn().as_str()) {
            Some(_) if mode == ImportMode::CreateOnly => Plan::Exists,
            Some(id) => Plan::Replace(Box::new(
                current_for_write::<D>(conn, BookId::from_uuid(*id), &Precondition::Any).await?,
            )),
            None => Plan::Create,
        });
    }
    // The authors and genres of every row written, resolved together (names matched or
    // created), then handed back row by row in the same order.
    let written = || {
        drafts
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| !matches!(plan, Plan::Exists))
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

    let mut created: Vec<Book> = Vec::new();
    // The books whose stock the batch changes, with how: recorded once the new books exist.
    let mut stock_changes: Vec<(Book, StockMovementKind, i64)> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for (draft, plan) in drafts.iter().zip(plans) {
        let before = match plan {
            Plan::Exists => {
                outcomes.push(ImportOutcome::Exists);
                continue;
            }
            Plan::Create => None,
            Plan::Replace(book) => Some(*book),
        };
        let contributors = contributors_of(draft, authors.by_ref().take(draft.authors().len()));
        let tags = genres_of(genres.by_ref().take(draft.genres().len()));
        let Some(before) = before else {
            let book = BookParts {
                id: BookId::generate().as_uuid(),
                draft,
                authors: contributors,
                genres: tags,
                quantity: draft.quantity().unwrap_or(Quantity::ZERO),
                version: 1,
                created_at: now,
                updated_at: now,
            }
            .into_book();
            // The stock a book starts with is its first receipt, as for a create.
            if book.quantity.get() > 0 {
                let q = book.quantity.get();
                stock_changes.push((book.clone(), StockMovementKind::Receive, q));
            }
            changes.push(change(&book, None, BookEventKind::Created, ctx)?);
            created.push(book);
            outcomes.push(ImportOutcome::Created);
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
        if unchanged == before {
            outcomes.push(ImportOutcome::Unchanged);
            continue;
        }
        let before_json = serde_json::to_value(&before).map_err(json_error)?;
        let after_json = serde_json::to_value(&after).map_err(json_error)?;
        let write = BookWrite {
            book: &after,
            before: Some(&before_json),
            after: &after_json,
            movement: None,
        };
        write_book_row::<D>(conn, &write).await.map_err(backend)?;
        D::write_links(conn, &after, true).await?;
        let delta = after.quantity.get() - before.quantity.get();
        if delta != 0 {
            stock_changes.push((after.clone(), StockMovementKind::Adjustment, delta));
        }
        changes.push(change(
            &after,
            Some(before_json),
            BookEventKind::Updated,
            ctx,
        )?);
        outcomes.push(ImportOutcome::Updated);
    }
    D::insert_books(conn, &created).await?;
    // At the default location, the only one a book write knows of, as for a create or `PUT`.
    let mut movements: Vec<StockMovement> = Vec::with_capacity(stock_changes.len());
    for (book, kind, delta) in &stock_changes {
        let level = book_write_level::<D>(conn, book.id.as_uuid(), *delta).await?;
        movements.push(book_write_movement(
            book, *kind, *delta, REASON, level, ctx, now,
        ));
    }
    D::insert_movements(conn, &movements).await?;
    D::record_changes(conn, &changes, ctx, now).await
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
        after: serde_json::to_value(book).map_err(json_error)?,
        event: CloudEvent::book_changed(kind, book, ctx).map_err(json_error)?,
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

/// The many-rows writes of `$store`, whose database is `$db`.
macro_rules! impl_import {
    ($store:ty, $db:ty) => {
        impl $crate::catalog::import::ImportWrites for $store {
            async fn ids_by_isbn(
                conn: &mut Conn,
                isbns: &[&str],
            ) -> Result<HashMap<String, Uuid>, StoreError> {
                let mut found = HashMap::new();
                for chunk in isbns.chunks($crate::catalog::import::INSERT_CHUNK) {
                    let mut select = QueryBuilder::<$db>::new(sql::BOOK_IDS_BY_ISBNS);
                    let mut list = select.separated(", ");
                    for isbn in chunk {
                        list.push_bind(*isbn);
                    }
                    list.push_unseparated(")");
                    let rows: Vec<(String, Uuid)> = select
                        .build_query_as()
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(backend)?;
                    found.extend(rows);
                }
                Ok(found)
            }

            async fn insert_books(conn: &mut Conn, books: &[Book]) -> Result<(), StoreError> {
                for chunk in books.chunks($crate::catalog::import::INSERT_CHUNK) {
                    let mut insert = QueryBuilder::<$db>::new(sql::BOOK_INSERT_MANY);
                    insert.push_values(chunk, |mut row, book| {
                        row.push_bind(book.id.as_uuid())
                            .push_bind(book.isbn.as_str().to_owned())
                            .push_bind(book.title.clone())
                            .push_bind(fold_key(&book.title))
                            .push_bind(book.subtitle.clone())
                            .push_bind(book.description.clone())
                            .push_bind(book.publisher.clone())
                            .push_bind(book.published_year)
                            .push_bind(book.language.clone())
                            .push_bind(book.format.map(|f| f.as_str()))
                            .push_bind(book.page_count)
                            .push_bind(book.price.map(|p| p.amount_minor()))
                            .push_bind(book.price.map(|p| p.currency().code().to_owned()))
                            .push_bind(book.quantity.get())
                            .push_bind(book.reorder_point.get())
                            .push_bind(book.location.clone())
                            .push_bind(book.version)
                            .push_bind(DbTime(book.created_at))
                            .push_bind(DbTime(book.updated_at))
                            .push_bind(book.reorder_quantity.get());
                    });
                    insert
                        .build()
                        .execute(&mut *conn)
                        .await
                        .map_err(|err| $crate::catalog::import::insert_error(err, chunk))?;
                    let links: Vec<(Uuid, Uuid, i32, &str)> = chunk
                        .iter()
                        .flat_map(|book| {
                            book.authors.iter().enumerate().map(|(i, c)| {
                                (
                                    book.id.as_uuid(),
                                    c.author_id.as_uuid(),
                                    position(i),
                                    c.role.as_str(),
                                )
                            })
                        })
                        .collect();
                    // Four parameters a link: chunks stay under the parameter limits.
                    for links in links.chunks(4 * $crate::catalog::import::INSERT_CHUNK) {
                        let mut insert = QueryBuilder::<$db>::new(sql::BOOK_AUTHORS_INSERT);
                        insert.push_values(links, |mut row, (book, author, at, role)| {
                            row.push_bind(*book)
                                .push_bind(*author)
                                .push_bind(*at)
                                .push_bind(*role);
                        });
                        insert.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                    let tags: Vec<(Uuid, Uuid, i32)> = chunk
                        .iter()
                        .flat_map(|book| {
                            book.genres
                                .iter()
                                .enumerate()
                                .map(|(i, g)| (book.id.as_uuid(), g.id.as_uuid(), position(i)))
                        })
                        .collect();
                    for tags in tags.chunks(4 * $crate::catalog::import::INSERT_CHUNK) {
                        let mut insert = QueryBuilder::<$db>::new(sql::BOOK_GENRES_INSERT);
                        insert.push_values(tags, |mut row, (book, genre, at)| {
                            row.push_bind(*book).push_bind(*genre).push_bind(*at);
                        });
                        insert.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                }
                Ok(())
            }

            async fn insert_movements(
                conn: &mut Conn,
                movements: &[StockMovement],
            ) -> Result<(), StoreError> {
                for chunk in movements.chunks($crate::catalog::import::INSERT_CHUNK) {
                    let mut insert = QueryBuilder::<$db>::new(sql::STOCK_MOVEMENT_INSERT_MANY);
                    insert.push_values(chunk, |mut row, m| {
                        row.push_bind(m.id)
                            .push_bind(m.book_id.as_uuid())
                            .push_bind(m.kind.as_str())
                            .push_bind(m.quantity)
                            .push_bind(m.delta)
                            .push_bind(m.quantity_after)
                            .push_bind(m.reason.clone())
                            .push_bind(m.actor.clone())
                            .push_bind(m.request_id.clone())
                            .push_bind(DbTime(m.at))
                            .push_bind(m.location_id.as_uuid())
                            .push_bind(m.location.clone())
                            .push_bind(m.location_quantity_after)
                            .push_bind(m.counterpart.clone());
                    });
                    insert.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }

            async fn record_changes(
                conn: &mut Conn,
                changes: &[$crate::catalog::import::Change],
                ctx: &WriteContext,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                for chunk in changes.chunks($crate::catalog::import::INSERT_CHUNK) {
                    let mut history = QueryBuilder::<$db>::new(sql::HISTORY_INSERT_MANY);
                    history.push_values(chunk, |mut row, c| {
                        row.push_bind(Uuid::now_v7())
                            .push_bind(c.book_id)
                            .push_bind(c.version)
                            .push_bind(c.action.as_str())
                            .push_bind(ctx.actor())
                            .push_bind(ctx.request_id.as_deref())
                            .push_bind(DbTime(now))
                            .push_bind(c.before.as_ref().map(Json))
                            .push_bind(Json(&c.after));
                    });
                    history.build().execute(&mut *conn).await.map_err(backend)?;
                    let mut outbox = QueryBuilder::<$db>::new(sql::OUTBOX_INSERT_MANY);
                    outbox.push_values(chunk, |mut row, c| {
                        row.push_bind(c.event.id)
                            .push_bind("book")
                            .push_bind(c.book_id)
                            .push_bind(c.event.event_type.as_str())
                            .push_bind(Json(&c.event))
                            .push_bind(DbTime(now))
                            .push_bind($crate::catalog::history::outbox_partition(c.book_id));
                    });
                    outbox.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_import;
