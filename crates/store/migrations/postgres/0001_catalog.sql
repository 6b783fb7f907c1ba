-- Catalog schema (PostgreSQL). Keep in step with ../sqlite/0001_catalog.sql: both stores pass
-- one contract test suite. Text sort keys use COLLATE "C" so that they order bytewise, as
-- SQLite's BINARY collation does.

CREATE TABLE books (
    id              uuid        PRIMARY KEY,
    isbn            text        NOT NULL UNIQUE CHECK (isbn ~ '^97[89][0-9]{10}$'),
    title           text        NOT NULL,
    sort_title      text        COLLATE "C" NOT NULL,
    subtitle        text,
    description     text,
    publisher       text,
    published_year  integer,
    language        text,
    format          text        CHECK (format IN ('hardcover', 'paperback', 'ebook', 'audiobook', 'other')),
    page_count      integer,
    price_minor     bigint      CHECK (price_minor >= 0),
    price_currency  text        CHECK (length(price_currency) = 3),
    quantity        bigint      NOT NULL CHECK (quantity >= 0),
    reorder_point   bigint      NOT NULL CHECK (reorder_point >= 0),
    location        text,
    version         bigint      NOT NULL CHECK (version >= 1),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- Sort keys of the nullable list orders: a sentinel puts NULLs last in both directions.
    price_asc_key   bigint      NOT NULL GENERATED ALWAYS AS (coalesce(price_minor, 9223372036854775807)) STORED,
    price_desc_key  bigint      NOT NULL GENERATED ALWAYS AS (coalesce(price_minor, -1)) STORED,
    year_key        integer     NOT NULL GENERATED ALWAYS AS (coalesce(published_year, 2147483647)) STORED,
    CONSTRAINT books_price_complete CHECK ((price_minor IS NULL) = (price_currency IS NULL))
);

-- One index per list order (src/sql.rs); each order ends with the id.
CREATE INDEX books_updated_at_idx ON books (updated_at, id);
CREATE INDEX books_sort_title_idx ON books (sort_title, id);
CREATE INDEX books_price_asc_idx ON books (price_asc_key, id);
CREATE INDEX books_price_desc_idx ON books (price_desc_key, id);
CREATE INDEX books_year_idx ON books (year_key, id);

CREATE TABLE authors (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    name_key    text        COLLATE "C" NOT NULL UNIQUE,
    bio         text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE book_authors (
    book_id     uuid    NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    author_id   uuid    NOT NULL REFERENCES authors (id) ON DELETE RESTRICT,
    position    integer NOT NULL,
    role        text    NOT NULL CHECK (role IN ('author', 'editor', 'translator', 'illustrator')),
    PRIMARY KEY (book_id, author_id, role)
);
CREATE INDEX book_authors_author_idx ON book_authors (author_id);

CREATE TABLE genres (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    name_key    text        COLLATE "C" NOT NULL UNIQUE,
    parent_id   uuid        REFERENCES genres (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX genres_parent_idx ON genres (parent_id);

CREATE TABLE book_genres (
    book_id     uuid    NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    genre_id    uuid    NOT NULL REFERENCES genres (id) ON DELETE RESTRICT,
    position    integer NOT NULL,
    PRIMARY KEY (book_id, genre_id)
);
CREATE INDEX book_genres_genre_idx ON book_genres (genre_id);

-- Append-only audit trail. No foreign key: the history outlives the book.
CREATE TABLE book_history (
    id          uuid        PRIMARY KEY,
    book_id     uuid        NOT NULL,
    version     bigint      NOT NULL,
    action      text        NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    actor       text        NOT NULL,
    request_id  text,
    at          timestamptz NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX book_history_book_idx ON book_history (book_id, id);

-- Transactional outbox: one CloudEvent per committed change, published later by the relay.
CREATE TABLE outbox (
    seq             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid        NOT NULL UNIQUE,
    aggregate_type  text        NOT NULL,
    aggregate_id    uuid        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    published_at    timestamptz,
    attempts        integer     NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    scope       text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    book_id     uuid        NOT NULL,
    response    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
