-- The stock ledger explains the stock (SQLite). Keep in step with ../postgres/0006_ledger.sql.
--
-- From now on every change of a book's quantity is a stock movement (a create's quantity is a
-- first `receive`, an edited one an `adjustment`), so the movements of a book sum to its
-- quantity on hand. Books from before get the movement that makes it so: a `receive` at their
-- creation when they have no movement yet, an `adjustment` now when earlier edits changed the
-- quantity besides their movements. Ids are UUIDv7 of that instant (movements list in id
-- order): 48 bits of Unix milliseconds, version 7, random bits, the RFC 9562 variant.

INSERT INTO stock_movements (id, book_id, kind, quantity, delta, quantity_after, reason, actor,
                             request_id, at)
SELECT unhex(printf('%012x', CAST(round((julianday(o.at) - 2440587.5) * 86400000) AS INTEGER))
             || '7' || substr(hex(randomblob(2)), 1, 3)
             || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(8)), 1, 15)),
       o.id, o.kind, o.diff, o.diff, o.quantity, 'opening balance', 'system', NULL, o.at
FROM (
    SELECT b.id, b.quantity, b.quantity - coalesce(m.total, 0) AS diff,
           CASE WHEN m.total IS NULL THEN 'receive' ELSE 'adjustment' END AS kind,
           CASE WHEN m.total IS NULL THEN b.created_at
                ELSE strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' END AS at
    FROM books b
    LEFT JOIN (SELECT book_id, sum(delta) AS total FROM stock_movements GROUP BY book_id) m
        ON m.book_id = b.id
) o
WHERE o.diff <> 0;

-- Idempotency records hold whatever a create made (a book, a movement, an author, a user...).
ALTER TABLE idempotency_keys DROP COLUMN book_id;
-- Expired keys are pruned by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
