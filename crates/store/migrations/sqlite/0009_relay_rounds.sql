-- The relay drains every partition it holds in one round: it reads the oldest pending events
-- of several partitions at once, by `seq`, with the partitions as a filter. Keep in step with
-- ../postgres/0010_relay_rounds.sql.
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
