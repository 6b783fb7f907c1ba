-- The security audit log (PostgreSQL). Keep in step with ../sqlite/0014_audit.sql.
--
-- Append-only: sign-in outcomes, lock-outs, refresh-token reuse, account and webhook changes
-- (written in the change's own transaction), key rotations, secrets loaded, refusals. Never a
-- password, token or secret. The retention janitor deletes entries older than
-- BOOKSTORE_AUDIT_RETENTION. Read newest first by id (UUIDv7, time-ordered).
CREATE TABLE audit_log (
    id          uuid        PRIMARY KEY,
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    -- 'user' (with actor_id and actor_name), 'system' or 'anonymous'.
    actor_kind  text        NOT NULL CHECK (actor_kind IN ('user', 'system', 'anonymous')),
    actor_id    text,
    actor_name  text,
    target      text,
    client_ip   text,
    request_id  text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CHECK (actor_kind <> 'user' OR (actor_id IS NOT NULL AND actor_name IS NOT NULL))
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_actor_name ON audit_log (actor_name, id);
