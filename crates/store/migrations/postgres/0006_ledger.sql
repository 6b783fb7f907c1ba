-- The stock ledger explains the stock (PostgreSQL). Keep in step with ../sqlite/0005_ledger.sql.
--
-- From now on every change of a book's quantity is a stock movement (a create's quantity is a
-- first `receive`, an edited one an `adjustment`), so the movements of a book sum to its
-- quantity on hand. Books from before get the movement that makes it so: a `receive` at their
-- creation when they have no movement yet, an `adjustment` now when earlier edits changed the
-- quantity besides their movements.

-- A UUIDv7 of the instant `at`, random in its other bits: movements list in id order.
CREATE FUNCTION pg_temp.bookstore_uuid_v7_at(at timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

INSERT INTO stock_movements (id, book_id, kind, quantity, delta, quantity_after, reason, actor,
                             request_id, at)
SELECT pg_temp.bookstore_uuid_v7_at(o.at), o.id, o.kind, o.diff, o.diff, o.quantity,
       'opening balance', 'system', NULL, o.at
FROM (
    SELECT b.id, b.quantity, b.quantity - coalesce(m.total, 0) AS diff,
           CASE WHEN m.total IS NULL THEN 'receive' ELSE 'adjustment' END AS kind,
           CASE WHEN m.total IS NULL THEN b.created_at ELSE now() END AS at
    FROM books b
    LEFT JOIN (SELECT book_id, sum(delta) AS total FROM stock_movements GROUP BY book_id) m
        ON m.book_id = b.id
) o
WHERE o.diff <> 0;

-- Idempotency records hold whatever a create made (a book, a movement, an author, a user...).
ALTER TABLE idempotency_keys DROP COLUMN book_id;
-- Expired keys are pruned by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
