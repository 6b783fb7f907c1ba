-- Trusted devices (SQLite). Keep in step with ../postgres/0007_sessions.sql.
--
-- Every sign-in hands the client a device token; a client that presents a live one of the
-- account it signs in to is throttled by its own failures only, so that failures from elsewhere
-- cannot lock it out (OWASP's "device cookies"). Kept by digest, never the token; the user's
-- expired ones are deleted when a new one is stored, and all of them when the password changes.
CREATE TABLE trusted_devices (
    token_hash  TEXT    PRIMARY KEY NOT NULL,
    user_id     BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL CHECK (length(created_at) = 27),
    expires_at  TEXT    NOT NULL CHECK (length(expires_at) = 27)
) STRICT, WITHOUT ROWID;
CREATE INDEX trusted_devices_user_idx ON trusted_devices (user_id);
