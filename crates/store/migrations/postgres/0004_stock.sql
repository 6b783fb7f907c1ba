-- Stock movements (PostgreSQL). Keep in step with ../sqlite/0004_stock.sql.
-- No foreign key to books: like the audit history, movements outlive the book.

CREATE TABLE stock_movements (
    id              uuid        PRIMARY KEY,
    book_id         uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('receive', 'sale', 'return', 'adjustment', 'count')),
    quantity        bigint      NOT NULL,
    delta           bigint      NOT NULL,
    quantity_after  bigint      NOT NULL CHECK (quantity_after >= 0),
    reason          text,
    actor           text        NOT NULL,
    request_id      text,
    at              timestamptz NOT NULL
);

CREATE INDEX stock_movements_book_idx ON stock_movements (book_id, id);

-- The low-stock list reads only books at or below their reorder point, fewest first.
CREATE INDEX books_low_stock_idx ON books (quantity, id) WHERE quantity <= reorder_point;
