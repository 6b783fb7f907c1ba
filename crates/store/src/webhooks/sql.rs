//! SQL text of the webhook store, shared by both databases (`$n` placeholders serve both; see
//! `crate::sql`). What differs is behind [`super::WebhookDialect`].

macro_rules! webhook_columns {
    () => {
        "id, url, event_types, description, active, previous_secret_until, created_at, updated_at"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, webhook_id, event_id, event_type, status, attempts, response_code, duration_ms, \
         last_error, last_attempt_at, next_attempt_at, created_at"
    };
}

pub(crate) const WEBHOOK_INSERT: &str = "INSERT INTO webhooks (id, url, event_types, \
    description, active, sealed_secret, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
pub(crate) const WEBHOOK_SELECT: &str = concat!("SELECT ", webhook_columns!(), " FROM webhooks");
pub(crate) const WEBHOOK_BY_ID: &str = concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM webhooks WHERE id = $1"
);
pub(crate) const WEBHOOK_UPDATE: &str = concat!(
    "UPDATE webhooks SET url = $2, event_types = $3, description = $4, active = $5, \
     updated_at = $6 WHERE id = $1 RETURNING ",
    webhook_columns!()
);
/// The secret being replaced becomes the previous one (the right-hand sides read the row as
/// it was), signing until `$3`.
pub(crate) const WEBHOOK_ROTATE: &str = concat!(
    "UPDATE webhooks SET previous_sealed_secret = sealed_secret, previous_secret_until = $3, \
     sealed_secret = $2, updated_at = $4 WHERE id = $1 RETURNING ",
    webhook_columns!()
);
pub(crate) const WEBHOOK_DELETE: &str = "DELETE FROM webhooks WHERE id = $1";
/// What the fan-out matches events against.
pub(crate) const ACTIVE_WEBHOOKS: &str =
    "SELECT id, event_types, created_at FROM webhooks WHERE active";

/// `$6` is both the creation time and the first attempt's.
pub(crate) const DELIVERY_INSERT: &str = concat!(
    "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body, status, \
     attempts, next_attempt_at, lease_until, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $6) RETURNING ",
    delivery_columns!()
);
/// Followed by `VALUES …` (id, webhook_id, event_id, event_type, body, next_attempt_at,
/// created_at).
pub(crate) const DELIVERY_INSERT_MANY: &str = "INSERT INTO webhook_deliveries (id, webhook_id, \
    event_id, event_type, body, status, attempts, next_attempt_at, created_at) ";
/// Followed by the webhook id, an optional `AND id < …`, the order and the limit.
pub(crate) const DELIVERY_SELECT: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE webhook_id = "
);
pub(crate) const DELIVERY_EVENT: &str = "SELECT event_id, event_type, body \
    FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2";
pub(crate) const RECORD_ATTEMPT: &str = concat!(
    "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, response_code = $3, \
     duration_ms = $4, last_error = $5, last_attempt_at = $6, next_attempt_at = $7, \
     lease_until = NULL WHERE id = $1 RETURNING ",
    delivery_columns!()
);
pub(crate) const ATTEMPT_INSERT: &str = "INSERT INTO webhook_attempts (id, delivery_id, at, \
    response_code, duration_ms, error) VALUES ($1, $2, $3, $4, $5, $6)";

/// Followed by the claim time (bound), the exclusions, the order and the limit: the due,
/// unleased deliveries of active webhooks.
pub(crate) const CLAIM_CANDIDATES: &str = "SELECT d.id, d.webhook_id FROM webhook_deliveries d \
    JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' AND w.active \
    AND (d.lease_until IS NULL OR d.lease_until <= ";
/// Followed by the lease's end (bound), ` WHERE ` and the ids.
pub(crate) const LEASE: &str = "UPDATE webhook_deliveries SET lease_until = ";
/// Followed by the current time (bound), `) AS previous_sealed_secret FROM …` and a predicate
/// on `d.id`: what an attempt needs. The previous secret only while it still signs.
pub(crate) const DUE_SELECT: &str = "SELECT d.id, d.webhook_id, d.event_id, d.body, d.attempts, \
    d.created_at, w.url, w.sealed_secret, (CASE WHEN w.previous_secret_until > ";
pub(crate) const DUE_FROM: &str = " THEN w.previous_sealed_secret END) AS previous_sealed_secret \
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE ";

pub(crate) const FANOUT_MOVE: &str = "UPDATE webhook_fanout SET position = $1 WHERE id = 1";
pub(crate) const FANOUT_POSITION: &str = "SELECT position FROM webhook_fanout WHERE id = 1";
