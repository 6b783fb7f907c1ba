use bookstore_core::webhook::{Delivery, RawWebhook, Webhook, WebhookSecret};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: Uuid,
    pub url: String,
    /// The event types delivered (a ping is delivered whatever they are).
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// After a rotation: until when the previous secret also signs deliveries.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Webhook> for WebhookDto {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id.as_uuid(),
            url: w.url,
            event_types: w.event_types,
            description: w.description,
            active: w.active,
            previous_secret_until: w.previous_secret_until,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A webhook with its signing secret: the answer of a create or a rotation, the only time
/// the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretDto {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// `whsec_` and the base64 of the secret's bytes; its bytes are the HMAC-SHA256 key of
    /// the `webhook-signature` header. Shown once: keep it.
    pub secret: String,
}

impl WebhookWithSecretDto {
    pub fn new(webhook: Webhook, secret: &WebhookSecret) -> Self {
        Self {
            webhook: webhook.into(),
            secret: secret.to_text(),
        }
    }
}

/// A webhook as created or replaced by a merge patch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// `http` or `https`, without credentials; loopback, private, link-local and metadata
    /// addresses are refused unless the server allows private targets.
    pub url: Option<String>,
    /// One or more of `bookstore.book.created`, `bookstore.book.updated`,
    /// `bookstore.book.deleted`, `bookstore.book.stock_adjusted`.
    pub event_types: Option<Vec<String>>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Inactive webhooks get no events (default true).
    pub active: Option<bool>,
}

impl From<WebhookInput> for RawWebhook {
    fn from(input: WebhookInput) -> Self {
        Self {
            url: input.url,
            event_types: input.event_types,
            description: input.description,
            active: input.active,
        }
    }
}

impl From<&Webhook> for WebhookInput {
    fn from(w: &Webhook) -> Self {
        Self {
            url: Some(w.url.clone()),
            event_types: Some(w.event_types.clone()),
            description: w.description.clone(),
            active: Some(w.active),
        }
    }
}

/// One event for one webhook and the outcome of its latest attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// Also the `webhook-id` header: a redelivery sends the same one.
    pub event_id: Uuid,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the latest attempt, if it got an answer.
    pub response_code: Option<i32>,
    /// How long the latest attempt took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// What went wrong with the latest attempt.
    pub error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried again; null once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.as_uuid(),
            webhook_id: d.webhook_id.as_uuid(),
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            response_code: d.response_code,
            duration_ms: d.duration_ms,
            error: d.error,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}
