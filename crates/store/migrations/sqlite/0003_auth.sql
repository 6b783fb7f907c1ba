-- Sign-in schema (SQLite). Keep in step with ../postgres/0003_auth.sql: both stores pass one
-- contract test suite (tests/users.rs). Representation as in 0001_catalog.sql: UUIDs are
-- 16-byte BLOBs, timestamps fixed-width RFC 3339 UTC text (27 characters), booleans 0 or 1.

-- Staff accounts. The core folds usernames to lowercase before they get here.
CREATE TABLE users (
    id              BLOB    PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    username        TEXT    NOT NULL UNIQUE CHECK (username = lower(username)),
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'staff')),
    password_hash   TEXT    NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Bumped by every change; access tokens of an older epoch are revoked.
    token_epoch     INTEGER NOT NULL DEFAULT 1 CHECK (token_epoch >= 1),
    created_at      TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at      TEXT    NOT NULL CHECK (length(updated_at) = 27)
) STRICT;

-- Refresh tokens, by digest (never the token). Every rotation of one sign-in shares a family:
-- a spent token presented again revokes the family. A family is revoked as soon as any of its
-- tokens is: a token inserted into it afterwards is born revoked.
CREATE TABLE refresh_tokens (
    token_hash          TEXT    PRIMARY KEY NOT NULL,
    user_id             BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id           BLOB    NOT NULL CHECK (length(family_id) = 16),
    family_started_at   TEXT    NOT NULL CHECK (length(family_started_at) = 27),
    expires_at          TEXT    NOT NULL CHECK (length(expires_at) = 27),
    used_at             TEXT    CHECK (length(used_at) = 27),
    revoked_at          TEXT    CHECK (length(revoked_at) = 27),
    created_at          TEXT    NOT NULL CHECK (length(created_at) = 27)
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Failed sign-ins per key (`user:<name>`, `client:<address>`), one row each; rows older than
-- the throttle window are pruned as new failures arrive.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at  TEXT NOT NULL CHECK (length(at) = 27)
) STRICT;
CREATE INDEX login_failures_key_at_idx ON login_failures (key, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);

-- Token signing keys; the private key is sealed under the key-encryption key. At most one key
-- is current (not retired).
CREATE TABLE signing_keys (
    kid                 TEXT    PRIMARY KEY NOT NULL,
    algorithm           TEXT    NOT NULL,
    public_key          BLOB    NOT NULL,
    sealed_private_key  BLOB    NOT NULL,
    created_at          TEXT    NOT NULL CHECK (length(created_at) = 27),
    retired_at          TEXT    CHECK (length(retired_at) = 27)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
