-- Imports of catalog files (PostgreSQL). Keep in step with ../sqlite/0013_imports.sql.
--
-- A running import writes its progress at least every few seconds (heartbeat_at). An import
-- whose heartbeat went stale was running in a process that stopped: any replica fails it
-- (state 'failed', failure 'interrupted by a restart'); the rows it committed stay.
CREATE TABLE imports (
    id            uuid        PRIMARY KEY,
    format        text        NOT NULL CHECK (format IN ('csv', 'onix')),
    mode          text        NOT NULL CHECK (mode IN ('upsert', 'create_only')),
    dry_run       boolean     NOT NULL,
    state         text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    rows_read     bigint      NOT NULL DEFAULT 0,
    created       bigint      NOT NULL DEFAULT 0,
    updated       bigint      NOT NULL DEFAULT 0,
    unchanged     bigint      NOT NULL DEFAULT 0,
    rejected      bigint      NOT NULL DEFAULT 0,
    bytes_read    bigint      NOT NULL DEFAULT 0,
    bytes_total   bigint,
    failure       text,
    started_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX imports_running_idx ON imports (heartbeat_at) WHERE state = 'running';

-- The rejected rows of an import, in file order (seq), the first 10,000 of them.
CREATE TABLE import_errors (
    import_id         uuid   NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq               bigint NOT NULL,
    line              bigint NOT NULL,
    record_reference  text,
    isbn              text,
    field             text,
    message           text   NOT NULL,
    PRIMARY KEY (import_id, seq)
);
