-- The security audit log (SQLite). Keep in step with ../postgres/0015_audit.sql.
-- Representation as in 0001_catalog.sql: UUIDs are 16-byte BLOBs, timestamps fixed-width
-- RFC 3339 UTC text (27 characters); details is a JSON object as text.
--
-- Append-only: sign-in outcomes, lock-outs, refresh-token reuse, account and webhook changes
-- (written in the change's own transaction), key rotations, secrets loaded, refusals. Never a
-- password, token or secret. The retention janitor deletes entries older than
-- BOOKSTORE_AUDIT_RETENTION. Read newest first by id (UUIDv7, time-ordered).
CREATE TABLE audit_log (
    id          BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    at          TEXT    NOT NULL CHECK (length(at) = 27),
    action      TEXT    NOT NULL,
    -- 'user' (with actor_id and actor_name), 'system' or 'anonymous'.
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'system', 'anonymous')),
    actor_id    TEXT,
    actor_name  TEXT,
    target      TEXT,
    client_ip   TEXT,
    request_id  TEXT,
    details     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    CHECK (actor_kind <> 'user' OR (actor_id IS NOT NULL AND actor_name IS NOT NULL))
) STRICT;

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_actor_name ON audit_log (actor_name, id);
