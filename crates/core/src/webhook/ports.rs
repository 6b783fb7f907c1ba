//! What webhooks need from the outside: a store for webhooks and their deliveries, a sealer
//! that keeps secrets encrypted at rest (the key-encryption key), and a dispatcher that makes
//! delivery attempts (the events crate).

use super::draft::WebhookDraft;
use crate::audit::AuditContext;
use crate::error::StoreError;
use crate::ids::{DeliveryId, WebhookId};
use crate::outbox::LoggedEvent;
use crate::paging::{Page, PageRequest};
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;
use uuid::Uuid;

/// A webhook subscription as stored (without its secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
    /// Until when the secret before the last rotation still signs, if it does.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A webhook to create, with its secret already sealed.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub draft: WebhookDraft,
    pub sealed_secret: Vec<u8>,
}

/// What a create with an `Idempotency-Key` remembers: the webhook and its sealed secret, so
/// that a retry is answered with the same secret without it ever being stored in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCreated {
    pub webhook: Webhook,
    /// base64 of the sealed secret.
    pub sealed_secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt was answered with a 2xx.
    Delivered,
    /// Out of retries, or refused (a private address).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event for one webhook, with the outcome of its latest attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// `None` once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An event to queue for a webhook: the body is kept as the exact text sent, so that every
/// attempt signs and sends the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventToDeliver {
    pub event_id: Uuid,
    pub event_type: String,
    pub body: String,
}

/// A delivery a worker holds the lease of, with what it needs to make an attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: Uuid,
    pub body: String,
    pub url: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation, while it still signs.
    pub previous_sealed_secret: Option<Vec<u8>>,
}

/// The result of one attempt, as the delivery log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub at: DateTime<Utc>,
    pub response_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// `Pending` with `next_attempt_at`, or final.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Which due deliveries a worker may take now: at most `limit`, none of the webhooks in
/// `full`, and for each webhook at most its `room` (or `default_room`). This is how one slow
/// endpoint cannot take every worker.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub full: Vec<WebhookId>,
    pub room: HashMap<WebhookId, u32>,
    pub default_room: u32,
}

#[async_trait]
pub trait WebhookStore: IdempotencyStore {
    /// Stores the webhook and, with a key, the idempotency record of what it created (a
    /// [`WebhookCreated`]) and a `webhook_created` audit entry in one transaction.
    async fn create_webhook(
        &self,
        new: &NewWebhook,
        idempotency: Option<&IdempotencyRequest>,
        audit: &AuditContext,
    ) -> Result<Webhook, StoreError>;
    async fn get_webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// In creation order.
    async fn list_webhooks(&self, page: &PageRequest) -> Result<Page<Webhook>, StoreError>;
    /// `NotFound` if there is no such webhook.
    async fn update_webhook(
        &self,
        id: WebhookId,
        draft: &WebhookDraft,
    ) -> Result<Webhook, StoreError>;
    /// Deletes the webhook with its deliveries, and writes a `webhook_deleted` audit entry, in
    /// one transaction; `NotFound` if there is none.
    async fn delete_webhook(&self, id: WebhookId, audit: &AuditContext) -> Result<(), StoreError>;
    /// Makes `sealed_secret` the signing secret; the one it replaces goes on signing until
    /// `previous_until`.
    async fn rotate_secret(
        &self,
        id: WebhookId,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
    ) -> Result<Webhook, StoreError>;

    /// The webhook's deliveries, newest first.
    async fn list_deliveries(
        &self,
        webhook: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;
    /// The event a delivery of this webhook sent, to send it again.
    async fn delivery_event(
        &self,
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Option<EventToDeliver>, StoreError>;
    /// Queues `event` for the webhook, due now; `leased_until` hands it to the caller at once
    /// (a ping, attempted by the request that made it).
    async fn enqueue_delivery(
        &self,
        webhook: WebhookId,
        event: &EventToDeliver,
        leased_until: Option<DateTime<Utc>>,
    ) -> Result<Delivery, StoreError>;

    /// The event-log position up to which events have been turned into deliveries.
    async fn fanout_position(&self) -> Result<i64, StoreError>;
    /// In one transaction: one delivery per event and per active webhook that wants its type
    /// (and existed when it was published), and the fan-out position moved from `from` to
    /// `to`. `false` (and nothing written) when the position is no longer `from`: another
    /// replica did it.
    async fn fan_out(&self, from: i64, events: &[LoggedEvent], to: i64)
        -> Result<bool, StoreError>;

    /// Leases due deliveries of active webhooks (see [`ClaimRequest`]), soonest due first.
    /// Several workers on several replicas may claim at once; none gets a delivery another
    /// holds.
    async fn claim_due(&self, claim: &ClaimRequest) -> Result<Vec<DueDelivery>, StoreError>;
    /// A delivery the caller already holds (a ping it queued with a lease).
    async fn due_delivery(&self, id: DeliveryId) -> Result<Option<DueDelivery>, StoreError>;
    /// Logs an attempt and sets the delivery's status and next attempt, ending the lease.
    async fn record_attempt(
        &self,
        id: DeliveryId,
        outcome: &AttemptOutcome,
    ) -> Result<Delivery, StoreError>;
}

#[derive(Debug, Error)]
#[error("{0}")]
pub struct SealError(pub String);

/// Keeps secrets encrypted at rest with the key-encryption key, and makes new ones.
pub trait SecretSealer: Send + Sync + 'static {
    /// `len` bytes from the system's secure random source.
    fn random(&self, len: usize) -> Result<Vec<u8>, SealError>;
    /// Encrypts `plaintext`, bound to `context` (it opens only with the same context).
    fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealError>;
    fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SealError>;
}

/// The sealing context of a webhook's secrets: a sealed secret cannot be moved to another
/// webhook's row.
pub fn secret_context(id: WebhookId) -> String {
    format!("webhook-secret:{id}")
}

/// Makes delivery attempts.
#[async_trait]
pub trait WebhookDispatcher: Send + Sync + 'static {
    /// Attempts a delivery the caller holds now, records the attempt (a failure is retried
    /// later like any other) and returns the delivery as it then is.
    async fn deliver_now(&self, id: DeliveryId) -> Result<Delivery, StoreError>;
    /// Tells the workers that a delivery was queued.
    fn wake(&self);
}
