//! The one implementation of [`WebhookStore`](bookstore_core::webhook::WebhookStore), expanded
//! for each database by [`impl_webhook_store!`] like the user store. The SQL is shared
//! (`sql.rs`); what differs between the databases is behind [`WebhookDialect`].
//!
//! - Fan-out: the deliveries of a batch of events and the move of the fan-out position commit
//!   together, under the position row's lock; a replica that finds the position moved writes
//!   nothing. So every event is fanned out exactly once.
//! - Claims: workers lease due deliveries (`lease_until`); on PostgreSQL the candidates are
//!   locked with `SKIP LOCKED`, so concurrent workers on several replicas take disjoint sets
//!   without waiting on each other. A crashed worker's lease runs out and the delivery is
//!   taken over: deliveries are at least once.

pub(crate) mod rows;
pub(crate) mod sql;

use crate::catalog::Dialect;
use bookstore_core::webhook::ClaimRequest;
use bookstore_core::WebhookId;
use std::collections::HashMap;
use uuid::Uuid;

/// What a database contributes to the webhook store, besides [`Dialect`].
pub(crate) trait WebhookDialect: Dialect {
    /// Reads the fan-out position, locking its row until the end of the transaction where the
    /// database has row locks.
    const LOCK_FANOUT: &'static str;
    /// Ends the claim's candidate query: locks the candidates, skipping those another
    /// transaction holds. Empty where writers are serialised anyway.
    const CLAIM_LOCK: &'static str;
}

/// Rows per multi-row insert of deliveries: well under either database's parameter limit.
pub(crate) const INSERT_CHUNK: usize = 500;

/// The candidates (in due order) a claim takes: at most `limit`, and per webhook at most its
/// room.
pub(crate) fn choose(claim: &ClaimRequest, candidates: Vec<(Uuid, Uuid)>) -> Vec<Uuid> {
    let mut taken: HashMap<Uuid, u32> = HashMap::new();
    let mut chosen = Vec::new();
    for (delivery, webhook) in candidates {
        if chosen.len() >= claim.limit as usize {
            break;
        }
        let room = claim
            .room
            .get(&WebhookId::from_uuid(webhook))
            .copied()
            .unwrap_or(claim.default_room);
        let count = taken.entry(webhook).or_default();
        if *count < room {
            *count += 1;
            chosen.push(delivery);
        }
    }
    chosen
}

/// Implements [`WebhookStore`](bookstore_core::webhook::WebhookStore) for `$store`, a
/// [`WebhookDialect`] whose database is `$db`.
macro_rules! impl_webhook_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use base64::engine::general_purpose::STANDARD;
            use base64::Engine;
            use bookstore_core::audit::{details, url_host, AuditAction, AuditContext};
            use bookstore_core::outbox::LoggedEvent;
            use bookstore_core::webhook::{
                AttemptOutcome, ClaimRequest, Delivery, DueDelivery, EventToDeliver, NewWebhook,
                Webhook, WebhookCreated, WebhookDraft, WebhookStore,
            };
            use bookstore_core::{
                DeliveryId, IdempotencyRequest, Page, PageRequest, StoreError, WebhookId,
            };
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Transaction};
            use uuid::Uuid;
            use $crate::catalog::{into_page, limit_plus_one, Dialect};
            use $crate::cursor;
            use $crate::error::backend;
            use $crate::time::{self, DbTime};
            use $crate::webhooks::rows::{
                event_types_of, event_types_text, ActiveRow, DeliveryRow, DueRow, EventRow,
                WebhookRow,
            };
            use $crate::webhooks::{choose, sql, WebhookDialect, INSERT_CHUNK};

            async fn begin(store: &$store) -> Result<Transaction<'static, $db>, StoreError> {
                $crate::meter::acquired(
                    $crate::meter::WRITES,
                    store.writer().begin_with(<$store as Dialect>::BEGIN_WRITE),
                )
                .await
                .map_err(backend)
            }

            fn not_found() -> StoreError {
                StoreError::NotFound { entity: "webhook" }
            }

            /// The deliveries `predicate` selects (pushed after `WHERE`), as attempts need them.
            async fn due_rows(
                store: &$store,
                predicate: impl FnOnce(&mut QueryBuilder<'static, $db>),
            ) -> Result<Vec<DueDelivery>, StoreError> {
                let mut select = QueryBuilder::<$db>::new(sql::DUE_SELECT);
                select.push_bind(DbTime(time::now())).push(sql::DUE_FROM);
                predicate(&mut select);
                let rows: Vec<DueRow> = select
                    .build_query_as()
                    .fetch_all(store.writer())
                    .await
                    .map_err(backend)?;
                Ok(rows.into_iter().map(DueDelivery::from).collect())
            }

            #[async_trait::async_trait]
            impl WebhookStore for $store {
                #[tracing::instrument(skip_all)]
                async fn create_webhook(
                    &self,
                    new: &NewWebhook,
                    idempotency: Option<&IdempotencyRequest>,
                    audit: &AuditContext,
                ) -> Result<Webhook, StoreError> {
                    let now = time::now();
                    let mut tx = begin(self).await?;
                    sqlx::query(sql::WEBHOOK_INSERT)
                        .bind(new.id.as_uuid())
                        .bind(new.draft.url.as_str())
                        .bind(event_types_text(&new.draft.event_types)?)
                        .bind(new.draft.description.as_deref())
                        .bind(new.draft.active)
                        .bind(new.sealed_secret.as_slice())
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
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
                    if let Some(request) = idempotency {
                        let created = WebhookCreated {
                            webhook: webhook.clone(),
                            sealed_secret: STANDARD.encode(&new.sealed_secret),
                        };
                        let response =
                            serde_json::to_value(&created).map_err(StoreError::backend)?;
                        $crate::catalog::idempotency::store_idempotency::<$store>(&mut tx, request, &response, now).await?;
                    }
                    // The host only: receivers often put a token in the URL's path or query.
                    let entry = audit.entry(
                        AuditAction::WebhookCreated,
                        Some(new.id.to_string()),
                        details([
                            ("host", url_host(new.draft.url.as_str()).into()),
                            ("event_types", new.draft.event_types.clone().into()),
                            ("active", new.draft.active.into()),
                        ]),
                    );
                    $crate::audit::insert_entry::<$store>(&mut *tx, &entry, now).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(webhook)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_webhook(&self, id: WebhookId) -> Result<Option<Webhook>, StoreError> {
                    let row: Option<WebhookRow> = sqlx::query_as(sql::WEBHOOK_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.writer())
                        .await
                        .map_err(backend)?;
                    row.map(Webhook::try_from).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn list_webhooks(
                    &self,
                    page: &PageRequest,
                ) -> Result<Page<Webhook>, StoreError> {
                    const LIST: &str = "webhooks";
                    let mut select = QueryBuilder::<$db>::new(sql::WEBHOOK_SELECT);
                    if let Some(c) = page.cursor.as_deref() {
                        select
                            .push(" WHERE id > ")
                            .push_bind(cursor::decode_id(LIST, c)?);
                    }
                    select
                        .push(" ORDER BY id LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<WebhookRow> = select
                        .build_query_as()
                        .fetch_all(self.writer())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_id(LIST, last.id),
                        Webhook::try_from,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_webhook(
                    &self,
                    id: WebhookId,
                    draft: &WebhookDraft,
                ) -> Result<Webhook, StoreError> {
                    let row: Option<WebhookRow> = sqlx::query_as(sql::WEBHOOK_UPDATE)
                        .bind(id.as_uuid())
                        .bind(draft.url.as_str())
                        .bind(event_types_text(&draft.event_types)?)
                        .bind(draft.description.as_deref())
                        .bind(draft.active)
                        .bind(DbTime(time::now()))
                        .fetch_optional(self.writer())
                        .await
                        .map_err(backend)?;
                    row.ok_or_else(not_found)?.try_into()
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_webhook(
                    &self,
                    id: WebhookId,
                    audit: &AuditContext,
                ) -> Result<(), StoreError> {
                    let now = time::now();
                    let mut tx = begin(self).await?;
                    let deleted = sqlx::query(sql::WEBHOOK_DELETE)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if deleted.rows_affected() == 0 {
                        return Err(not_found());
                    }
                    let entry =
                        audit.entry(AuditAction::WebhookDeleted, Some(id.to_string()), details([]));
                    $crate::audit::insert_entry::<$store>(&mut *tx, &entry, now).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(())
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn rotate_secret(
                    &self,
                    id: WebhookId,
                    sealed_secret: &[u8],
                    previous_until: DateTime<Utc>,
                ) -> Result<Webhook, StoreError> {
                    let row: Option<WebhookRow> = sqlx::query_as(sql::WEBHOOK_ROTATE)
                        .bind(id.as_uuid())
                        .bind(sealed_secret)
                        .bind(DbTime(time::truncate_to_micros(previous_until)))
                        .bind(DbTime(time::now()))
                        .fetch_optional(self.writer())
                        .await
                        .map_err(backend)?;
                    row.ok_or_else(not_found)?.try_into()
                }

                #[tracing::instrument(skip_all, fields(webhook = %webhook))]
                async fn list_deliveries(
                    &self,
                    webhook: WebhookId,
                    page: &PageRequest,
                ) -> Result<Page<Delivery>, StoreError> {
                    const LIST: &str = "deliveries";
                    let mut select = QueryBuilder::<$db>::new(sql::DELIVERY_SELECT);
                    select.push_bind(webhook.as_uuid());
                    if let Some(c) = page.cursor.as_deref() {
                        select
                            .push(" AND id < ")
                            .push_bind(cursor::decode_id(LIST, c)?);
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<DeliveryRow> = select
                        .build_query_as()
                        .fetch_all(self.writer())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_id(LIST, last.id),
                        Delivery::try_from,
                    )
                }

                #[tracing::instrument(skip_all)]
                async fn delivery_event(
                    &self,
                    webhook: WebhookId,
                    delivery: DeliveryId,
                ) -> Result<Option<EventToDeliver>, StoreError> {
                    let row: Option<EventRow> = sqlx::query_as(sql::DELIVERY_EVENT)
                        .bind(delivery.as_uuid())
                        .bind(webhook.as_uuid())
                        .fetch_optional(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(EventToDeliver::from))
                }

                #[tracing::instrument(skip_all, fields(webhook = %webhook))]
                async fn enqueue_delivery(
                    &self,
                    webhook: WebhookId,
                    event: &EventToDeliver,
                    leased_until: Option<DateTime<Utc>>,
                ) -> Result<Delivery, StoreError> {
                    let inserted = sqlx::query_as::<_, DeliveryRow>(sql::DELIVERY_INSERT)
                        .bind(Uuid::now_v7())
                        .bind(webhook.as_uuid())
                        .bind(event.event_id)
                        .bind(event.event_type.as_str())
                        .bind(event.body.as_str())
                        .bind(DbTime(time::now()))
                        .bind(leased_until.map(|t| DbTime(time::truncate_to_micros(t))))
                        .fetch_one(self.writer())
                        .await;
                    match inserted {
                        Ok(row) => row.try_into(),
                        Err(err) if $crate::error::is_foreign_key_violation(&err) => {
                            Err(not_found())
                        }
                        Err(err) => Err(backend(err)),
                    }
                }

                #[tracing::instrument(skip_all)]
                async fn fanout_position(&self) -> Result<i64, StoreError> {
                    sqlx::query_scalar(sql::FANOUT_POSITION)
                        .fetch_one(self.writer())
                        .await
                        .map_err(backend)
                }

                #[tracing::instrument(skip_all, fields(from = from, to = to, events = events.len()))]
                async fn fan_out(
                    &self,
                    from: i64,
                    events: &[LoggedEvent],
                    to: i64,
                ) -> Result<bool, StoreError> {
                    let mut tx = begin(self).await?;
                    let position: i64 =
                        sqlx::query_scalar(<$store as WebhookDialect>::LOCK_FANOUT)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                    if position != from {
                        return Ok(false);
                    }
                    let active: Vec<ActiveRow> = sqlx::query_as(sql::ACTIVE_WEBHOOKS)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let mut hooks = Vec::with_capacity(active.len());
                    for row in active {
                        hooks.push((row.id, event_types_of(&row.event_types)?, row.created_at.0));
                    }
                    let now = time::now();
                    let mut rows = Vec::new();
                    for event in events {
                        let body = serde_json::to_string(&event.payload)
                            .map_err(StoreError::backend)?;
                        for (id, types, created_at) in &hooks {
                            // A webhook gets what was published after it was made.
                            if *created_at <= event.published_at
                                && types.iter().any(|t| *t == event.event_type)
                            {
                                rows.push((*id, event, body.clone()));
                            }
                        }
                    }
                    for chunk in rows.chunks(INSERT_CHUNK) {
                        let mut insert = QueryBuilder::<$db>::new(sql::DELIVERY_INSERT_MANY);
                        insert.push_values(chunk, |mut b, (webhook, event, body)| {
                            b.push_bind(Uuid::now_v7())
                                .push_bind(*webhook)
                                .push_bind(event.id)
                                .push_bind(event.event_type.clone())
                                .push_bind(body.clone())
                                .push_bind("pending")
                                .push_bind(0_i32)
                                .push_bind(DbTime(now))
                                .push_bind(DbTime(now));
                        });
                        insert.build().execute(&mut *tx).await.map_err(backend)?;
                    }
                    sqlx::query(sql::FANOUT_MOVE)
                        .bind(to)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(true)
                }

                #[tracing::instrument(skip_all)]
                async fn claim_due(
                    &self,
                    claim: &ClaimRequest,
                ) -> Result<Vec<DueDelivery>, StoreError> {
                    if claim.limit == 0 {
                        return Ok(Vec::new());
                    }
                    let mut tx = begin(self).await?;
                    let now = DbTime(time::truncate_to_micros(claim.now));
                    let mut select = QueryBuilder::<$db>::new(sql::CLAIM_CANDIDATES);
                    select
                        .push_bind(now)
                        .push(") AND d.next_attempt_at <= ")
                        .push_bind(now);
                    if !claim.full.is_empty() {
                        let full: Vec<Uuid> = claim.full.iter().map(|w| w.as_uuid()).collect();
                        select.push(" AND NOT (");
                        <$store as Dialect>::push_id_in(&mut select, "d.webhook_id", &full);
                        select.push(")");
                    }
                    // Candidates beyond what is taken leave room for the per-webhook bound.
                    select
                        .push(" ORDER BY d.next_attempt_at LIMIT ")
                        .push_bind(i64::from(claim.limit) * 4)
                        .push(<$store as WebhookDialect>::CLAIM_LOCK);
                    let candidates: Vec<(Uuid, Uuid)> = select
                        .build_query_as()
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let chosen = choose(claim, candidates);
                    if chosen.is_empty() {
                        tx.commit().await.map_err(backend)?;
                        return Ok(Vec::new());
                    }
                    let mut lease = QueryBuilder::<$db>::new(sql::LEASE);
                    lease
                        .push_bind(DbTime(time::truncate_to_micros(claim.lease_until)))
                        .push(" WHERE ");
                    <$store as Dialect>::push_id_in(&mut lease, "id", &chosen);
                    lease.build().execute(&mut *tx).await.map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    due_rows(self, |q| <$store as Dialect>::push_id_in(q, "d.id", &chosen)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn due_delivery(
                    &self,
                    id: DeliveryId,
                ) -> Result<Option<DueDelivery>, StoreError> {
                    let rows = due_rows(self, |q| {
                        q.push("d.id = ").push_bind(id.as_uuid());
                    })
                    .await?;
                    Ok(rows.into_iter().next())
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn record_attempt(
                    &self,
                    id: DeliveryId,
                    outcome: &AttemptOutcome,
                ) -> Result<Delivery, StoreError> {
                    let at = DbTime(time::truncate_to_micros(outcome.at));
                    let mut tx = begin(self).await?;
                    let row: Option<DeliveryRow> = sqlx::query_as(sql::RECORD_ATTEMPT)
                        .bind(id.as_uuid())
                        .bind(outcome.status.as_str())
                        .bind(outcome.response_code)
                        .bind(outcome.duration_ms)
                        .bind(outcome.error.as_deref())
                        .bind(at)
                        .bind(
                            outcome
                                .next_attempt_at
                                .map(|t| DbTime(time::truncate_to_micros(t))),
                        )
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let row = row.ok_or(StoreError::NotFound { entity: "delivery" })?;
                    sqlx::query(sql::ATTEMPT_INSERT)
                        .bind(Uuid::now_v7())
                        .bind(id.as_uuid())
                        .bind(at)
                        .bind(outcome.response_code)
                        .bind(outcome.duration_ms)
                        .bind(outcome.error.as_deref())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    row.try_into()
                }
            }
        };
    };
}
pub(crate) use impl_webhook_store;
