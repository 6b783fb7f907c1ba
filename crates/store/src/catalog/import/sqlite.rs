//! [`ImportWrites`] for SQLite: many-row statements, a chunk of rows each (SQLite runs in
//! the process: a statement costs no round trip, only its parameters are bounded).
//!
//! The new books' links are inserted before the books themselves (foreign keys checked at
//! commit), so that the link triggers, which keep `search_authors` and `search_genres`
//! current, find no book to update: each book is written, and its full-text document made,
//! once, with the search text it is inserted with.

use super::{authors_text, genres_text, insert_error, Change, CreatedNames, ImportWrites, Relinks};
use crate::catalog::books::position;
use crate::catalog::history::outbox_partition;
use crate::catalog::stock::{resolve_location, At};
use crate::catalog::Dialect;
use crate::error::backend;
use crate::rows::BookRow;
use crate::sql;
use crate::sqlite::SqliteStore;
use crate::time::DbTime;
use bookstore_core::text::fold_key;
use bookstore_core::{Book, StockMovement, StoreError, WriteContext};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;
use uuid::Uuid;

/// Rows per many-row statement: 22 parameters a book, well under SQLite's limit (32,766).
const CHUNK: usize = 500;

const BOOKS_INSERT: &str = "INSERT INTO books (id, isbn, title, sort_title, subtitle, \
    description, publisher, published_year, language, format, page_count, price_minor, \
    price_currency, quantity, reorder_point, location, version, created_at, updated_at, \
    reorder_quantity, search_authors, search_genres) ";

const BOOK_UPDATE: &str = "UPDATE books SET isbn = $2, title = $3, sort_title = $4, \
    subtitle = $5, description = $6, publisher = $7, published_year = $8, language = $9, \
    format = $10, page_count = $11, price_minor = $12, price_currency = $13, quantity = $14, \
    reorder_point = $15, location = $16, version = $17, created_at = $18, updated_at = $19, \
    reorder_quantity = $20, search_authors = $21, search_genres = $22 WHERE id = $1";

/// Checks foreign keys at commit, not at each statement, until the transaction ends.
const DEFER_FOREIGN_KEYS: &str = "PRAGMA defer_foreign_keys = ON";

/// Followed by the ids: deletes those of the authors, or genres, that nothing references
/// (`remove_unused_names`). The write lock of the transaction keeps every other writer out.
const AUTHORS_DELETE_UNUSED: &str = "DELETE FROM authors WHERE NOT EXISTS \
    (SELECT 1 FROM book_authors l WHERE l.author_id = authors.id) AND ";
const GENRES_DELETE_UNUSED: &str = "DELETE FROM genres WHERE NOT EXISTS \
    (SELECT 1 FROM book_genres l WHERE l.genre_id = genres.id) \
    AND NOT EXISTS (SELECT 1 FROM genres c WHERE c.parent_id = genres.id) AND ";

const LEVEL_SET_MANY: &str = "INSERT INTO stock_levels (book_id, location_id, quantity) ";

async fn insert_links(
    conn: &mut SqliteConnection,
    authors: &[&Book],
    genres: &[&Book],
) -> Result<(), StoreError> {
    let contributors: Vec<(Uuid, Uuid, i32, &str)> = authors
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
    for chunk in contributors.chunks(4 * CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(sql::BOOK_AUTHORS_INSERT);
        insert.push_values(chunk, |mut row, (book, author, at, role)| {
            row.push_bind(*book)
                .push_bind(*author)
                .push_bind(*at)
                .push_bind(*role);
        });
        insert.build().execute(&mut *conn).await.map_err(backend)?;
    }
    let tags: Vec<(Uuid, Uuid, i32)> = genres
        .iter()
        .flat_map(|book| {
            book.genres
                .iter()
                .enumerate()
                .map(|(i, g)| (book.id.as_uuid(), g.id.as_uuid(), position(i)))
        })
        .collect();
    for chunk in tags.chunks(4 * CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(sql::BOOK_GENRES_INSERT);
        insert.push_values(chunk, |mut row, (book, genre, at)| {
            row.push_bind(*book).push_bind(*genre).push_bind(*at);
        });
        insert.build().execute(&mut *conn).await.map_err(backend)?;
    }
    Ok(())
}

impl ImportWrites for SqliteStore {
    /// The link triggers have nothing to redo: a new book's links go in before the book.
    async fn begin_batch(_: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// Its triggers keep the FTS5 index; there are no search words to add.
    async fn end_batch(_: &mut SqliteConnection, _: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ids_by_isbn(
        conn: &mut SqliteConnection,
        isbns: &[&str],
    ) -> Result<HashMap<String, Uuid>, StoreError> {
        let mut found = HashMap::new();
        for chunk in isbns.chunks(CHUNK) {
            let mut select = QueryBuilder::<Sqlite>::new(sql::BOOK_IDS_BY_ISBNS);
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

    /// No row locks: the single writer and `BEGIN IMMEDIATE` serialise every write.
    async fn books_for_write(
        conn: &mut SqliteConnection,
        ids: &[Uuid],
    ) -> Result<Vec<Book>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new(Self::book_sql().select.as_str());
        select.push(" WHERE ");
        Self::push_id_in(&mut select, "b.id", ids);
        let rows: Vec<BookRow> = select
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        rows.into_iter().map(Book::try_from).collect()
    }

    async fn default_location(conn: &mut SqliteConnection) -> Result<At, StoreError> {
        resolve_location::<Self>(conn, "quantity", None).await
    }

    async fn levels_at(
        conn: &mut SqliteConnection,
        location: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, i64>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT book_id, quantity FROM stock_levels WHERE location_id = ",
        );
        select.push_bind(location).push(" AND ");
        Self::push_id_in(&mut select, "book_id", ids);
        let rows: Vec<(Uuid, i64)> = select
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().collect())
    }

    /// Its triggers keep the FTS5 index: no words to give.
    async fn insert_books(
        conn: &mut SqliteConnection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError> {
        if books.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(DEFER_FOREIGN_KEYS)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        let all: Vec<&Book> = books.iter().collect();
        insert_links(conn, &all, &all).await?;
        for chunk in books.chunks(CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(BOOKS_INSERT);
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
                    .push_bind(book.reorder_quantity.get())
                    .push_bind(authors_text(book))
                    .push_bind(genres_text(book));
            });
            insert
                .build()
                .execute(&mut *conn)
                .await
                .map_err(|err| insert_error(err, chunk))?;
        }
        Ok(Vec::new())
    }

    async fn update_books(
        conn: &mut SqliteConnection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError> {
        for book in books {
            sqlx::query(BOOK_UPDATE)
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
                .bind(authors_text(book))
                .bind(genres_text(book))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
        }
        Ok(Vec::new())
    }

    async fn relink(conn: &mut SqliteConnection, relinks: &Relinks<'_>) -> Result<(), StoreError> {
        for (clear, books) in [
            (sql::BOOK_AUTHORS_CLEAR, &relinks.authors),
            (sql::BOOK_GENRES_CLEAR, &relinks.genres),
        ] {
            for book in books.iter() {
                sqlx::query(clear)
                    .bind(book.id.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
        }
        insert_links(conn, &relinks.authors, &relinks.genres).await
    }

    async fn set_levels(
        conn: &mut SqliteConnection,
        location: Uuid,
        levels: &[(Uuid, i64)],
    ) -> Result<(), StoreError> {
        for chunk in levels.chunks(CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(LEVEL_SET_MANY);
            insert.push_values(chunk, |mut row, (book, quantity)| {
                row.push_bind(*book)
                    .push_bind(location)
                    .push_bind(*quantity);
            });
            insert.push(
                " ON CONFLICT (book_id, location_id) DO UPDATE SET quantity = excluded.quantity",
            );
            insert.build().execute(&mut *conn).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn insert_movements(
        conn: &mut SqliteConnection,
        movements: &[StockMovement],
    ) -> Result<(), StoreError> {
        for chunk in movements.chunks(CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(sql::STOCK_MOVEMENT_INSERT_MANY);
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

    async fn remove_unused_names(
        conn: &mut SqliteConnection,
        created: &CreatedNames,
    ) -> Result<(), StoreError> {
        for (delete, ids) in [
            (AUTHORS_DELETE_UNUSED, &created.authors),
            (GENRES_DELETE_UNUSED, &created.genres),
        ] {
            if ids.is_empty() {
                continue;
            }
            let mut statement = QueryBuilder::<Sqlite>::new(delete);
            Self::push_id_in(&mut statement, "id", ids);
            statement
                .build()
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn record_changes(
        conn: &mut SqliteConnection,
        changes: &[Change],
        ctx: &WriteContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in changes.chunks(CHUNK) {
            let mut history = QueryBuilder::<Sqlite>::new(sql::HISTORY_INSERT_MANY);
            history.push_values(chunk, |mut row, c| {
                row.push_bind(Uuid::now_v7())
                    .push_bind(c.book_id)
                    .push_bind(c.version)
                    .push_bind(c.action.as_str())
                    .push_bind(ctx.actor())
                    .push_bind(ctx.request_id.as_deref())
                    .push_bind(DbTime(now))
                    .push_bind(c.before.as_ref().map(Json))
                    .push_bind(Json(&c.event.data));
            });
            history.build().execute(&mut *conn).await.map_err(backend)?;
            let mut outbox = QueryBuilder::<Sqlite>::new(sql::OUTBOX_INSERT_MANY);
            outbox.push_values(chunk, |mut row, c| {
                row.push_bind(c.event.id)
                    .push_bind("book")
                    .push_bind(c.book_id)
                    .push_bind(c.event.event_type.as_str())
                    .push_bind(Json(&c.event))
                    .push_bind(DbTime(now))
                    .push_bind(outbox_partition(c.book_id));
            });
            outbox.build().execute(&mut *conn).await.map_err(backend)?;
        }
        Ok(())
    }
}
