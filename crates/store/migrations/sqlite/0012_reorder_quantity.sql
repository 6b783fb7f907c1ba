-- Reorder quantity (SQLite). Keep in step with ../postgres/0013_reorder_quantity.sql.
-- How many copies to order once a book's stock falls to its reorder point; 0 (nothing set)
-- for the books already in the catalog.

ALTER TABLE books ADD COLUMN reorder_quantity INTEGER NOT NULL DEFAULT 0 CHECK (reorder_quantity >= 0);
