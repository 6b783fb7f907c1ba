-- Sign-in schema (PostgreSQL). Keep in step with ../sqlite/0003_auth.sql: both stores pass one
-- contract test suite (tests/users.rs). Usernames use COLLATE "C" so that they order bytewise,
-- as SQLite's BINARY collation does.

-- Staff accounts. The core folds usernames to lowercase before they get here.
CREATE TABLE users (
    id              uuid        PRIMARY KEY,
    username        text        COLLATE "C" NOT NULL UNIQUE CHECK (username = lower(username)),
    role            text        NOT NULL CHECK (role IN ('admin', 'staff')),
    password_hash   text        NOT NULL,
    disabled        boolean     NOT NULL DEFAULT false,
    -- Bumped by every change; access tokens of an older epoch are revoked.
    token_epoch     bigint      NOT NULL DEFAULT 1 CHECK (token_epoch >= 1),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Refresh tokens, by digest (never the token). Every rotation of one sign-in shares a family:
-- a spent token presented again revokes the family. A family is revoked as soon as any of its
-- tokens is: a token inserted into it afterwards is born revoked.
CREATE TABLE refresh_tokens (
    token_hash          text        PRIMARY KEY,
    user_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id           uuid        NOT NULL,
    family_started_at   timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz,
    revoked_at          timestamptz,
    created_at          timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Failed sign-ins per key (`user:<name>`, `client:<address>`), one row each; rows older than
-- the throttle window are pruned as new failures arrive.
CREATE TABLE login_failures (
    key text        NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX login_failures_key_at_idx ON login_failures (key, at);
CREATE INDEX login_failures_at_idx ON login_failures (at);

-- Token signing keys; the private key is sealed under the key-encryption key. At most one key
-- is current (not retired).
CREATE TABLE signing_keys (
    kid                 text        PRIMARY KEY,
    algorithm           text        NOT NULL,
    public_key          bytea       NOT NULL,
    sealed_private_key  bytea       NOT NULL,
    created_at          timestamptz NOT NULL,
    retired_at          timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
