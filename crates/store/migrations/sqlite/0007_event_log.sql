-- The event log (SQLite). Keep in step with ../postgres/0008_event_log.sql.
--
-- Relays share the outbox by partition (the last byte of the book's id, modulo 16: see
-- `bookstore_core::outbox::partition_of`); a published event gets the next position of the
-- event log, which only grows, in publish order; `event_log_head` holds the last one given.
-- (The single writer connection serialises the marking transactions; relays wake on an
-- in-process signal, as only one process writes a SQLite file.)
--
-- SQLite cannot add a column with a CHECK or UNIQUE constraint: the partition's default is
-- never used (every insert sets it) and the positions are unique by index.
ALTER TABLE outbox ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
-- The last byte modulo 16 is the last hex digit.
UPDATE outbox SET partition = instr('0123456789ABCDEF', substr(hex(aggregate_id), 32, 1)) - 1;
ALTER TABLE outbox ADD COLUMN position INTEGER;

DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (partition, seq) WHERE published_at IS NULL;
CREATE UNIQUE INDEX outbox_position_idx ON outbox (position) WHERE position IS NOT NULL;
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE event_log_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  INTEGER NOT NULL
) STRICT;
INSERT INTO event_log_head (id, position) VALUES (1, 0);
