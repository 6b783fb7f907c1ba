-- Stock per location (SQLite). Keep in step with ../postgres/0011_locations.sql.
--
-- A book's stock on hand is kept per location: the stores and warehouses of a chain and the
-- shelves inside them. `books.quantity` stays the total over the locations, so a shop that
-- never names a location sees no change. One default location exists from the start (code
-- `main`, a store, id 00000000-0000-7000-8000-000000000001): today's stock moves there, and
-- every existing movement is recorded as made there.
--
-- The book's free-text `location` column is NOT a stock location and stays as it is: it is the
-- shelf label, where on the shelves to find the book.

CREATE TABLE locations (
    id          BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    -- Lower case; matched ignoring case, as clients send it.
    code        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('store', 'warehouse', 'shelf')),
    -- Only shelves sit inside another location.
    parent_id   BLOB    REFERENCES locations (id) ON DELETE RESTRICT,
    created_at  TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at  TEXT    NOT NULL CHECK (length(updated_at) = 27),
    CONSTRAINT locations_shelf_parent CHECK ((kind = 'shelf') = (parent_id IS NOT NULL))
) STRICT;
CREATE INDEX locations_parent_idx ON locations (parent_id);

INSERT INTO locations (id, code, name, kind, parent_id, created_at, updated_at)
VALUES (X'00000000000070008000000000000001', 'main', 'Main store', 'store', NULL,
        strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z',
        strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z');

-- Stock on hand per book and location. A book's rows sum to its quantity; every change of
-- them happens in a write transaction, with the movement that explains it.
CREATE TABLE stock_levels (
    book_id     BLOB    NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    location_id BLOB    NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
    quantity    INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (book_id, location_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX stock_levels_location_idx ON stock_levels (location_id);

INSERT INTO stock_levels (book_id, location_id, quantity)
SELECT id, X'00000000000070008000000000000001', quantity FROM books WHERE quantity > 0;

-- Movements name their location (by id, and by its code as it was then: movements outlive
-- locations, as they outlive books). A transfer is a pair of `transfer` movements, out of
-- one location and into the other; `counterpart` names the other one. SQLite cannot change
-- a CHECK constraint in place: the table is rebuilt.
CREATE TABLE stock_movements_new (
    id                      BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    book_id                 BLOB    NOT NULL CHECK (length(book_id) = 16),
    kind                    TEXT    NOT NULL CHECK (kind IN ('receive', 'sale', 'return', 'adjustment', 'count', 'transfer')),
    quantity                INTEGER NOT NULL,
    delta                   INTEGER NOT NULL,
    quantity_after          INTEGER NOT NULL CHECK (quantity_after >= 0),
    reason                  TEXT,
    actor                   TEXT    NOT NULL,
    request_id              TEXT,
    at                      TEXT    NOT NULL CHECK (length(at) = 27),
    location_id             BLOB    NOT NULL CHECK (length(location_id) = 16),
    location_code           TEXT    NOT NULL,
    location_quantity_after INTEGER NOT NULL CHECK (location_quantity_after >= 0),
    counterpart             TEXT
) STRICT;

INSERT INTO stock_movements_new (id, book_id, kind, quantity, delta, quantity_after, reason,
                                 actor, request_id, at, location_id, location_code,
                                 location_quantity_after, counterpart)
SELECT id, book_id, kind, quantity, delta, quantity_after, reason, actor, request_id, at,
       X'00000000000070008000000000000001', 'main', quantity_after, NULL
FROM stock_movements;

DROP TABLE stock_movements;
ALTER TABLE stock_movements_new RENAME TO stock_movements;
CREATE INDEX stock_movements_book_idx ON stock_movements (book_id, id);
