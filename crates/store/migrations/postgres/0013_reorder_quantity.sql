-- Reorder quantity (PostgreSQL). Keep in step with ../sqlite/0012_reorder_quantity.sql.
-- How many copies to order once a book's stock falls to its reorder point; 0 (nothing set)
-- for the books already in the catalog. A constant default: no table rewrite.

ALTER TABLE books
    ADD COLUMN reorder_quantity bigint NOT NULL DEFAULT 0
        CONSTRAINT books_reorder_quantity_check CHECK (reorder_quantity >= 0);
