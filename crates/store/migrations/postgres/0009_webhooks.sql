-- Webhooks and their deliveries (PostgreSQL). Keep in step with ../sqlite/0008_webhooks.sql.
--
-- A webhook's signing secret is sealed with the key-encryption key (bound to the webhook's
-- id); after a rotation the previous one goes on signing until previous_secret_until.
CREATE TABLE webhooks (
    id                      uuid        PRIMARY KEY,
    url                     text        NOT NULL,
    -- A JSON array of event types.
    event_types             text        NOT NULL,
    description             text,
    active                  boolean     NOT NULL,
    sealed_secret           bytea       NOT NULL,
    previous_sealed_secret  bytea,
    previous_secret_until   timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);

-- One event for one webhook. The body is the exact text every attempt sends and signs.
-- A worker holds a delivery while lease_until is ahead; a crashed worker's lease runs out and
-- another takes the delivery over.
CREATE TABLE webhook_deliveries (
    id               uuid        PRIMARY KEY,
    webhook_id       uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    response_code    integer,
    duration_ms      bigint,
    last_error       text,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

-- Every attempt, as the delivery log.
CREATE TABLE webhook_attempts (
    id             uuid        PRIMARY KEY,
    delivery_id    uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at             timestamptz NOT NULL,
    response_code  integer,
    duration_ms    bigint      NOT NULL,
    error          text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- How far the event log has been turned into deliveries: moved in the transaction that
-- inserts them, so that every event is fanned out once, whichever replica does it.
CREATE TABLE webhook_fanout (
    id        smallint PRIMARY KEY CHECK (id = 1),
    position  bigint   NOT NULL
);
INSERT INTO webhook_fanout (id, position) VALUES (1, 0);
