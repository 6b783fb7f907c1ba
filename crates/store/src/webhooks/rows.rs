//! Row types of the webhook store (every field decodes in SQLite and PostgreSQL) and their
//! conversion into domain values.

use crate::error::corrupt;
use crate::time::DbTime;
use bookstore_core::webhook::{Delivery, DeliveryStatus, DueDelivery, EventToDeliver, Webhook};
use bookstore_core::{DeliveryId, StoreError, WebhookId};
use uuid::Uuid;

pub(crate) fn event_types_text(types: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(types).map_err(StoreError::backend)
}

pub(crate) fn event_types_of(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("webhook event types", e))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookRow {
    pub(crate) id: Uuid,
    url: String,
    event_types: String,
    description: Option<String>,
    active: bool,
    previous_secret_until: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(row: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            id: WebhookId::from_uuid(row.id),
            url: row.url,
            event_types: event_types_of(&row.event_types)?,
            description: row.description,
            active: row.active,
            previous_secret_until: row.previous_secret_until.map(|t| t.0),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// An active webhook as the fan-out matches it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ActiveRow {
    pub(crate) id: Uuid,
    pub(crate) event_types: String,
    pub(crate) created_at: DbTime,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub(crate) id: Uuid,
    webhook_id: Uuid,
    event_id: Uuid,
    event_type: String,
    status: String,
    attempts: i32,
    response_code: Option<i32>,
    duration_ms: Option<i64>,
    last_error: Option<String>,
    last_attempt_at: Option<DbTime>,
    next_attempt_at: Option<DbTime>,
    created_at: DbTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let status = DeliveryStatus::parse(&row.status)
            .ok_or_else(|| corrupt("delivery status", &row.status))?;
        Ok(Delivery {
            id: DeliveryId::from_uuid(row.id),
            webhook_id: WebhookId::from_uuid(row.webhook_id),
            event_id: row.event_id,
            event_type: row.event_type,
            status,
            attempts: row.attempts,
            response_code: row.response_code,
            duration_ms: row.duration_ms,
            error: row.last_error,
            last_attempt_at: row.last_attempt_at.map(|t| t.0),
            next_attempt_at: row.next_attempt_at.map(|t| t.0),
            created_at: row.created_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    event_id: Uuid,
    event_type: String,
    body: String,
}

impl From<EventRow> for EventToDeliver {
    fn from(row: EventRow) -> Self {
        EventToDeliver {
            event_id: row.event_id,
            event_type: row.event_type,
            body: row.body,
        }
    }
}

/// Deliberately not `Debug`: it holds sealed secrets.
#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    id: Uuid,
    webhook_id: Uuid,
    event_id: Uuid,
    body: String,
    attempts: i32,
    created_at: DbTime,
    url: String,
    sealed_secret: Vec<u8>,
    previous_sealed_secret: Option<Vec<u8>>,
}

impl From<DueRow> for DueDelivery {
    fn from(row: DueRow) -> Self {
        DueDelivery {
            id: DeliveryId::from_uuid(row.id),
            webhook_id: WebhookId::from_uuid(row.webhook_id),
            event_id: row.event_id,
            body: row.body,
            url: row.url,
            attempts: row.attempts,
            created_at: row.created_at.0,
            sealed_secret: row.sealed_secret,
            previous_sealed_secret: row.previous_sealed_secret,
        }
    }
}
