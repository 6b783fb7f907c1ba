-- The relay drains every partition it holds in one round (one read, one marking transaction),
-- and is woken by a notification sent after the commit. Keep in step with
-- ../sqlite/0009_relay_rounds.sql.
--
-- The insert trigger of 0008 notified inside every write transaction: PostgreSQL serialises
-- the commits of notifying transactions (a lock held through the WAL flush), so every write
-- queued behind every other. Each process now notifies after its commits, at most one
-- notification in flight (`CommitNotifier`).
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION bookstore_outbox_notify();

-- A round reads the oldest pending events of several partitions at once: by `seq`, with the
-- partitions as a filter.
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
