-- The event log (PostgreSQL). Keep in step with ../sqlite/0007_event_log.sql.
--
-- Relays share the outbox by partition (the last byte of the book's id, modulo 16: see
-- `bookstore_core::outbox::partition_of`); one relay at a time holds a partition's lease (a
-- session advisory lock), so each book's events are published in order by one relay. A
-- published event gets the next position of the event log, which only grows, in publish
-- order: `event_log_head` holds the last one given, and its row lock serialises the relays'
-- marking transactions, so that positions become visible in the order they were given.
ALTER TABLE outbox ADD COLUMN partition smallint;
UPDATE outbox SET partition = get_byte(uuid_send(aggregate_id), 15) % 16;
ALTER TABLE outbox ALTER COLUMN partition SET NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_partition_check CHECK (partition BETWEEN 0 AND 15);
ALTER TABLE outbox ADD COLUMN position bigint;

DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (partition, seq) WHERE published_at IS NULL;
CREATE UNIQUE INDEX outbox_position_idx ON outbox (position) WHERE position IS NOT NULL;
-- Pruning by age of publication.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE event_log_head (
    id        smallint PRIMARY KEY CHECK (id = 1),
    position  bigint   NOT NULL
);
INSERT INTO event_log_head (id, position) VALUES (1, 0);

-- Wakes the relays at commit: a notification is delivered when its transaction commits, and
-- identical ones of one transaction are folded into one. The payload is the partition, so
-- that a relay wakes only the partition that has work (one commit, one query).
CREATE FUNCTION bookstore_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bookstore_outbox', NEW.partition::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION bookstore_outbox_notify();
