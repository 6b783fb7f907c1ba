//! Books: create, read, replace and delete, with their contributor and genre links.

use super::Dialect;
use crate::error::backend;
use crate::rows::BookRow;
use bookstore_core::{Book, BookId, Isbn, Precondition, StoreError};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

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

/// The book reads and writes of `$store`, whose database is `$db`.
macro_rules! impl_books {
    ($store:ty, $db:ty) => {
        /// Binds `$1..$19` of `sql::BOOK_INSERT` / `sql::BOOK_UPDATE`.
        fn bind_book<'q>(query: Query<'q>, book: &'q Book) -> Query<'q> {
            query
                .bind(book.id.as_uuid())
                .bind(book.isbn.as_str())
                .bind(&book.title)
                .bind(fold_key(&book.title))
                .bind(&book.subtitle)
                .bind(&book.description)
                .bind(&book.publisher)
                .bind(book.published_year)
                .bind(&book.language)
                .bind(book.format.map(|f| f.as_str()))
                .bind(book.page_count)
                .bind(book.price.map(|p| p.amount_minor()))
                .bind(book.price.map(|p| p.currency().code()))
                .bind(book.quantity.get())
                .bind(book.reorder_point.get())
                .bind(&book.location)
                .bind(book.version)
                .bind(DbTime(book.created_at))
                .bind(DbTime(book.updated_at))
        }

        impl $store {
            /// Writes the book's contributor and genre links (after clearing the old ones
            /// when `replace`).
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

            /// Maps a failed book write: a unique violation is the ISBN (the only unique
            /// key besides the fresh id). Rolls back, then names the book holding it.
            async fn isbn_conflict(
                &self,
                tx: Transaction<'static, $db>,
                err: sqlx::Error,
                isbn: &Isbn,
            ) -> StoreError {
                if !is_unique_violation(&err) {
                    return backend(err);
                }
                if let Err(err) = tx.rollback().await {
                    return backend(err);
                }
                match sqlx::query_scalar::<_, Uuid>(sql::BOOK_ID_BY_ISBN)
                    .bind(isbn.as_str())
                    .fetch_optional(self.reader())
                    .await
                {
                    Ok(existing) => StoreError::DuplicateIsbn {
                        isbn: isbn.clone(),
                        existing,
                    },
                    Err(err) => backend(err),
                }
            }

            async fn create_book_once(
                &self,
                draft: &BookDraft,
                ctx: &WriteContext,
                idempotency: Option<&IdempotencyRequest>,
            ) -> Result<Book, StoreError> {
                let now = time::now();
                let mut tx = self.begin_write().await?;
                let authors = Self::resolve_contributors(&mut tx, draft, now).await?;
                let genres = Self::resolve_genres(&mut tx, draft, now).await?;
                let book = BookParts {
                    id: BookId::generate().as_uuid(),
                    draft,
                    authors,
                    genres,
                    quantity: draft.quantity.unwrap_or(Quantity::ZERO),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                }
                .into_book();
                let snapshot = serde_json::to_value(&book).map_err(json_error)?;
                // The key first: of two concurrent requests with one key, the second
                // fails here (and is answered with the first one's book), not on the ISBN.
                if let Some(request) = idempotency {
                    store_idempotency::<Self>(&mut tx, request, &snapshot, now).await?;
                }
                if let Err(err) = bind_book(sqlx::query(sql::BOOK_INSERT), &book)
                    .execute(&mut *tx)
                    .await
                {
                    return Err(self.isbn_conflict(tx, err, &book.isbn).await);
                }
                Self::write_links(&mut tx, &book, false).await?;
                // The stock a book starts with is its first receipt.
                if book.quantity.get() > 0 {
                    let receipt = book_write_movement(
                        &book,
                        StockMovementKind::Receive,
                        book.quantity.get(),
                        "created",
                        ctx,
                        now,
                    );
                    insert_movement::<Self>(&mut tx, &receipt).await?;
                }
                let event = CloudEvent::book_changed(BookEventKind::Created, &book, ctx)
                    .map_err(json_error)?;
                let history = HistoryWrite {
                    book_id: book.id.as_uuid(),
                    version: book.version,
                    action: HistoryAction::Created,
                    at: now,
                    before: None,
                    after: Some(&snapshot),
                };
                record_change::<Self>(&mut tx, ctx, history, &event).await?;
                tx.commit().await.map_err(backend)?;
                Ok(book)
            }

            async fn replace_book_once(
                &self,
                id: BookId,
                expected: &Precondition,
                draft: &BookDraft,
                ctx: &WriteContext,
            ) -> Result<Book, StoreError> {
                let now = time::now();
                let mut tx = self.begin_write().await?;
                let before = current_for_write::<Self>(&mut tx, id, expected).await?;
                let authors = Self::resolve_contributors(&mut tx, draft, now).await?;
                let genres = Self::resolve_genres(&mut tx, draft, now).await?;
                let after = BookParts {
                    id: id.as_uuid(),
                    draft,
                    authors,
                    genres,
                    quantity: draft.quantity.unwrap_or(before.quantity),
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
                if let Err(err) = bind_book(sqlx::query(sql::BOOK_UPDATE), &after)
                    .execute(&mut *tx)
                    .await
                {
                    return Err(self.isbn_conflict(tx, err, &after.isbn).await);
                }
                Self::write_links(&mut tx, &after, true).await?;
                let delta = after.quantity.get() - before.quantity.get();
                if delta != 0 {
                    let adjustment = book_write_movement(
                        &after,
                        StockMovementKind::Adjustment,
                        delta,
                        "edited",
                        ctx,
                        now,
                    );
                    insert_movement::<Self>(&mut tx, &adjustment).await?;
                }
                let before_json = serde_json::to_value(&before).map_err(json_error)?;
                let after_json = serde_json::to_value(&after).map_err(json_error)?;
                let event = CloudEvent::book_changed(BookEventKind::Updated, &after, ctx)
                    .map_err(json_error)?;
                let history = HistoryWrite {
                    book_id: id.as_uuid(),
                    version: after.version,
                    action: HistoryAction::Updated,
                    at: now,
                    before: Some(&before_json),
                    after: Some(&after_json),
                };
                record_change::<Self>(&mut tx, ctx, history, &event).await?;
                tx.commit().await.map_err(backend)?;
                Ok(after)
            }

            async fn delete_book_once(
                &self,
                id: BookId,
                expected: &Precondition,
                ctx: &WriteContext,
            ) -> Result<(), StoreError> {
                let now = time::now();
                let mut tx = self.begin_write().await?;
                let before = current_for_write::<Self>(&mut tx, id, expected).await?;
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
                record_change::<Self>(&mut tx, ctx, history, &event).await?;
                tx.commit().await.map_err(backend)
            }
        }
    };
}
pub(crate) use impl_books;
