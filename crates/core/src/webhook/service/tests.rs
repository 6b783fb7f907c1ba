use super::*;
use crate::outbox::LoggedEvent;
use crate::policy::Role;
use crate::ports::IdempotencyRecord;
use crate::webhook::ports::{AttemptOutcome, ClaimRequest, DueDelivery, SealError};
use crate::webhook::WebhookDraft;
use async_trait::async_trait;
use chrono::DateTime;
use std::sync::Mutex;

/// Keeps webhooks and idempotency records; everything else is out of these tests' scope.
#[derive(Default)]
struct FakeStore {
    webhooks: Mutex<Vec<Webhook>>,
    records: Mutex<Vec<(String, IdempotencyRecord)>>,
}

fn unused<T>() -> Result<T, StoreError> {
    Err(StoreError::Backend("not used by these tests".into()))
}

#[async_trait]
impl IdempotencyStore for FakeStore {
    async fn find_idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let wanted = format!("{scope}/{key}");
        Ok(self
            .records
            .lock()
            .expect("lock")
            .iter()
            .find(|(k, _)| *k == wanted)
            .map(|(_, r)| r.clone()))
    }
}

#[async_trait]
impl WebhookStore for FakeStore {
    async fn create_webhook(
        &self,
        new: &NewWebhook,
        idempotency: Option<&IdempotencyRequest>,
        _: &AuditContext,
    ) -> Result<Webhook, StoreError> {
        let now = Utc::now();
        let webhook = Webhook {
            id: new.id,
            url: new.draft.url.as_str().to_owned(),
            event_types: new.draft.event_types.clone(),
            description: new.draft.description.clone(),
            active: new.draft.active,
            previous_secret_until: None,
            created_at: now,
            updated_at: now,
        };
        self.webhooks.lock().expect("lock").push(webhook.clone());
        if let Some(request) = idempotency {
            let created = WebhookCreated {
                webhook: webhook.clone(),
                sealed_secret: STANDARD.encode(&new.sealed_secret),
            };
            self.records.lock().expect("lock").push((
                format!("{}/{}", request.scope, request.key),
                IdempotencyRecord {
                    fingerprint: request.fingerprint.clone(),
                    response: serde_json::to_value(created).map_err(StoreError::backend)?,
                },
            ));
        }
        Ok(webhook)
    }
    async fn get_webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
        Ok(self
            .webhooks
            .lock()
            .expect("lock")
            .iter()
            .find(|w| w.id == id)
            .cloned())
    }
    async fn list_webhooks(&self, _: &PageRequest) -> Result<Page<Webhook>, StoreError> {
        unused()
    }
    async fn update_webhook(&self, _: WebhookId, _: &WebhookDraft) -> Result<Webhook, StoreError> {
        unused()
    }
    async fn delete_webhook(&self, _: WebhookId, _: &AuditContext) -> Result<(), StoreError> {
        unused()
    }
    async fn rotate_secret(
        &self,
        _: WebhookId,
        _: &[u8],
        _: DateTime<Utc>,
    ) -> Result<Webhook, StoreError> {
        unused()
    }
    async fn list_deliveries(
        &self,
        _: WebhookId,
        _: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        unused()
    }
    async fn delivery_event(
        &self,
        _: WebhookId,
        _: DeliveryId,
    ) -> Result<Option<EventToDeliver>, StoreError> {
        unused()
    }
    async fn enqueue_delivery(
        &self,
        _: WebhookId,
        _: &EventToDeliver,
        _: Option<DateTime<Utc>>,
    ) -> Result<Delivery, StoreError> {
        unused()
    }
    async fn fanout_position(&self) -> Result<i64, StoreError> {
        unused()
    }
    async fn fan_out(&self, _: i64, _: &[LoggedEvent], _: i64) -> Result<bool, StoreError> {
        unused()
    }
    async fn claim_due(&self, _: &ClaimRequest) -> Result<Vec<DueDelivery>, StoreError> {
        unused()
    }
    async fn due_delivery(&self, _: DeliveryId) -> Result<Option<DueDelivery>, StoreError> {
        unused()
    }
    async fn record_attempt(
        &self,
        _: DeliveryId,
        _: &AttemptOutcome,
    ) -> Result<Delivery, StoreError> {
        unused()
    }
}

/// "Seals" by prefixing the context: enough to check that the context is kept.
struct FakeSealer;

impl SecretSealer for FakeSealer {
    fn random(&self, len: usize) -> Result<Vec<u8>, SealError> {
        Ok(Uuid::now_v7()
            .as_bytes()
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect())
    }
    fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        let mut out = context.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(plaintext);
        Ok(out)
    }
    fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SealError> {
        let prefix = [context.as_bytes(), &[0]].concat();
        sealed
            .strip_prefix(prefix.as_slice())
            .map(<[u8]>::to_vec)
            .ok_or_else(|| SealError("wrong context".into()))
    }
}

struct NoDispatch;

#[async_trait]
impl WebhookDispatcher for NoDispatch {
    async fn deliver_now(&self, _: DeliveryId) -> Result<Delivery, StoreError> {
        unused()
    }
    fn wake(&self) {}
}

fn webhooks() -> Webhooks {
    Webhooks::new(
        Arc::new(FakeStore::default()),
        Arc::new(FakeSealer),
        Arc::new(NoDispatch),
        WebhookSettings::default(),
    )
}

fn principal(role: Role) -> Principal {
    Principal {
        subject: Uuid::now_v7().to_string(),
        username: "someone".into(),
        role,
    }
}

fn raw() -> RawWebhook {
    RawWebhook {
        url: Some("https://hooks.example.com/bookstore".into()),
        event_types: Some(vec!["bookstore.book.created".into()]),
        description: Some("shop front".into()),
        active: None,
    }
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, WebhookError>) -> bool {
    matches!(result, Err(WebhookError::Forbidden(Action::ManageWebhooks)))
}

#[test]
fn staff_may_not_manage_webhooks() {
    futures_executor::block_on(async {
        let webhooks = webhooks();
        let staff = principal(Role::Staff);
        let id = WebhookId::generate();
        let page = PageRequest::default();
        assert!(forbidden(
            webhooks
                .create(&staff, raw(), None, &AuditContext::system())
                .await
        ));
        assert!(forbidden(webhooks.list(&staff, &page).await));
        assert!(forbidden(webhooks.get(&staff, id).await));
        assert!(forbidden(webhooks.update(&staff, id, raw()).await));
        assert!(forbidden(
            webhooks.delete(&staff, id, &AuditContext::system()).await
        ));
        assert!(forbidden(webhooks.rotate_secret(&staff, id).await));
        assert!(forbidden(webhooks.deliveries(&staff, id, &page).await));
        assert!(forbidden(
            webhooks.redeliver(&staff, id, DeliveryId::generate()).await
        ));
        assert!(forbidden(webhooks.ping(&staff, id).await));
    });
}

#[test]
fn an_admin_gets_the_secret_once_and_a_retry_gets_the_same() {
    futures_executor::block_on(async {
        let webhooks = webhooks();
        let admin = principal(Role::Admin);
        let key = IdempotencyRequest {
            scope: "admin".into(),
            key: "k1".into(),
            fingerprint: "f1".into(),
        };
        let first = webhooks
            .create(&admin, raw(), Some(&key), &AuditContext::system())
            .await
            .expect("created");
        assert!(!first.replayed);
        let (webhook, secret) = first.value;
        assert!(secret.to_text().starts_with("whsec_"));
        let again = webhooks
            .create(&admin, raw(), Some(&key), &AuditContext::system())
            .await
            .expect("replayed");
        assert!(again.replayed);
        assert_eq!(again.value, (webhook, secret));
        let other_body = IdempotencyRequest {
            fingerprint: "f2".into(),
            ..key
        };
        assert!(matches!(
            webhooks
                .create(&admin, raw(), Some(&other_body), &AuditContext::system())
                .await,
            Err(WebhookError::IdempotencyKeyReused)
        ));
    });
}
