//! Webhooks (API.md, "Events and webhooks"): admins subscribe URLs to event types; every
//! published event of those types is delivered to them, signed as Standard Webhooks says.
//! This module holds the rules and the use cases; the store keeps webhooks and deliveries,
//! and the events crate makes the attempts.

pub mod address;
pub mod draft;
pub mod ports;
pub mod secret;
mod service;

pub use address::refused_reason;
pub use draft::{RawWebhook, WebhookDraft, WebhookUrl, EVENT_TYPES, PING_EVENT_TYPE};
pub use ports::{
    secret_context, AttemptOutcome, ClaimRequest, Delivery, DeliveryStatus, DueDelivery,
    EventToDeliver, NewWebhook, SealError, SecretSealer, Webhook, WebhookCreated,
    WebhookDispatcher, WebhookStore,
};
pub use secret::WebhookSecret;
pub use service::{ping_event, WebhookSettings, Webhooks};

use crate::error::StoreError;
use crate::policy::Action;
use crate::validation::ValidationErrors;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    #[error("not allowed to {0}")]
    Forbidden(Action),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("webhook secret sealing failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationErrors> for WebhookError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<crate::idempotency::KeyReused> for WebhookError {
    fn from(_: crate::idempotency::KeyReused) -> Self {
        Self::IdempotencyKeyReused
    }
}

impl From<SealError> for WebhookError {
    fn from(err: SealError) -> Self {
        Self::Crypto(err.0)
    }
}
