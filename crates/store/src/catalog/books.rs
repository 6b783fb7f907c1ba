//! Books: create, read, replace and delete, with their contributor and genre links.

use super::history::{record_change, HistoryWrite};
use super::idempotency::store_idempotency;
use super::named::{resolve_contributors, resolve_genres, ResolveNamed};
use super::stock::{book_write_level, book_write_movement, insert_movement};
use super::{begin_write, Dialect};
use crate::error::{backend, is_unique_violation, json_error};
use crate::rows::{BookParts, BookRow};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::event::{BookEventKind, CloudEvent};
use bookstore_core::text::fold_key;
use bookstore_core::{
    Book, BookDraft, BookId, HistoryAction, IdempotencyRequest, Isbn, Precondition, Quantity,
    StockMovementKind, StoreError, WriteContext,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};
use uuid::Uuid;

type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// The book `id`, read outside any transaction.
pub(crate) async fn find_book<D: Dialect>(store: &D, id: BookId) -> Result<Option<Book>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    Uuid: for<'q> Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<BookRow> = sqlx::query_as(D::book_sql().by_id.as_str())
        .bind(id.as_uuid())
        .fetch_optional(store.reader())
        .await
        .map_err(backend)?;
    row.map(Book::try_from).transpose()
}

/// The book with `isbn`, read outside any transaction.
pub(crate) async fn find_book_by_isbn<D: Dialect>(
    store: &D,
    isbn: &Isbn,
) -> Result<Option<Book>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<BookRow> = sqlx::query_as(D::book_sql().by_isbn.as_str())
        .bind(isbn.as_str())
        .fetch_optional(store.reader())
        .await
        .map_err(backend)?;
    row.map(Book::try_from).transpose()
}

/// The book `sql` reads by id `$1`, in a transaction.
async fn fetch_book<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    sql: &'static str,
    id: Uuid,
) -> Result<Option<Book>, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<BookRow> = sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    row.map(Book::try_from).transpose()
}

/// Reads the book for a conditional write, locking it where the database can.
pub(crate) async fn current_for_write<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: BookId,
    expected: &Precondition,
) -> Result<Book, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    // Lock first, then read in a statement of its own: in PostgreSQL's read
    // committed mode that statement sees whatever a writer we waited for
    // committed, contributors and genres included.
    if let Some(lock) = D::LOCK_BOOK {
        sqlx::query(lock)
            .bind(id.as_uuid())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    let current = fetch_book::<D>(conn, D::book_sql().by_id.as_str(), id.as_uuid())
        .await?
        .ok_or(StoreError::NotFound { entity: "book" })?;
    if !expected.accepts(current.version) {
        return Err(StoreError::VersionMismatch {
            current: current.version,
        });
    }
    Ok(current)
}

pub(crate) fn position(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

/// Binds `$1..$20` of `sql::BOOK_INSERT` / `sql::BOOK_UPDATE`.
fn bind_book<'q, DB: Database>(query: Query<'q, DB>, book: &'q Book) -> Query<'q, DB>
where
    Uuid: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    DbTime: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(book.id.as_uuid())
        .bind(book.isbn.as_str())
        .bind(book.title.as_str())
        .bind(fold_key(&book.title))
        .bind(book.subtitle.as_deref())
        .bind(book.description.as_deref())
        .bind(book.publisher.as_deref())
        .bind(book.published_year)
        .bind(book.language.as_deref())
        .bind(book.format.map(|f| f.as_str()))
        .bind(book.page_count)
        .bind(book.price.map(|p| p.amount_minor()))
        .bind(book.price.map(|p| p.currency().code()))
        .bind(book.quantity.get())
        .bind(book.reorder_point.get())
        .bind(book.location.as_deref())
        .bind(book.version)
        .bind(DbTime(book.created_at))
        .bind(DbTime(book.updated_at))
        .bind(book.reorder_quantity.get())
}

/// Maps a failed book write: a unique violation is the ISBN (the only unique key besides the
/// fresh id). Rolls back, then names the book holding it.
async fn isbn_conflict<D: Dialect>(
    store: &D,
    tx: Transaction<'static, D::Db>,
    err: sqlx::Error,
    isbn: &Isbn,
) -> StoreError
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    if !is_unique_violation(&err) {
        return backend(err);
    }
    if let Err(err) = tx.rollback().await {
        return backend(err);
    }
    match sqlx::query_scalar::<_, Uuid>(sql::BOOK_ID_BY_ISBN)
        .bind(isbn.as_str())
        .fetch_optional(store.reader())
        .await
    {
        Ok(existing) => StoreError::DuplicateIsbn {
            isbn: isbn.clone(),
            existing,
        },
        Err(err) => backend(err),
    }
}

/// Writing a book's contributor and genre links runs a statement built with a
/// `QueryBuilder`, which a generic function cannot run (see `history.rs`): each store
/// implements it in its expansion of [`impl_books!`].
pub(crate) trait WriteLinks: Dialect {
    /// Writes the book's contributor and genre links (after clearing the old ones when
    /// `replace`).
    async fn write_links(
        conn: &mut <Self::Db as Database>::Connection,
        book: &Book,
        replace: bool,
    ) -> Result<(), StoreError>;
}

/// A created or replaced book, as [`write_book`] writes it.
pub(crate) struct BookWrite<'a> {
    pub(crate) book: &'a Book,
    /// The book as it was, for a replace; `None` for a create.
    pub(crate) before: Option<&'a serde_json::Value>,
    /// `book`, as the history keeps it.
    pub(crate) after: &'a serde_json::Value,
    /// The change of the stock the write makes, if any: its kind, size and reason.
    pub(crate) movement: Option<(StockMovementKind, i64, &'static str)>,
}

/// Writes a created or replaced book in `tx`: its row, its links, its stock movement, its
/// history row and its event; then commits.
async fn write_book<D: WriteLinks>(
    store: &D,
    mut tx: Transaction<'static, D::Db>,
    write: BookWrite<'_>,
    ctx: &WriteContext,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    if let Err(err) = write_book_row::<D>(&mut tx, &write).await {
        return Err(isbn_conflict(store, tx, err, &write.book.isbn).await);
    }
    write_book_rest::<D>(&mut tx, &write, ctx, now).await?;
    tx.commit().await.map_err(backend)
}

/// The `books` row of a write: inserted for a create, updated for a replace.
pub(crate) async fn write_book_row<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    write: &BookWrite<'_>,
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let statement = if write.before.is_some() {
        sql::BOOK_UPDATE
    } else {
        sql::BOOK_INSERT
    };
    bind_book(sqlx::query(statement), write.book)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// What follows the `books` row of a write: its links, its stock movement, its history row
/// and its event.
async fn write_book_rest<D: WriteLinks>(
    conn: &mut <D::Db as Database>::Connection,
    write: &BookWrite<'_>,
    ctx: &WriteContext,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
{
    let book = write.book;
    let replace = write.before.is_some();
    let (event_kind, action) = if replace {
        (BookEventKind::Updated, HistoryAction::Updated)
    } else {
        (BookEventKind::Created, HistoryAction::Created)
    };
    D::write_links(conn, book, replace).await?;
    if let Some((kind, delta, reason)) = write.movement {
        let level = book_write_level::<D>(conn, book.id.as_uuid(), delta).await?;
        let movement = book_write_movement(book, kind, delta, reason, level, ctx, now);
        insert_movement::<D>(conn, &movement).await?;
    }
    let event = CloudEvent::book_changed(event_kind, book, ctx).map_err(json_error)?;
    let history = HistoryWrite {
        book_id: book.id.as_uuid(),
        version: book.version,
        action,
        at: now,
        before: write.before,
        after: Some(write.after),
    };
    record_change::<D>(conn, ctx, history, &event).await
}

pub(crate) async fn create_book_once<D: ResolveNamed + WriteLinks>(
    store: &D,
    draft: &BookDraft,
    ctx: &WriteContext,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<Book, StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let authors = resolve_contributors::<D>(&mut tx, draft, now).await?;
    let genres = resolve_genres::<D>(&mut tx, draft, now).await?;
    let book = BookParts {
        id: BookId::generate().as_uuid(),
        draft,
        authors,
        genres,
        quantity: draft.quantity().unwrap_or(Quantity::ZERO),
        version: 1,
        created_at: now,
        updated_at: now,
    }
    .into_book();
    let snapshot = serde_json::to_value(&book).map_err(json_error)?;
    // The key first: of two concurrent requests with one key, the second fails here (and is
    // answered with the first one's book), not on the ISBN.
    if let Some(request) = idempotency {
        store_idempotency::<D>(&mut tx, request, &snapshot, now).await?;
    }
    // The stock a book starts with is its first receipt.
    let receipt = (book.quantity.get() > 0)
        .then(|| (StockMovementKind::Receive, book.quantity.get(), "created"));
    let write = BookWrite {
        book: &book,
        before: None,
        after: &snapshot,
        movement: receipt,
    };
    write_book(store, tx, write, ctx, now).await?;
    Ok(book)
}

pub(crate) async fn replace_book_once<D: ResolveNamed + WriteLinks>(
    store: &D,
    id: BookId,
    expected: &Precondition,
    draft: &BookDraft,
    ctx: &WriteContext,
) -> Result<Book, StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let before = current_for_write::<D>(&mut tx, id, expected).await?;
    let authors = resolve_contributors::<D>(&mut tx, draft, now).await?;
    let genres = resolve_genres::<D>(&mut tx, draft, now).await?;
    let after = BookParts {
        id: id.as_uuid(),
        draft,
        authors,
        genres,
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
        tx.rollback().await.map_err(backend)?;
        return Ok(before);
    }
    let delta = after.quantity.get() - before.quantity.get();
    let before_json = serde_json::to_value(&before).map_err(json_error)?;
    let after_json = serde_json::to_value(&after).map_err(json_error)?;
    let write = BookWrite {
        book: &after,
        before: Some(&before_json),
        after: &after_json,
        movement: (delta != 0).then_some((StockMovementKind::Adjustment, delta, "edited")),
    };
    write_book(store, tx, write, ctx, now).await?;
    Ok(after)
}

pub(crate) async fn delete_book_once<D: Dialect>(
    store: &D,
    id: BookId,
    expected: &Precondition,
    ctx: &WriteContext,
) -> Result<(), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let before = current_for_write::<D>(&mut tx, id, expected).await?;
    sqlx::query(sql::BOOK_DELETE)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let before_json = serde_json::to_value(&before).map_err(json_error)?;
    let event = CloudEvent::book_deleted(id, before.version, now, ctx);
    let history = HistoryWrite {
        book_id: id.as_uuid(),
        version: before.version,
        action: HistoryAction::Deleted,
        at: now,
        before: Some(&before_json),
        after: None,
    };
    record_change::<D>(&mut tx, ctx, history, &event).await?;
    tx.commit().await.map_err(backend)
}

/// The link writes of `$store`, whose database is `$db`.
macro_rules! impl_books {
    ($store:ty, $db:ty) => {
        impl $crate::catalog::books::WriteLinks for $store {
            async fn write_links(
                conn: &mut Conn,
                book: &Book,
                replace: bool,
            ) -> Result<(), StoreError> {
                let book_id = book.id.as_uuid();
                if replace {
                    for clear in [sql::BOOK_AUTHORS_CLEAR, sql::BOOK_GENRES_CLEAR] {
                        sqlx::query(clear)
                            .bind(book_id)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                }
                if !book.authors.is_empty() {
                    let mut insert = QueryBuilder::<$db>::new(sql::BOOK_AUTHORS_INSERT);
                    insert.push_values(book.authors.iter().enumerate(), |mut row, (i, c)| {
                        row.push_bind(book_id)
                            .push_bind(c.author_id.as_uuid())
                            .push_bind(position(i))
                            .push_bind(c.role.as_str());
                    });
                    insert.build().execute(&mut *conn).await.map_err(backend)?;
                }
                if !book.genres.is_empty() {
                    let mut insert = QueryBuilder::<$db>::new(sql::BOOK_GENRES_INSERT);
                    insert.push_values(book.genres.iter().enumerate(), |mut row, (i, g)| {
                        row.push_bind(book_id)
                            .push_bind(g.id.as_uuid())
                            .push_bind(position(i));
                    });
                    insert.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_books;
