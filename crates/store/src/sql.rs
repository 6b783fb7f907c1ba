//! SQL text shared by both databases. sqlx-sqlite accepts PostgreSQL's `$1` placeholders, so
//! one statement serves both stores; only the JSON aggregation of a book's contributors and
//! genres, and row locking, differ (see `sqlite.rs` and `postgres.rs`).

use bookstore_core::BookSort;

const BOOK_COLUMNS: &str = "b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, \
    b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, \
    b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, \
    b.updated_at";

/// Book reads: the row plus its contributors and genres as JSON arrays, in one statement.
#[derive(Debug)]
pub(crate) struct BookSql {
    /// `SELECT … FROM books b`, to be followed by a `WHERE` clause.
    pub(crate) select: String,
    pub(crate) by_id: String,
    pub(crate) by_isbn: String,
    /// The select list of a book read (row, contributors, genres), over `books b`.
    pub(crate) columns: String,
}

impl BookSql {
    /// `authors_json` and `genres_json` are correlated subqueries over `b.id` yielding JSON
    /// arrays of `{author_id, name, role}` and `{id, name}` in position order.
    pub(crate) fn new(authors_json: &str, genres_json: &str) -> Self {
        let columns = format!("{BOOK_COLUMNS}, {authors_json} AS authors, {genres_json} AS genres");
        let select = format!("SELECT {columns} FROM books b");
        Self {
            columns,
            by_id: format!("{select} WHERE b.id = $1"),
            by_isbn: format!("{select} WHERE b.isbn = $1"),
            select,
        }
    }
}

/// The columns `$1..$19` of [`BOOK_INSERT`] and [`BOOK_UPDATE`], in binding order.
pub(crate) const BOOK_INSERT: &str = "INSERT INTO books (id, isbn, title, sort_title, subtitle, \
    description, publisher, published_year, language, format, page_count, price_minor, \
    price_currency, quantity, reorder_point, location, version, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// Followed by `VALUES …`: the columns of [`BOOK_INSERT`], one row per book.
pub(crate) const BOOK_INSERT_MANY: &str = "INSERT INTO books (id, isbn, title, sort_title, \
    subtitle, description, publisher, published_year, language, format, page_count, \
    price_minor, price_currency, quantity, reorder_point, location, version, created_at, \
    updated_at) ";
/// Followed by the ISBNs, comma-separated, and `)`.
pub(crate) const BOOK_IDS_BY_ISBNS: &str = "SELECT isbn, id FROM books WHERE isbn IN (";

pub(crate) const BOOK_UPDATE: &str = "UPDATE books SET isbn = $2, title = $3, sort_title = $4, \
    subtitle = $5, description = $6, publisher = $7, published_year = $8, language = $9, \
    format = $10, page_count = $11, price_minor = $12, price_currency = $13, quantity = $14, \
    reorder_point = $15, location = $16, version = $17, created_at = $18, updated_at = $19 \
    WHERE id = $1";

pub(crate) const BOOK_DELETE: &str = "DELETE FROM books WHERE id = $1";
pub(crate) const BOOK_ID_BY_ISBN: &str = "SELECT id FROM books WHERE isbn = $1";

/// Authors or genres, as a book references them: by id (which must exist) or by name
/// (matched on the folded name, or created); and as they are deleted, once nothing uses them.
pub(crate) struct Named {
    pub(crate) entity: &'static str,
    /// The draft's field, for errors: `authors[2]`.
    pub(crate) field: &'static str,
    /// Followed by the bound ids and `)`.
    pub(crate) names_by_id: &'static str,
    /// Followed by `VALUES (id, name, name_key, created_at, updated_at), …` and
    /// [`ON_NAME_CONFLICT_DO_NOTHING`]: a concurrent insert of the same name wins quietly.
    pub(crate) insert: &'static str,
    /// Followed by the bound keys and `)`.
    pub(crate) by_keys: &'static str,
    /// Deletes the one with id `$1`.
    pub(crate) delete: &'static str,
    /// Counts the books that name the one with id `$1`.
    pub(crate) book_count: &'static str,
    /// Counts the ones nested under the one with id `$1`, where they nest.
    pub(crate) child_count: Option<&'static str>,
}

pub(crate) const AUTHORS: Named = Named {
    entity: "author",
    field: "authors",
    names_by_id: "SELECT id, name FROM authors WHERE id IN (",
    insert: "INSERT INTO authors (id, name, name_key, created_at, updated_at) ",
    by_keys: "SELECT name_key, id, name FROM authors WHERE name_key IN (",
    delete: AUTHOR_DELETE,
    book_count: AUTHOR_BOOK_COUNT,
    child_count: None,
};

pub(crate) const GENRES: Named = Named {
    entity: "genre",
    field: "genres",
    names_by_id: "SELECT id, name FROM genres WHERE id IN (",
    insert: "INSERT INTO genres (id, name, name_key, created_at, updated_at) ",
    by_keys: "SELECT name_key, id, name FROM genres WHERE name_key IN (",
    delete: GENRE_DELETE,
    book_count: GENRE_BOOK_COUNT,
    child_count: Some(GENRE_CHILD_COUNT),
};

pub(crate) const ON_NAME_CONFLICT_DO_NOTHING: &str = " ON CONFLICT (name_key) DO NOTHING";

pub(crate) const BOOK_AUTHORS_CLEAR: &str = "DELETE FROM book_authors WHERE book_id = $1";
pub(crate) const BOOK_GENRES_CLEAR: &str = "DELETE FROM book_genres WHERE book_id = $1";
pub(crate) const BOOK_AUTHORS_INSERT: &str =
    "INSERT INTO book_authors (book_id, author_id, position, role) ";
pub(crate) const BOOK_GENRES_INSERT: &str =
    "INSERT INTO book_genres (book_id, genre_id, position) ";

pub(crate) const HISTORY_INSERT: &str = "INSERT INTO book_history (id, book_id, version, action, \
    actor, request_id, at, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const HISTORY_SELECT: &str = "SELECT id, book_id, version, action, actor, request_id, \
    at, before, after FROM book_history WHERE book_id = ";

/// `partition` is `bookstore_core::outbox::partition_of(aggregate_id)`.
pub(crate) const OUTBOX_INSERT: &str = "INSERT INTO outbox (id, aggregate_type, aggregate_id, \
    event_type, payload, created_at, partition) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const IDEMPOTENCY_INSERT: &str = "INSERT INTO idempotency_keys (scope, key, \
    fingerprint, response, created_at) VALUES ($1, $2, $3, $4, $5)";
/// A record of a key used since `$3`: older ones are expired.
pub(crate) const IDEMPOTENCY_SELECT: &str = "SELECT fingerprint, response FROM idempotency_keys \
    WHERE scope = $1 AND key = $2 AND created_at >= $3";
/// The expired record of a key, which a new use of the key replaces.
pub(crate) const IDEMPOTENCY_FORGET: &str =
    "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3";

/// The books that name author `$1`, in id order (the order their rows are locked in).
pub(crate) const AUTHOR_BOOK_IDS: &str =
    "SELECT DISTINCT book_id FROM book_authors WHERE author_id = $1 ORDER BY book_id";
/// The books tagged with genre `$1`, in id order.
pub(crate) const GENRE_BOOK_IDS: &str =
    "SELECT DISTINCT book_id FROM book_genres WHERE genre_id = $1 ORDER BY book_id";
pub(crate) const AUTHOR_NAME_BY_ID: &str = "SELECT name FROM authors WHERE id = $1";
/// Followed by `VALUES …`: one row per touched book.
pub(crate) const HISTORY_INSERT_MANY: &str = "INSERT INTO book_history (id, book_id, version, \
    action, actor, request_id, at, before, after) ";
/// Followed by `VALUES …`: one row per touched book.
pub(crate) const OUTBOX_INSERT_MANY: &str = "INSERT INTO outbox (id, aggregate_type, \
    aggregate_id, event_type, payload, created_at, partition) ";

macro_rules! author_select {
    () => {
        "SELECT a.id, a.name, a.name_key, a.bio, a.created_at, a.updated_at, \
         (SELECT count(DISTINCT ba.book_id) FROM book_authors ba WHERE ba.author_id = a.id) \
         AS book_count FROM authors a"
    };
}
pub(crate) const AUTHOR_SELECT: &str = author_select!();
pub(crate) const AUTHOR_BY_ID: &str = concat!(author_select!(), " WHERE a.id = $1");
pub(crate) const AUTHOR_INSERT: &str = "INSERT INTO authors (id, name, name_key, bio, \
    created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
pub(crate) const AUTHOR_UPDATE: &str =
    "UPDATE authors SET name = $2, name_key = $3, bio = $4, updated_at = $5 WHERE id = $1";
pub(crate) const AUTHOR_DELETE: &str = "DELETE FROM authors WHERE id = $1";
pub(crate) const AUTHOR_BOOK_COUNT: &str =
    "SELECT count(DISTINCT book_id) FROM book_authors WHERE author_id = $1";

macro_rules! genre_select {
    () => {
        "SELECT g.id, g.name, g.name_key, g.parent_id, g.created_at, g.updated_at, \
         (SELECT count(*) FROM book_genres bg WHERE bg.genre_id = g.id) AS book_count \
         FROM genres g"
    };
}
pub(crate) const GENRE_SELECT: &str = genre_select!();
pub(crate) const GENRE_BY_ID: &str = concat!(genre_select!(), " WHERE g.id = $1");
pub(crate) const GENRE_NAME_BY_ID: &str = "SELECT name FROM genres WHERE id = $1";
pub(crate) const GENRE_INSERT: &str = "INSERT INTO genres (id, name, name_key, parent_id, \
    created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
pub(crate) const GENRE_UPDATE: &str = "UPDATE genres SET name = $2, name_key = $3, \
    parent_id = $4, updated_at = $5 WHERE id = $1";
pub(crate) const GENRE_DELETE: &str = "DELETE FROM genres WHERE id = $1";
pub(crate) const GENRE_BOOK_COUNT: &str = "SELECT count(*) FROM book_genres WHERE genre_id = $1";
pub(crate) const GENRE_CHILD_COUNT: &str = "SELECT count(*) FROM genres WHERE parent_id = $1";
/// Whether genre `$2` is `$1` or one of its ancestors: then making `$2` a child of `$1`
/// would close a cycle. `UNION` (not `UNION ALL`) ends the walk even on a corrupt tree.
pub(crate) const GENRE_IS_SELF_OR_ANCESTOR: &str = "WITH RECURSIVE ancestors (id) AS (\
    SELECT id FROM genres WHERE id = $1 \
    UNION SELECT g.parent_id FROM genres g JOIN ancestors a ON g.id = a.id \
    WHERE g.parent_id IS NOT NULL) \
    SELECT count(*) FROM ancestors WHERE id = $2";

pub(crate) const MIGRATIONS_APPLIED: &str =
    "SELECT version, success, checksum FROM _sqlx_migrations";

/// The key column and direction of a book list order; every order ends with `b.id` in the
/// same direction. The nullable orders use generated key columns whose sentinels put NULLs
/// last (see the migrations and [`crate::rows::PRICE_ASC_NULL`]).
pub(crate) fn book_order(sort: BookSort) -> (&'static str, bool) {
    match sort {
        BookSort::UpdatedDesc => ("b.updated_at", true),
        BookSort::Title => ("b.sort_title", false),
        BookSort::Price => ("b.price_asc_key", false),
        BookSort::PriceDesc => ("b.price_desc_key", true),
        BookSort::PublishedYear => ("b.year_key", false),
        // Relevance pages are ordered by score (see `search.rs`); by id if ever asked here.
        BookSort::Relevance => ("b.id", false),
    }
}

/// `LIKE` pattern matching `needle` anywhere, with `\` as the escape character.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub(crate) const STOCK_UPDATE: &str =
    "UPDATE books SET quantity = $2, version = $3, updated_at = $4 WHERE id = $1";
pub(crate) const STOCK_MOVEMENT_INSERT: &str = "INSERT INTO stock_movements (id, book_id, kind, \
    quantity, delta, quantity_after, reason, actor, request_id, at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// Followed by `VALUES …`: the columns of [`STOCK_MOVEMENT_INSERT`], one row per movement.
pub(crate) const STOCK_MOVEMENT_INSERT_MANY: &str = "INSERT INTO stock_movements (id, book_id, \
    kind, quantity, delta, quantity_after, reason, actor, request_id, at) ";
/// Followed by optional `AND id < $2`, the order and the limit.
pub(crate) const STOCK_MOVEMENT_SELECT: &str = "SELECT id, book_id, kind, quantity, delta, \
    quantity_after, reason, actor, request_id, at FROM stock_movements WHERE book_id = ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
