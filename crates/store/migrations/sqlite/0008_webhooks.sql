-- Webhooks and their deliveries (SQLite). Keep in step with ../postgres/0009_webhooks.sql.
--
-- A webhook's signing secret is sealed with the key-encryption key (bound to the webhook's
-- id); after a rotation the previous one goes on signing until previous_secret_until.
CREATE TABLE webhooks (
    id                      BLOB    PRIMARY KEY NOT NULL,
    url                     TEXT    NOT NULL,
    -- A JSON array of event types.
    event_types             TEXT    NOT NULL,
    description             TEXT,
    active                  INTEGER NOT NULL,
    sealed_secret           BLOB    NOT NULL,
    previous_sealed_secret  BLOB,
    previous_secret_until   TEXT    CHECK (length(previous_secret_until) = 27),
    created_at              TEXT    NOT NULL CHECK (length(created_at) = 27),
    updated_at              TEXT    NOT NULL CHECK (length(updated_at) = 27)
) STRICT;

-- One event for one webhook. The body is the exact text every attempt sends and signs.
-- A worker holds a delivery while lease_until is ahead.
CREATE TABLE webhook_deliveries (
    id               BLOB    PRIMARY KEY NOT NULL,
    webhook_id       BLOB    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         BLOB    NOT NULL,
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    response_code    INTEGER,
    duration_ms      INTEGER,
    last_error       TEXT,
    last_attempt_at  TEXT    CHECK (length(last_attempt_at) = 27),
    next_attempt_at  TEXT    CHECK (length(next_attempt_at) = 27),
    lease_until      TEXT    CHECK (length(lease_until) = 27),
    created_at       TEXT    NOT NULL CHECK (length(created_at) = 27)
) STRICT;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

-- Every attempt, as the delivery log.
CREATE TABLE webhook_attempts (
    id             BLOB    PRIMARY KEY NOT NULL,
    delivery_id    BLOB    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at             TEXT    NOT NULL CHECK (length(at) = 27),
    response_code  INTEGER,
    duration_ms    INTEGER NOT NULL,
    error          TEXT
) STRICT;
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- How far the event log has been turned into deliveries: moved in the transaction that
-- inserts them, so that every event is fanned out once.
CREATE TABLE webhook_fanout (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  INTEGER NOT NULL
) STRICT;
INSERT INTO webhook_fanout (id, position) VALUES (1, 0);
