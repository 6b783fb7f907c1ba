-- Stock movements (SQLite). Keep in step with ../postgres/0004_stock.sql.
-- No foreign key to books: like the audit history, movements outlive the book.

CREATE TABLE stock_movements (
    id              BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    book_id         BLOB    NOT NULL CHECK (length(book_id) = 16),
    kind            TEXT    NOT NULL CHECK (kind IN ('receive', 'sale', 'return', 'adjustment', 'count')),
    quantity        INTEGER NOT NULL,
    delta           INTEGER NOT NULL,
    quantity_after  INTEGER NOT NULL CHECK (quantity_after >= 0),
    reason          TEXT,
    actor           TEXT    NOT NULL,
    request_id      TEXT,
    at              TEXT    NOT NULL CHECK (length(at) = 27)
) STRICT;

CREATE INDEX stock_movements_book_idx ON stock_movements (book_id, id);

-- The low-stock list reads only books at or below their reorder point, fewest first.
CREATE INDEX books_low_stock_idx ON books (quantity, id) WHERE quantity <= reorder_point;
