-- Stocktakes (PostgreSQL). Keep in step with ../sqlite/0011_stocktakes.sql.
--
-- A stocktake counts one location (and the shelves inside it), book by book; its commit sets
-- each counted book's stock there with a `count` movement. A line remembers the stock at its
-- location when it was last counted, so that what moved there while the shop stayed open is
-- reconciled at the commit (see the README). No foreign key to books: like the movements, a
-- committed stocktake outlives the books it counted.

CREATE TABLE stocktakes (
    id              uuid        PRIMARY KEY,
    location_id     uuid        NOT NULL,
    -- The location's code when the stocktake was opened.
    location_code   text        NOT NULL,
    note            text,
    state           text        NOT NULL CHECK (state IN ('open', 'committed', 'cancelled')),
    version         bigint      NOT NULL CHECK (version >= 1),
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    closed_at       timestamptz
);
CREATE INDEX stocktakes_open_idx ON stocktakes (location_id) WHERE state = 'open';

CREATE TABLE stocktake_lines (
    stocktake_id        uuid        NOT NULL REFERENCES stocktakes (id) ON DELETE CASCADE,
    book_id             uuid        NOT NULL,
    location_id         uuid        NOT NULL,
    location_code       text        NOT NULL,
    counted             bigint      NOT NULL CHECK (counted >= 0),
    counted_at          timestamptz NOT NULL,
    on_hand_at_count    bigint      NOT NULL,
    -- Set by the commit: the stock then, and the copies sold since the count.
    on_hand_at_commit   bigint,
    sold_at_commit      bigint,
    PRIMARY KEY (stocktake_id, book_id, location_id)
);

-- `GET /books?not_counted_since=`: a book's latest count.
CREATE INDEX stock_movements_count_idx ON stock_movements (book_id, at) WHERE kind = 'count';
