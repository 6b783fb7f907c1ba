-- Imports of catalog files (SQLite). Keep in step with ../postgres/0014_imports.sql.
--
-- A running import writes its progress at least every few seconds (heartbeat_at). A SQLite
-- store is served by one process: an import still running when that process starts was
-- interrupted, and is failed ('interrupted by a restart'); the rows it committed stay.
CREATE TABLE imports (
    id            BLOB    PRIMARY KEY NOT NULL,
    format        TEXT    NOT NULL CHECK (format IN ('csv', 'onix')),
    mode          TEXT    NOT NULL CHECK (mode IN ('upsert', 'create_only')),
    dry_run       INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    rows_read     INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    bytes_read    INTEGER NOT NULL DEFAULT 0,
    bytes_total   INTEGER,
    failure       TEXT,
    started_by    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at    TEXT    NOT NULL CHECK (length(updated_at) = 27),
    heartbeat_at  TEXT    NOT NULL CHECK (length(heartbeat_at) = 27),
    finished_at   TEXT    CHECK (length(finished_at) = 27)
) STRICT;
CREATE INDEX imports_running_idx ON imports (heartbeat_at) WHERE state = 'running';

-- The rejected rows of an import, in file order (seq), the first 10,000 of them.
CREATE TABLE import_errors (
    import_id         BLOB    NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    line              INTEGER NOT NULL,
    record_reference  TEXT,
    isbn              TEXT,
    field             TEXT,
    message           TEXT    NOT NULL,
    PRIMARY KEY (import_id, seq)
) STRICT;
