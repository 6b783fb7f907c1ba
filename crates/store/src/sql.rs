//! SQL text shared by both databases. sqlx-sqlite accepts PostgreSQL's `$1` placeholders, so
//! one statement serves both stores; only the JSON aggregation of a book's contributors and
//! genres, and row locking, differ (see `sqlite.rs` and `postgres.rs`).

use bookstore_core::BookSort;

const BOOK_COLUMNS: &str = "b.id, b.isbn, b.title, b.sort_title, b.subtitle, b.description, \
    b.publisher, b.published_year, b.language, b.format, b.page_count, b.price_minor, \
    b.price_currency, b.quantity, b.reorder_point, b.location, b.version, b.created_at, \
    b.updated_at, b.reorder_quantity";

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

/// The columns `$1..$20` of [`BOOK_INSERT`] and [`BOOK_UPDATE`], in binding order.
pub(crate) const BOOK_INSERT: &str = "INSERT INTO books (id, isbn, title, sort_title, subtitle, \
    description, publisher, published_year, language, format, page_count, price_minor, \
    price_currency, quantity, reorder_point, location, version, created_at, updated_at, \
    reorder_quantity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
    $16, $17, $18, $19, $20)";

/// Followed by the ISBNs, comma-separated, and `)`.
pub(crate) const BOOK_IDS_BY_ISBNS: &str = "SELECT isbn, id FROM books WHERE isbn IN (";

pub(crate) const BOOK_UPDATE: &str = "UPDATE books SET isbn = $2, title = $3, sort_title = $4, \
    subtitle = $5, description = $6, publisher = $7, published_year = $8, language = $9, \
    format = $10, page_count = $11, price_minor = $12, price_currency = $13, quantity = $14, \
    reorder_point = $15, location = $16, version = $17, created_at = $18, updated_at = $19, \
    reorder_quantity = $20 WHERE id = $1";

pub(crate) const BOOK_DELETE: &str = "DELETE FROM books WHERE id = $1";
pub(crate) const BOOK_ID_BY_ISBN: &str = "SELECT id FROM books WHERE isbn = $1";

/// Authors or genres, as a book references them: by id (which must exist) or by name
/// (matched on the folded name, or created); and as they are deleted, once nothing uses them.
pub(crate) struct Named {
    pub(crate) entity: &'static str,
    pub(crate) table: &'static str,
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
    table: "authors",
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
    table: "genres",
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
    quantity, delta, quantity_after, reason, actor, request_id, at, location_id, location_code, \
    location_quantity_after, counterpart) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
/// Followed by `VALUES …`: the columns of [`STOCK_MOVEMENT_INSERT`], one row per movement.
pub(crate) const STOCK_MOVEMENT_INSERT_MANY: &str = "INSERT INTO stock_movements (id, book_id, \
    kind, quantity, delta, quantity_after, reason, actor, request_id, at, location_id, \
    location_code, location_quantity_after, counterpart) ";
/// Followed by optional `AND id < $2`, the order and the limit.
pub(crate) const STOCK_MOVEMENT_SELECT: &str = "SELECT id, book_id, kind, quantity, delta, \
    quantity_after, reason, actor, request_id, at, location_id, location_code, \
    location_quantity_after, counterpart FROM stock_movements WHERE book_id = ";

/// The stock of book `$1` at location `$2`.
pub(crate) const STOCK_LEVEL: &str =
    "SELECT quantity FROM stock_levels WHERE book_id = $1 AND location_id = $2";
/// Sets the stock of book `$1` at location `$2` to `$3`.
pub(crate) const STOCK_LEVEL_SET: &str = "INSERT INTO stock_levels (book_id, location_id, \
    quantity) VALUES ($1, $2, $3) \
    ON CONFLICT (book_id, location_id) DO UPDATE SET quantity = excluded.quantity";
/// The stock of book `$1` per location, by code.
pub(crate) const STOCK_LEVELS_OF_BOOK: &str = "SELECT s.location_id, l.code, l.name, l.kind, \
    s.quantity FROM stock_levels s JOIN locations l ON l.id = s.location_id \
    WHERE s.book_id = $1 ORDER BY l.code";
pub(crate) const BOOK_EXISTS: &str = "SELECT count(*) FROM books WHERE id = $1";

/// The locations after code `$1`, by code, at most `$2`.
pub(crate) const LOCATION_PAGE: &str = "SELECT id, code, name, kind, parent_id, created_at, \
    updated_at FROM locations WHERE code > $1 ORDER BY code LIMIT $2";
pub(crate) const LOCATION_BY_ID: &str = "SELECT id, code, name, kind, parent_id, created_at, \
    updated_at FROM locations WHERE id = $1";
pub(crate) const LOCATION_BY_CODE: &str = "SELECT id, code, name, kind, parent_id, created_at, \
    updated_at FROM locations WHERE code = $1";
pub(crate) const LOCATION_ID_CODE_BY_ID: &str = "SELECT id, code FROM locations WHERE id = $1";
pub(crate) const LOCATION_ID_CODE_BY_CODE: &str = "SELECT id, code FROM locations WHERE code = $1";
pub(crate) const LOCATION_INSERT: &str = "INSERT INTO locations (id, code, name, kind, \
    parent_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)";
pub(crate) const LOCATION_UPDATE: &str = "UPDATE locations SET code = $2, name = $3, kind = $4, \
    parent_id = $5, updated_at = $6 WHERE id = $1";
pub(crate) const LOCATION_CODE_TAKEN: &str =
    "SELECT count(*) FROM locations WHERE code = $1 AND id <> $2";
pub(crate) const LOCATION_STOCK: &str =
    "SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) FROM stock_levels WHERE location_id = $1";
pub(crate) const LOCATION_CHILD_COUNT: &str = "SELECT count(*) FROM locations WHERE parent_id = $1";
pub(crate) const LOCATION_EMPTY_LEVELS_DELETE: &str =
    "DELETE FROM stock_levels WHERE location_id = $1 AND quantity = 0";
pub(crate) const LOCATION_DELETE: &str = "DELETE FROM locations WHERE id = $1";
/// Whether location `$2` is `$1` or one of its ancestors: then putting `$2` inside `$1`
/// would close a cycle. `UNION` ends the walk even on a corrupt tree.
pub(crate) const LOCATION_IS_SELF_OR_ANCESTOR: &str = "WITH RECURSIVE ancestors (id) AS (\
    SELECT id FROM locations WHERE id = $1 \
    UNION SELECT l.parent_id FROM locations l JOIN ancestors a ON l.id = a.id \
    WHERE l.parent_id IS NOT NULL) \
    SELECT count(*) FROM ancestors WHERE id = $2";

macro_rules! stocktake_select {
    () => {
        "SELECT s.id, s.location_id, s.location_code, s.note, s.state, s.version, s.created_by, \
         s.created_at, s.updated_at, s.closed_at, \
         (SELECT count(*) FROM stocktake_lines l WHERE l.stocktake_id = s.id) AS line_count \
         FROM stocktakes s"
    };
}
pub(crate) const STOCKTAKE_BY_ID: &str = concat!(stocktake_select!(), " WHERE s.id = $1");
/// The newest `$1`.
pub(crate) const STOCKTAKE_FIRST_PAGE: &str =
    concat!(stocktake_select!(), " ORDER BY s.id DESC LIMIT $1");
/// The newest `$2` older than `$1`.
pub(crate) const STOCKTAKE_NEXT_PAGE: &str = concat!(
    stocktake_select!(),
    " WHERE s.id < $1 ORDER BY s.id DESC LIMIT $2"
);
pub(crate) const STOCKTAKE_INSERT: &str = "INSERT INTO stocktakes (id, location_id, \
    location_code, note, state, version, created_by, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, 'open', 1, $5, $6, $6)";
/// A new version of the open stocktake `$1`; locks its row (PostgreSQL) until the end of the
/// transaction, so that its counts and its commit are serialised.
pub(crate) const STOCKTAKE_TOUCH: &str = "UPDATE stocktakes SET version = version + 1, \
    updated_at = $2 WHERE id = $1 AND state = 'open'";
/// Closes the open stocktake `$1` as `$3` at `$2`.
pub(crate) const STOCKTAKE_CLOSE: &str = "UPDATE stocktakes SET state = $3, \
    version = version + 1, updated_at = $2, closed_at = $2 WHERE id = $1 AND state = 'open'";
pub(crate) const STOCKTAKES_OPEN_AT: &str =
    "SELECT count(*) FROM stocktakes WHERE location_id = $1 AND state = 'open'";
pub(crate) const STOCKTAKE_LINE_COUNTED: &str = "SELECT counted FROM stocktake_lines \
    WHERE stocktake_id = $1 AND book_id = $2 AND location_id = $3";
pub(crate) const STOCKTAKE_LINE_SET: &str = "INSERT INTO stocktake_lines (stocktake_id, book_id, \
    location_id, location_code, counted, counted_at, on_hand_at_count) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (stocktake_id, book_id, location_id) DO UPDATE SET counted = excluded.counted, \
    counted_at = excluded.counted_at, on_hand_at_count = excluded.on_hand_at_count";
/// The lines of stocktake `$1` a commit applies, in book order (the order it locks books in).
pub(crate) const STOCKTAKE_PENDING_LINES: &str = "SELECT book_id, location_id, location_code, \
    counted, counted_at, on_hand_at_count FROM stocktake_lines WHERE stocktake_id = $1 \
    ORDER BY book_id, location_id";
pub(crate) const STOCKTAKE_LINE_COMMITTED: &str = "UPDATE stocktake_lines \
    SET on_hand_at_commit = $4, sold_at_commit = $5 \
    WHERE stocktake_id = $1 AND book_id = $2 AND location_id = $3";
/// Copies of book `$1` sold at location `$2` after `$3`.
pub(crate) const SOLD_SINCE: &str = "SELECT CAST(coalesce(sum(quantity), 0) AS BIGINT) \
    FROM stock_movements WHERE book_id = $1 AND location_id = $2 AND kind = 'sale' AND at > $3";
pub(crate) const BOOK_ID_BY_ID: &str = "SELECT id FROM books WHERE id = $1";
macro_rules! stocktake_lines_select {
    () => {
        "SELECT l.book_id, b.isbn, b.title, l.location_id, l.location_code, l.counted, \
         l.counted_at, l.on_hand_at_count, \
         CAST(coalesce(l.on_hand_at_commit, (SELECT sl.quantity FROM stock_levels sl \
           WHERE sl.book_id = l.book_id AND sl.location_id = l.location_id), 0) AS BIGINT) \
           AS on_hand, \
         CAST(coalesce(l.sold_at_commit, (SELECT sum(m.quantity) FROM stock_movements m \
           WHERE m.book_id = l.book_id AND m.location_id = l.location_id AND m.kind = 'sale' \
           AND m.at > l.counted_at), 0) AS BIGINT) AS sold_since_count \
         FROM stocktake_lines l LEFT JOIN books b ON b.id = l.book_id WHERE l.stocktake_id = $1"
    };
}
/// A page of the lines of stocktake `$1`, at most `$2`, in the order of
/// `StocktakeLineRow::position` (by ISBN, a deleted book's lines last); `after`: only those
/// after the position `($3, $4, $5, $6)`. `collate` makes the text keys compare bytewise
/// (`Dialect::COLLATE_BYTES`).
pub(crate) fn stocktake_lines_page(collate: &str, after: bool) -> String {
    let deleted = crate::rows::DELETED_BOOK_ISBN;
    let key = format!(
        "coalesce(b.isbn, '{deleted}'){collate}, l.location_code{collate}, l.book_id, \
         l.location_id"
    );
    let after = if after {
        format!(" AND ({key}) > ($3, $4, $5, $6)")
    } else {
        String::new()
    };
    format!(
        "{}{after} ORDER BY {key} LIMIT $2",
        stocktake_lines_select!()
    )
}
/// The line of book `$2` at location `$3`.
pub(crate) const STOCKTAKE_LINE: &str = concat!(
    stocktake_lines_select!(),
    " AND l.book_id = $2 AND l.location_id = $3"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
