//! The webhook use cases. Only admins manage webhooks: the HTTP adapter requires the role at
//! the route, and every use case here checks it again.

use super::draft::{RawWebhook, WebhookDraft, PING_EVENT_TYPE};
use super::ports::{
    secret_context, Delivery, EventToDeliver, NewWebhook, SecretSealer, Webhook, WebhookCreated,
    WebhookDispatcher, WebhookStore,
};
use super::secret::{WebhookSecret, SECRET_BYTES};
use super::WebhookError;
use crate::audit::AuditContext;
use crate::error::StoreError;
use crate::idempotency::{create_once, Created};
use crate::ids::{DeliveryId, WebhookId};
use crate::paging::{Page, PageRequest};
use crate::policy::{Action, Principal};
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Let webhook URLs name loopback and private IP addresses.
    pub allow_private: bool,
    /// How long the secret before a rotation goes on signing.
    pub previous_secret_ttl: Duration,
    /// How long a ping's attempt may hold its delivery before a worker may take it over.
    pub lease: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            previous_secret_ttl: Duration::hours(24),
            lease: Duration::seconds(60),
        }
    }
}

#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    sealer: Arc<dyn SecretSealer>,
    dispatcher: Arc<dyn WebhookDispatcher>,
    settings: WebhookSettings,
}

fn manage(who: &Principal) -> Result<(), WebhookError> {
    if who.may(Action::ManageWebhooks) {
        Ok(())
    } else {
        Err(WebhookError::Forbidden(Action::ManageWebhooks))
    }
}

fn webhook_not_found(err: StoreError) -> WebhookError {
    match err {
        StoreError::NotFound { .. } => WebhookError::NotFound("webhook"),
        other => other.into(),
    }
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sealer: Arc<dyn SecretSealer>,
        dispatcher: Arc<dyn WebhookDispatcher>,
        settings: WebhookSettings,
    ) -> Self {
        Self {
            store,
            sealer,
            dispatcher,
            settings,
        }
    }

    fn new_secret(&self, id: WebhookId) -> Result<(WebhookSecret, Vec<u8>), WebhookError> {
        let secret = WebhookSecret::from_bytes(self.sealer.random(SECRET_BYTES)?)
            .map_err(WebhookError::Crypto)?;
        let sealed = self.sealer.seal(secret.bytes(), &secret_context(id))?;
        Ok((secret, sealed))
    }

    fn open_created(
        &self,
        created: WebhookCreated,
    ) -> Result<(Webhook, WebhookSecret), WebhookError> {
        let sealed = STANDARD
            .decode(&created.sealed_secret)
            .map_err(|_| WebhookError::Crypto("unreadable sealed secret".into()))?;
        let bytes = self
            .sealer
            .open(&sealed, &secret_context(created.webhook.id))?;
        let secret = WebhookSecret::from_bytes(bytes).map_err(WebhookError::Crypto)?;
        Ok((created.webhook, secret))
    }

    /// Creates a webhook with a new secret, which only this answer shows. A retry with the
    /// same `Idempotency-Key` is answered with the same webhook and secret.
    #[tracing::instrument(name = "webhooks.create", skip_all)]
    pub async fn create(
        &self,
        who: &Principal,
        raw: RawWebhook,
        idempotency: Option<&IdempotencyRequest>,
        origin: &AuditContext,
    ) -> Result<Created<(Webhook, WebhookSecret)>, WebhookError> {
        manage(who)?;
        let draft = WebhookDraft::parse(raw, self.settings.allow_private)?;
        let id = WebhookId::generate();
        let (_, sealed) = self.new_secret(id)?;
        let new = NewWebhook {
            id,
            draft,
            sealed_secret: sealed.clone(),
        };
        let keys: &dyn IdempotencyStore = &*self.store;
        let created =
            create_once::<WebhookCreated, WebhookError, _, _>(keys, idempotency, || async {
                let webhook = self.store.create_webhook(&new, idempotency, origin).await?;
                Ok(WebhookCreated {
                    webhook,
                    sealed_secret: STANDARD.encode(&sealed),
                })
            })
            .await?;
        Ok(Created {
            value: self.open_created(created.value)?,
            replayed: created.replayed,
        })
    }

    #[tracing::instrument(name = "webhooks.list", skip_all)]
    pub async fn list(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Webhook>, WebhookError> {
        manage(who)?;
        Ok(self.store.list_webhooks(page).await?)
    }

    #[tracing::instrument(name = "webhooks.get", skip_all)]
    pub async fn get(&self, who: &Principal, id: WebhookId) -> Result<Webhook, WebhookError> {
        manage(who)?;
        self.store
            .get_webhook(id)
            .await?
            .ok_or(WebhookError::NotFound("webhook"))
    }

    /// Replaces the webhook's fields with `raw` (the handler merges a patch into the
    /// current ones), checked as a whole like a create. The secret stays.
    #[tracing::instrument(name = "webhooks.update", skip_all)]
    pub async fn update(
        &self,
        who: &Principal,
        id: WebhookId,
        raw: RawWebhook,
    ) -> Result<Webhook, WebhookError> {
        manage(who)?;
        let draft = WebhookDraft::parse(raw, self.settings.allow_private)?;
        self.store
            .update_webhook(id, &draft)
            .await
            .map_err(webhook_not_found)
    }

    #[tracing::instrument(name = "webhooks.delete", skip_all)]
    pub async fn delete(
        &self,
        who: &Principal,
        id: WebhookId,
        origin: &AuditContext,
    ) -> Result<(), WebhookError> {
        manage(who)?;
        self.store
            .delete_webhook(id, origin)
            .await
            .map_err(webhook_not_found)
    }

    /// A new secret, shown in this answer only; the one it replaces goes on signing (both
    /// signatures are sent) for [`WebhookSettings::previous_secret_ttl`].
    #[tracing::instrument(name = "webhooks.rotate_secret", skip_all)]
    pub async fn rotate_secret(
        &self,
        who: &Principal,
        id: WebhookId,
    ) -> Result<(Webhook, WebhookSecret), WebhookError> {
        manage(who)?;
        let (secret, sealed) = self.new_secret(id)?;
        let until = Utc::now() + self.settings.previous_secret_ttl;
        let webhook = self
            .store
            .rotate_secret(id, &sealed, until)
            .await
            .map_err(webhook_not_found)?;
        Ok((webhook, secret))
    }

    #[tracing::instrument(name = "webhooks.deliveries", skip_all)]
    pub async fn deliveries(
        &self,
        who: &Principal,
        id: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, WebhookError> {
        self.get(who, id).await?;
        Ok(self.store.list_deliveries(id, page).await?)
    }

    /// Queues the event of an earlier delivery again, as a new delivery with the same
    /// `webhook-id` (the event id), so that a receiver can tell it has seen it.
    #[tracing::instrument(name = "webhooks.redeliver", skip_all)]
    pub async fn redeliver(
        &self,
        who: &Principal,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery, WebhookError> {
        self.get(who, id).await?;
        let event = self
            .store
            .delivery_event(id, delivery)
            .await?
            .ok_or(WebhookError::NotFound("delivery"))?;
        let queued = self
            .store
            .enqueue_delivery(id, &event, None)
            .await
            .map_err(webhook_not_found)?;
        self.dispatcher.wake();
        Ok(queued)
    }

    /// Sends a `bookstore.webhook.ping` event now (active or not) and returns its delivery
    /// after the attempt; a failed ping is retried like any delivery.
    #[tracing::instrument(name = "webhooks.ping", skip_all)]
    pub async fn ping(&self, who: &Principal, id: WebhookId) -> Result<Delivery, WebhookError> {
        self.get(who, id).await?;
        let event_id = Uuid::now_v7();
        let now = Utc::now();
        let body = ping_event(id, event_id, now);
        let event = EventToDeliver {
            event_id,
            event_type: PING_EVENT_TYPE.to_owned(),
            body: body.to_string(),
        };
        let queued = self
            .store
            .enqueue_delivery(id, &event, Some(now + self.settings.lease))
            .await
            .map_err(webhook_not_found)?;
        Ok(self.dispatcher.deliver_now(queued.id).await?)
    }
}

/// The CloudEvent of a ping (schema: `schemas/events/bookstore.webhook.ping.json`).
pub fn ping_event(webhook: WebhookId, event_id: Uuid, time: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": event_id,
        "source": "/bookstore/webhooks",
        "type": PING_EVENT_TYPE,
        "subject": webhook.to_string(),
        "time": time,
        "datacontenttype": "application/json",
        "data": {"webhook_id": webhook},
    })
}

#[cfg(test)]
mod tests;
