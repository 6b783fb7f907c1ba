-- Read-your-writes through the search index (PostgreSQL only: SQLite issues no consistency
-- tokens). A consistency token is the primary's WAL position after a write committed; each
-- outbox row records the WAL insert position when it was written, which is before its
-- transaction's commit and so below the token of that write. "No unpublished event was
-- written before this token" then says that the write's event, if it had one, has a
-- position in the event log: the index may answer once it has read the log that far.
--
-- Rows written before this migration have none (NULL): they count as written before any
-- token. The default is set after the column is added, so that adding it rewrites nothing.
ALTER TABLE outbox ADD COLUMN insert_lsn pg_lsn;
ALTER TABLE outbox ALTER COLUMN insert_lsn SET DEFAULT pg_current_wal_insert_lsn();
CREATE INDEX outbox_unpublished_lsn_idx ON outbox (insert_lsn) WHERE published_at IS NULL;
