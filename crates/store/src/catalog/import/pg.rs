//! [`ImportWrites`] for PostgreSQL: every statement binds one array per column and reads the
//! rows with `UNNEST`, so a batch is one round trip per statement whatever its size, and each
//! statement's text (so its prepared statement) is the same for any number of rows.

use super::{authors_text, genres_text, insert_error, Change, CreatedNames, ImportWrites, Relinks};
use crate::catalog::books::position;
use crate::catalog::history::outbox_partition;
use crate::catalog::stock::{resolve_location, At};
use crate::catalog::Dialect;
use crate::error::backend;
use crate::postgres::PgStore;
use crate::rows::BookRow;
use bookstore_core::text::fold_key;
use bookstore_core::{Book, StockMovement, StoreError, WriteContext};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// Makes the link triggers skip this transaction (migration 0017): the import writes each
/// book's contributor and genre text itself, before its links.
const SEARCH_TEXT_WRITTEN: &str = "SELECT set_config('bookstore.search_text_written', 'on', true)";

/// The words `$1` of the written books (migration 0005), which the books' triggers leave to
/// the import (0017).
const ADD_WORDS: &str = "SELECT bookstore_add_search_words($1)";

/// Wraps the books' insert or update (`RETURNING search_doc`) so that it gives the distinct
/// words of the books it wrote, for [`ADD_WORDS`]: they come with the write, where reading
/// the books again at the end of the batch cost some 20 us a book. They are told apart
/// bytewise (`COLLATE "C"`, as `search_words.word` is): the same words, where the database's
/// collation (`C.UTF-8` here) sorted them through `strcoll` at some 5 ms a batch more
/// (bench/README.md, "Import").
fn giving_words(write: &str) -> String {
    format!(
        "WITH written AS ({write} RETURNING search_doc) \
         SELECT coalesce(array_agg(d.w), '{{}}') FROM (SELECT DISTINCT w COLLATE \"C\" AS w \
         FROM written, unnest(tsvector_to_array(written.search_doc)) AS w) d"
    )
}

const IDS_BY_ISBN: &str = "SELECT isbn, id FROM books WHERE isbn = ANY($1)";

/// Locks the books `$1` in id order (the order every writer of several books takes).
const LOCK_BOOKS: &str = "SELECT 1 FROM books b WHERE b.id = ANY($1) ORDER BY b.id FOR UPDATE";

static BOOKS_BY_IDS: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE b.id = ANY($1)", PgStore::book_sql().select));

/// The columns of a book row, `u.…` of the `UNNEST` below, in binding order.
const BOOK_COLUMNS: &str = "id, isbn, title, sort_title, subtitle, description, publisher, \
    published_year, language, format, page_count, price_minor, price_currency, quantity, \
    reorder_point, location, version, created_at, updated_at, reorder_quantity, \
    search_authors, search_genres";
const BOOK_ARRAYS: &str = "UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::text[], $8::int4[], $9::text[], $10::text[], $11::int4[], \
    $12::int8[], $13::text[], $14::int8[], $15::int8[], $16::text[], $17::int8[], \
    $18::timestamptz[], $19::timestamptz[], $20::int8[], $21::text[], $22::text[])";

static BOOKS_INSERT: LazyLock<String> = LazyLock::new(|| {
    giving_words(&format!(
        "INSERT INTO books ({BOOK_COLUMNS}) SELECT * FROM {BOOK_ARRAYS}"
    ))
});

static BOOKS_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = BOOK_COLUMNS
        .split(", ")
        .map(str::trim)
        .filter(|c| *c != "id")
        .map(|c| format!("{c} = u.{c}"))
        .collect();
    giving_words(&format!(
        "UPDATE books b SET {} FROM {BOOK_ARRAYS} AS u ({BOOK_COLUMNS}) WHERE b.id = u.id",
        set.join(", ")
    ))
});

const AUTHORS_CLEAR: &str = "DELETE FROM book_authors WHERE book_id = ANY($1)";
const GENRES_CLEAR: &str = "DELETE FROM book_genres WHERE book_id = ANY($1)";
const AUTHORS_INSERT: &str = "INSERT INTO book_authors (book_id, author_id, position, role) \
    SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[])";
const GENRES_INSERT: &str = "INSERT INTO book_genres (book_id, genre_id, position) \
    SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[])";

const LEVELS_AT: &str =
    "SELECT book_id, quantity FROM stock_levels WHERE location_id = $1 AND book_id = ANY($2)";
const LEVELS_SET: &str = "INSERT INTO stock_levels (book_id, location_id, quantity) \
    SELECT u.book_id, $1, u.quantity FROM UNNEST($2::uuid[], $3::int8[]) AS u (book_id, quantity) \
    ON CONFLICT (book_id, location_id) DO UPDATE SET quantity = excluded.quantity";

const MOVEMENTS_INSERT: &str = "INSERT INTO stock_movements (id, book_id, kind, quantity, \
    delta, quantity_after, reason, actor, request_id, at, location_id, location_code, \
    location_quantity_after, counterpart) \
    SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $5::int8[], \
    $6::int8[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::uuid[], \
    $12::text[], $13::int8[], $14::text[])";

const HISTORY_INSERT: &str = "INSERT INTO book_history (id, book_id, version, action, actor, \
    request_id, at, before, after) \
    SELECT u.id, u.book_id, u.version, u.action, $5, $6, $7, u.before, u.after \
    FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $8::jsonb[], $9::jsonb[]) \
    AS u (id, book_id, version, action, before, after)";

const OUTBOX_INSERT: &str = "INSERT INTO outbox (id, aggregate_type, aggregate_id, \
    event_type, payload, created_at, partition) \
    SELECT u.id, 'book', u.aggregate_id, u.event_type, u.payload, $5, u.partition \
    FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $6::int2[]) \
    AS u (id, aggregate_id, event_type, payload, partition)";

/// Locks, then deletes, the authors `$1` that no book names (`remove_unused_names`).
const AUTHORS_LOCK: &str = "SELECT 1 FROM authors WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const AUTHORS_DELETE_UNUSED: &str = "DELETE FROM authors a WHERE a.id = ANY($1) \
    AND NOT EXISTS (SELECT 1 FROM book_authors l WHERE l.author_id = a.id)";
/// Likewise the genres `$1` that no book names and none nests under.
const GENRES_LOCK: &str = "SELECT 1 FROM genres WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const GENRES_DELETE_UNUSED: &str = "DELETE FROM genres g WHERE g.id = ANY($1) \
    AND NOT EXISTS (SELECT 1 FROM book_genres l WHERE l.genre_id = g.id) \
    AND NOT EXISTS (SELECT 1 FROM genres c WHERE c.parent_id = g.id)";

/// Runs `BOOKS_INSERT` or `BOOKS_UPDATE` over `books`: the distinct words of their search
/// documents.
async fn write_rows(
    conn: &mut PgConnection,
    statement: &str,
    books: &[Book],
) -> Result<Vec<String>, sqlx::Error> {
    let column =
        |f: fn(&Book) -> Option<&str>| -> Vec<Option<&str>> { books.iter().map(f).collect() };
    sqlx::query_scalar(statement)
        .bind(books.iter().map(|b| b.id.as_uuid()).collect::<Vec<_>>())
        .bind(books.iter().map(|b| b.isbn.as_str()).collect::<Vec<_>>())
        .bind(books.iter().map(|b| b.title.as_str()).collect::<Vec<_>>())
        .bind(books.iter().map(|b| fold_key(&b.title)).collect::<Vec<_>>())
        .bind(column(|b| b.subtitle.as_deref()))
        .bind(column(|b| b.description.as_deref()))
        .bind(column(|b| b.publisher.as_deref()))
        .bind(books.iter().map(|b| b.published_year).collect::<Vec<_>>())
        .bind(column(|b| b.language.as_deref()))
        .bind(column(|b| b.format.map(|f| f.as_str())))
        .bind(books.iter().map(|b| b.page_count).collect::<Vec<_>>())
        .bind(
            books
                .iter()
                .map(|b| b.price.map(|p| p.amount_minor()))
                .collect::<Vec<_>>(),
        )
        .bind(column(|b| b.price.as_ref().map(|p| p.currency().code())))
        .bind(books.iter().map(|b| b.quantity.get()).collect::<Vec<_>>())
        .bind(
            books
                .iter()
                .map(|b| b.reorder_point.get())
                .collect::<Vec<_>>(),
        )
        .bind(column(|b| b.location.as_deref()))
        .bind(books.iter().map(|b| b.version).collect::<Vec<_>>())
        .bind(books.iter().map(|b| b.created_at).collect::<Vec<_>>())
        .bind(books.iter().map(|b| b.updated_at).collect::<Vec<_>>())
        .bind(
            books
                .iter()
                .map(|b| b.reorder_quantity.get())
                .collect::<Vec<_>>(),
        )
        .bind(books.iter().map(authors_text).collect::<Vec<_>>())
        .bind(books.iter().map(genres_text).collect::<Vec<_>>())
        .fetch_one(&mut *conn)
        .await
}

/// Inserts the contributor and genre links of `authors` and `genres`.
async fn insert_links(
    conn: &mut PgConnection,
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
    if !contributors.is_empty() {
        sqlx::query(AUTHORS_INSERT)
            .bind(contributors.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind(contributors.iter().map(|l| l.1).collect::<Vec<_>>())
            .bind(contributors.iter().map(|l| l.2).collect::<Vec<_>>())
            .bind(contributors.iter().map(|l| l.3).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
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
    if !tags.is_empty() {
        sqlx::query(GENRES_INSERT)
            .bind(tags.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind(tags.iter().map(|l| l.1).collect::<Vec<_>>())
            .bind(tags.iter().map(|l| l.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

impl ImportWrites for PgStore {
    async fn begin_batch(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query(SEARCH_TEXT_WRITTEN)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn end_batch(conn: &mut PgConnection, words: &[String]) -> Result<(), StoreError> {
        if words.is_empty() {
            return Ok(());
        }
        sqlx::query(ADD_WORDS)
            .bind(words)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn ids_by_isbn(
        conn: &mut PgConnection,
        isbns: &[&str],
    ) -> Result<HashMap<String, Uuid>, StoreError> {
        let rows: Vec<(String, Uuid)> = sqlx::query_as(IDS_BY_ISBN)
            .bind(isbns)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().collect())
    }

    async fn books_for_write(
        conn: &mut PgConnection,
        ids: &[Uuid],
    ) -> Result<Vec<Book>, StoreError> {
        // Locked first, then read in a statement of their own, which sees whatever a writer
        // we waited for committed (as `current_for_write` does for one book).
        sqlx::query(LOCK_BOOKS)
            .bind(ids)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        let rows: Vec<BookRow> = sqlx::query_as(BOOKS_BY_IDS.as_str())
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        rows.into_iter().map(Book::try_from).collect()
    }

    async fn default_location(conn: &mut PgConnection) -> Result<At, StoreError> {
        resolve_location::<Self>(conn, "quantity", None).await
    }

    async fn levels_at(
        conn: &mut PgConnection,
        location: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, i64>, StoreError> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(LEVELS_AT)
            .bind(location)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().collect())
    }

    async fn insert_books(
        conn: &mut PgConnection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError> {
        if books.is_empty() {
            return Ok(Vec::new());
        }
        let words = write_rows(conn, &BOOKS_INSERT, books)
            .await
            .map_err(|err| insert_error(err, books))?;
        let all: Vec<&Book> = books.iter().collect();
        insert_links(conn, &all, &all).await?;
        Ok(words)
    }

    async fn update_books(
        conn: &mut PgConnection,
        books: &[Book],
    ) -> Result<Vec<String>, StoreError> {
        if books.is_empty() {
            return Ok(Vec::new());
        }
        write_rows(conn, &BOOKS_UPDATE, books)
            .await
            .map_err(backend)
    }

    async fn relink(conn: &mut PgConnection, relinks: &Relinks<'_>) -> Result<(), StoreError> {
        for (clear, books) in [
            (AUTHORS_CLEAR, &relinks.authors),
            (GENRES_CLEAR, &relinks.genres),
        ] {
            if !books.is_empty() {
                let ids: Vec<Uuid> = books.iter().map(|b| b.id.as_uuid()).collect();
                sqlx::query(clear)
                    .bind(ids)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
        }
        insert_links(conn, &relinks.authors, &relinks.genres).await
    }

    async fn set_levels(
        conn: &mut PgConnection,
        location: Uuid,
        levels: &[(Uuid, i64)],
    ) -> Result<(), StoreError> {
        if levels.is_empty() {
            return Ok(());
        }
        sqlx::query(LEVELS_SET)
            .bind(location)
            .bind(levels.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind(levels.iter().map(|l| l.1).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn insert_movements(
        conn: &mut PgConnection,
        movements: &[StockMovement],
    ) -> Result<(), StoreError> {
        if movements.is_empty() {
            return Ok(());
        }
        let m = movements;
        sqlx::query(MOVEMENTS_INSERT)
            .bind(m.iter().map(|m| m.id).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.book_id.as_uuid()).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.quantity).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.delta).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.quantity_after).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.reason.as_deref()).collect::<Vec<_>>())
            .bind(m.iter().map(|m| m.actor.as_str()).collect::<Vec<_>>())
            .bind(
                m.iter()
                    .map(|m| m.request_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(m.iter().map(|m| m.at).collect::<Vec<_>>())
            .bind(
                m.iter()
                    .map(|m| m.location_id.as_uuid())
                    .collect::<Vec<_>>(),
            )
            .bind(m.iter().map(|m| m.location.as_str()).collect::<Vec<_>>())
            .bind(
                m.iter()
                    .map(|m| m.location_quantity_after)
                    .collect::<Vec<_>>(),
            )
            .bind(
                m.iter()
                    .map(|m| m.counterpart.as_deref())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn remove_unused_names(
        conn: &mut PgConnection,
        created: &CreatedNames,
    ) -> Result<(), StoreError> {
        for (lock, delete, ids) in [
            (AUTHORS_LOCK, AUTHORS_DELETE_UNUSED, &created.authors),
            (GENRES_LOCK, GENRES_DELETE_UNUSED, &created.genres),
        ] {
            if ids.is_empty() {
                continue;
            }
            // The delete is a statement of its own, after the lock: its snapshot sees the
            // links of the writers the lock waited for.
            for statement in [lock, delete] {
                sqlx::query(statement)
                    .bind(ids)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
            }
        }
        Ok(())
    }

    async fn record_changes(
        conn: &mut PgConnection,
        changes: &[Change],
        ctx: &WriteContext,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let c = changes;
        sqlx::query(HISTORY_INSERT)
            .bind(c.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
            .bind(c.iter().map(|c| c.book_id).collect::<Vec<_>>())
            .bind(c.iter().map(|c| c.version).collect::<Vec<_>>())
            .bind(c.iter().map(|c| c.action.as_str()).collect::<Vec<_>>())
            .bind(ctx.actor())
            .bind(ctx.request_id.as_deref())
            .bind(now)
            .bind(
                c.iter()
                    .map(|c| c.before.as_ref().map(Json))
                    .collect::<Vec<_>>(),
            )
            .bind(c.iter().map(|c| Json(&c.event.data)).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        sqlx::query(OUTBOX_INSERT)
            .bind(c.iter().map(|c| c.event.id).collect::<Vec<_>>())
            .bind(c.iter().map(|c| c.book_id).collect::<Vec<_>>())
            .bind(
                c.iter()
                    .map(|c| c.event.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(c.iter().map(|c| Json(&c.event)).collect::<Vec<_>>())
            .bind(now)
            .bind(
                c.iter()
                    .map(|c| outbox_partition(c.book_id))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
