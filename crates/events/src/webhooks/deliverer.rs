//! One delivery attempt: the signed POST, its outcome, and the record of it.

use super::guard::{literal_refusal, refusal_in, GuardedResolver};
use super::schedule::jitter;
use super::signature;
use super::WebhookConfig;
use async_trait::async_trait;
use bookstore_core::webhook::{
    secret_context, AttemptOutcome, Delivery, DeliveryStatus, DueDelivery, SecretSealer,
    WebhookDispatcher, WebhookStore,
};
use bookstore_core::{DeliveryId, StoreError};
use chrono::Utc;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use url::Url;

/// A 2xx within this time is a delivery (API.md).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong with an attempt, and whether trying again can help.
enum Failure {
    /// Retried on the schedule.
    Transient(String),
    /// Fails the delivery at once: the target is refused.
    Refused(String),
}

/// Makes attempts: the HTTP client (no redirects, no proxies, the guarded resolver), the
/// store that logs them, and the sealer that opens the secrets.
pub struct Deliverer {
    store: Arc<dyn WebhookStore>,
    sealer: Arc<dyn SecretSealer>,
    client: reqwest::Client,
    config: WebhookConfig,
    wake: Arc<Notify>,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sealer: Arc<dyn SecretSealer>,
        config: WebhookConfig,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private,
            }))
            .user_agent(concat!("bookstore-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            sealer,
            client,
            config,
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    pub(crate) fn wakeup(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// The secrets that sign now: the current one, then the previous one while it still
    /// does.
    fn secrets(&self, due: &DueDelivery) -> Result<Vec<Vec<u8>>, String> {
        let context = secret_context(due.webhook_id);
        let mut secrets = vec![self
            .sealer
            .open(&due.sealed_secret, &context)
            .map_err(|e| format!("cannot open the signing secret: {e}"))?];
        if let Some(previous) = &due.previous_sealed_secret {
            secrets.push(
                self.sealer
                    .open(previous, &context)
                    .map_err(|e| format!("cannot open the previous signing secret: {e}"))?,
            );
        }
        Ok(secrets)
    }

    async fn send(&self, due: &DueDelivery) -> Result<u16, Failure> {
        let url = Url::parse(&due.url).map_err(|e| Failure::Refused(format!("bad URL: {e}")))?;
        if let Some(refused) = literal_refusal(&url, self.config.allow_private) {
            return Err(Failure::Refused(refused.to_string()));
        }
        let secrets = self.secrets(due).map_err(Failure::Transient)?;
        let id = due.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let signatures = signature::header(&secrets, &id, timestamp, due.body.as_bytes());
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures)
            .body(due.body.clone())
            .send()
            .await
            .map_err(|err| classify(&err))?;
        Ok(response.status().as_u16())
    }

    /// Makes one attempt at `due` and records it, with the next attempt if it failed.
    pub async fn attempt(&self, due: DueDelivery) -> Result<Delivery, StoreError> {
        let span = delivery_span(&due);
        self.attempt_in(due, &span).instrument(span.clone()).await
    }

    async fn attempt_in(&self, due: DueDelivery, span: &Span) -> Result<Delivery, StoreError> {
        let started = Instant::now();
        let at = Utc::now();
        let result = self.send(&due).await;
        let elapsed = started.elapsed();
        let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let attempts = due.attempts.saturating_add(1);
        let retry = || {
            self.config
                .retry
                .next_attempt(attempts, due.created_at, Utc::now(), jitter())
        };
        let (status, response_code, error, next_attempt_at) = match result {
            Ok(code) if (200..300).contains(&code) => {
                (DeliveryStatus::Delivered, Some(code), None, None)
            }
            Ok(code) => {
                let next = retry();
                let error = format!("answered {code}");
                (pending_or_failed(next), Some(code), Some(error), next)
            }
            Err(Failure::Transient(error)) => {
                let next = retry();
                (pending_or_failed(next), None, Some(error), next)
            }
            Err(Failure::Refused(error)) => (DeliveryStatus::Failed, None, Some(error), None),
        };
        if let Some(code) = response_code {
            // As i64: tracing-opentelemetry would export a u64 as text.
            span.record("http.response.status_code", i64::from(code));
        }
        if status != DeliveryStatus::Delivered {
            span.record("otel.status_code", "error");
        }
        let outcome = match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        };
        metrics::counter!("bookstore_webhook_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("bookstore_webhook_delivery_duration_seconds", "outcome" => outcome)
            .record(elapsed.as_secs_f64());
        tracing::info!(
            delivery = %due.id,
            webhook = %due.webhook_id,
            event = %due.event_id,
            attempt = attempts,
            status = status.as_str(),
            response_code,
            duration_ms,
            error = error.as_deref(),
            next_attempt_at = next_attempt_at.map(|t| t.to_rfc3339()),
            "webhook delivery attempt"
        );
        let outcome = AttemptOutcome {
            at,
            response_code: response_code.map(i32::from),
            duration_ms,
            error,
            status,
            next_attempt_at,
        };
        self.store.record_attempt(due.id, &outcome).await
    }
}

/// The span of one attempt (an HTTP client span of the conventions), when traces are
/// exported: it joins the trace of the request that made the event (its `traceparent`), or,
/// made inside another request (a redelivery, a ping), is linked to it. The URL is named by
/// its host and port only: its path or query may hold a token.
fn delivery_span(due: &DueDelivery) -> Span {
    if !bookstore_telemetry::on() {
        return Span::none();
    }
    let has_parent = !Span::current().is_none();
    let url = Url::parse(&due.url).ok();
    let span = tracing::info_span!(
        "webhook.deliver",
        otel.name = "POST",
        otel.kind = "client",
        http.request.method = "POST",
        http.request.resend_count = due.attempts,
        server.address = url.as_ref().and_then(Url::host_str),
        server.port = url
            .as_ref()
            .and_then(Url::port_or_known_default)
            .map(i64::from),
        http.response.status_code = Empty,
        otel.status_code = Empty,
        cloudevents.event_id = %due.event_id,
        webhook.id = %due.webhook_id,
    );
    let traceparent = serde_json::from_str::<serde_json::Value>(&due.body)
        .ok()
        .and_then(|event| event.get("traceparent")?.as_str().map(str::to_owned));
    bookstore_telemetry::follow(&span, traceparent.as_deref(), has_parent);
    span
}

fn pending_or_failed(next: Option<chrono::DateTime<Utc>>) -> DeliveryStatus {
    if next.is_some() {
        DeliveryStatus::Pending
    } else {
        DeliveryStatus::Failed
    }
}

fn classify(err: &reqwest::Error) -> Failure {
    if let Some(refused) = refusal_in(err) {
        return Failure::Refused(refused);
    }
    if err.is_timeout() {
        return Failure::Transient(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()));
    }
    // The whole chain: reqwest's own message rarely names the cause.
    let mut parts = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    Failure::Transient(parts.join(": "))
}

#[async_trait]
impl WebhookDispatcher for Deliverer {
    async fn deliver_now(&self, id: DeliveryId) -> Result<Delivery, StoreError> {
        let due = self
            .store
            .due_delivery(id)
            .await?
            .ok_or(StoreError::NotFound { entity: "delivery" })?;
        self.attempt(due).await
    }

    fn wake(&self) {
        self.wake.notify_one();
    }
}
