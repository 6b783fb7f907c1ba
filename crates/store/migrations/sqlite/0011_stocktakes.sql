-- Stocktakes (SQLite). Keep in step with ../postgres/0012_stocktakes.sql.
--
-- A stocktake counts one location (and the shelves inside it), book by book; its commit sets
-- each counted book's stock there with a `count` movement. A line remembers the stock at its
-- location when it was last counted, so that what moved there while the shop stayed open is
-- reconciled at the commit (see the README). No foreign key to books: like the movements, a
-- committed stocktake outlives the books it counted.

CREATE TABLE stocktakes (
    id              BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    location_id     BLOB    NOT NULL CHECK (length(location_id) = 16),
    -- The location's code when the stocktake was opened.
    location_code   TEXT    NOT NULL,
    note            TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'committed', 'cancelled')),
    version         INTEGER NOT NULL CHECK (version >= 1),
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at      TEXT    NOT NULL CHECK (length(updated_at) = 27),
    closed_at       TEXT    CHECK (length(closed_at) = 27)
) STRICT;
CREATE INDEX stocktakes_open_idx ON stocktakes (location_id) WHERE state = 'open';

CREATE TABLE stocktake_lines (
    stocktake_id        BLOB    NOT NULL REFERENCES stocktakes (id) ON DELETE CASCADE,
    book_id             BLOB    NOT NULL CHECK (length(book_id) = 16),
    location_id         BLOB    NOT NULL CHECK (length(location_id) = 16),
    location_code       TEXT    NOT NULL,
    counted             INTEGER NOT NULL CHECK (counted >= 0),
    counted_at          TEXT    NOT NULL CHECK (length(counted_at) = 27),
    on_hand_at_count    INTEGER NOT NULL,
    -- Set by the commit: the stock then, and the copies sold since the count.
    on_hand_at_commit   INTEGER,
    sold_at_commit      INTEGER,
    PRIMARY KEY (stocktake_id, book_id, location_id)
) STRICT, WITHOUT ROWID;

-- `GET /books?not_counted_since=`: a book's latest count.
CREATE INDEX stock_movements_count_idx ON stock_movements (book_id, at) WHERE kind = 'count';
