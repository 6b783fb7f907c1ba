-- Stock per location (PostgreSQL). Keep in step with ../sqlite/0010_locations.sql.
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
    id          uuid        PRIMARY KEY,
    -- Lower case; matched ignoring case, as clients send it.
    code        text        COLLATE "C" NOT NULL UNIQUE,
    name        text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('store', 'warehouse', 'shelf')),
    -- Only shelves sit inside another location.
    parent_id   uuid        REFERENCES locations (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT locations_shelf_parent CHECK ((kind = 'shelf') = (parent_id IS NOT NULL))
);
CREATE INDEX locations_parent_idx ON locations (parent_id);

INSERT INTO locations (id, code, name, kind, parent_id, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'main', 'Main store', 'store', NULL, now(), now());

-- Stock on hand per book and location. A book's rows sum to its quantity; every change of
-- them happens under the book's row lock, with the movement that explains it.
CREATE TABLE stock_levels (
    book_id     uuid   NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    location_id uuid   NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
    quantity    bigint NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (book_id, location_id)
);
CREATE INDEX stock_levels_location_idx ON stock_levels (location_id);

INSERT INTO stock_levels (book_id, location_id, quantity)
SELECT id, '00000000-0000-7000-8000-000000000001', quantity FROM books WHERE quantity > 0;

-- Movements name their location (by id, and by its code as it was then: movements outlive
-- locations, as they outlive books). A transfer is a pair of `transfer` movements, out of
-- one location and into the other; `counterpart` names the other one.
ALTER TABLE stock_movements
    ADD COLUMN location_id uuid NOT NULL DEFAULT '00000000-0000-7000-8000-000000000001',
    ADD COLUMN location_code text NOT NULL DEFAULT 'main',
    ADD COLUMN location_quantity_after bigint,
    ADD COLUMN counterpart text;
UPDATE stock_movements SET location_quantity_after = quantity_after;
ALTER TABLE stock_movements
    ALTER COLUMN location_id DROP DEFAULT,
    ALTER COLUMN location_code DROP DEFAULT,
    ALTER COLUMN location_quantity_after SET NOT NULL,
    ADD CONSTRAINT stock_movements_location_quantity_after_check
        CHECK (location_quantity_after >= 0),
    DROP CONSTRAINT stock_movements_kind_check,
    ADD CONSTRAINT stock_movements_kind_check
        CHECK (kind IN ('receive', 'sale', 'return', 'adjustment', 'count', 'transfer'));
