-- Trusted devices (PostgreSQL). Keep in step with ../sqlite/0006_sessions.sql.
--
-- Every sign-in hands the client a device token; a client that presents a live one of the
-- account it signs in to is throttled by its own failures only, so that failures from elsewhere
-- cannot lock it out (OWASP's "device cookies"). Kept by digest, never the token; the user's
-- expired ones are deleted when a new one is stored, and all of them when the password changes.
CREATE TABLE trusted_devices (
    token_hash  text        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX trusted_devices_user_idx ON trusted_devices (user_id);
