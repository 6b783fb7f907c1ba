-- Imports of catalog files (PostgreSQL). Keep in step with ../sqlite/0013_imports.sql.
--
-- A running import writes its progress at least every few seconds (heartbeat_at). An import
-- whose heartbeat went stale was running in a process that stopped: any replica fails it
-- (state 'failed', failure 'interrupted by a restart'); the rows it committed stay.
CREATE TABLE imports (
    id            uuid        PRIMARY KEY,
    format        text        NOT NULL CHECK (format IN ('csv', 'onix')),
    mode          text        NOT NULL CHECK (mode IN ('upsert', 'create_only')),
    dry_run       boolean     NOT NULL,
    state         text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    rows_read     bigint      NOT NULL DEFAULT 0,
    created       bigint      NOT NULL DEFAULT 0,
    updated       bigint      NOT NULL DEFAULT 0,
    unchanged     bigint      NOT NULL DEFAULT 0,
    rejected      bigint      NOT NULL DEFAULT 0,
    bytes_read    bigint      NOT NULL DEFAULT 0,
    bytes_total   bigint,
    failure       text,
    started_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX imports_running_idx ON imports (heartbeat_at) WHERE state = 'running';

-- The rejected rows of an import, in file order (seq), the first 10,000 of them.
CREATE TABLE import_errors (
    import_id         uuid   NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq               bigint NOT NULL,
    line              bigint NOT NULL,
    record_reference  text,
    isbn              text,
    field             text,
    message           text   NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- The link triggers of 0002_search.sql, for statements that insert the links of many books
-- at once (an import's batch): the contributor and genre text is computed once per changed
-- book, and the books are then found by id. Written as in 0002, the planner could test
-- `search_authors IS DISTINCT FROM bookstore_book_authors_text(b.id)` on every book of a
-- sequential scan, once per statement: an import slowed down with the size of the catalog.
-- Same effect, row for row.
CREATE OR REPLACE FUNCTION bookstore_book_authors_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_authors = t.text
    FROM (SELECT c.book_id, bookstore_book_authors_text(c.book_id) AS text
          FROM (SELECT DISTINCT book_id FROM changed_rows) c) t
    WHERE b.id = t.book_id
      AND b.search_authors IS DISTINCT FROM t.text;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bookstore_book_genres_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE books b SET search_genres = t.text
    FROM (SELECT c.book_id, bookstore_book_genres_text(c.book_id) AS text
          FROM (SELECT DISTINCT book_id FROM changed_rows) c) t
    WHERE b.id = t.book_id
      AND b.search_genres IS DISTINCT FROM t.text;
    RETURN NULL;
END $$;
