-- Catalog schema (SQLite). Keep in step with ../postgres/0001_catalog.sql: both stores pass
-- one contract test suite.
--
-- Representation: UUIDs are 16-byte BLOBs (sqlx's encoding; memcmp order equals PostgreSQL's
-- uuid order); timestamps are fixed-width RFC 3339 UTC text with six fractional digits
-- ('2024-01-31T12:00:00.123456Z', 27 characters), so that text order is time order; JSON is
-- TEXT. Text columns use the default BINARY collation (bytewise, like COLLATE "C").

CREATE TABLE books (
    id              BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    isbn            TEXT    NOT NULL UNIQUE CHECK (length(isbn) = 13 AND isbn GLOB '97[89][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'),
    title           TEXT    NOT NULL,
    sort_title      TEXT    NOT NULL,
    subtitle        TEXT,
    description     TEXT,
    publisher       TEXT,
    published_year  INTEGER,
    language        TEXT,
    format          TEXT    CHECK (format IN ('hardcover', 'paperback', 'ebook', 'audiobook', 'other')),
    page_count      INTEGER,
    price_minor     INTEGER CHECK (price_minor >= 0),
    price_currency  TEXT    CHECK (length(price_currency) = 3),
    quantity        INTEGER NOT NULL CHECK (quantity >= 0),
    reorder_point   INTEGER NOT NULL CHECK (reorder_point >= 0),
    location        TEXT,
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_at      TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at      TEXT    NOT NULL CHECK (length(updated_at) = 27),
    -- Sort keys of the nullable list orders: a sentinel puts NULLs last in both directions.
    price_asc_key   INTEGER NOT NULL GENERATED ALWAYS AS (coalesce(price_minor, 9223372036854775807)) VIRTUAL,
    price_desc_key  INTEGER NOT NULL GENERATED ALWAYS AS (coalesce(price_minor, -1)) VIRTUAL,
    year_key        INTEGER NOT NULL GENERATED ALWAYS AS (coalesce(published_year, 2147483647)) VIRTUAL,
    CONSTRAINT books_price_complete CHECK ((price_minor IS NULL) = (price_currency IS NULL))
) STRICT;

-- One index per list order (src/sql.rs); each order ends with the id.
CREATE INDEX books_updated_at_idx ON books (updated_at, id);
CREATE INDEX books_sort_title_idx ON books (sort_title, id);
CREATE INDEX books_price_asc_idx ON books (price_asc_key, id);
CREATE INDEX books_price_desc_idx ON books (price_desc_key, id);
CREATE INDEX books_year_idx ON books (year_key, id);

CREATE TABLE authors (
    id          BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,
    bio         TEXT,
    created_at  TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at  TEXT    NOT NULL CHECK (length(updated_at) = 27)
) STRICT;

CREATE TABLE book_authors (
    book_id     BLOB    NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    author_id   BLOB    NOT NULL REFERENCES authors (id) ON DELETE RESTRICT,
    position    INTEGER NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('author', 'editor', 'translator', 'illustrator')),
    PRIMARY KEY (book_id, author_id, role)
) STRICT, WITHOUT ROWID;
CREATE INDEX book_authors_author_idx ON book_authors (author_id);

CREATE TABLE genres (
    id          BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,
    parent_id   BLOB    REFERENCES genres (id) ON DELETE RESTRICT,
    created_at  TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at  TEXT    NOT NULL CHECK (length(updated_at) = 27),
    CHECK (parent_id IS NOT id)
) STRICT;
CREATE INDEX genres_parent_idx ON genres (parent_id);

CREATE TABLE book_genres (
    book_id     BLOB    NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    genre_id    BLOB    NOT NULL REFERENCES genres (id) ON DELETE RESTRICT,
    position    INTEGER NOT NULL,
    PRIMARY KEY (book_id, genre_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX book_genres_genre_idx ON book_genres (genre_id);

-- Append-only audit trail. No foreign key: the history outlives the book.
CREATE TABLE book_history (
    id          BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    book_id     BLOB    NOT NULL,
    version     INTEGER NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    actor       TEXT    NOT NULL,
    request_id  TEXT,
    at          TEXT    NOT NULL CHECK (length(at) = 27),
    before      TEXT    CHECK (json_valid(before)),
    after       TEXT    CHECK (json_valid(after))
) STRICT;
CREATE INDEX book_history_book_idx ON book_history (book_id, id);

-- Transactional outbox: one CloudEvent per committed change, published later by the relay.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    BLOB    NOT NULL,
    event_type      TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    created_at      TEXT    NOT NULL CHECK (length(created_at) = 27),
    published_at    TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    scope       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    book_id     BLOB    NOT NULL,
    response    TEXT    NOT NULL CHECK (json_valid(response)),
    created_at  TEXT    NOT NULL CHECK (length(created_at) = 27),
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
