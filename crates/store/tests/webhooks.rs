//! The webhook-store contract, on SQLite and PostgreSQL: webhooks and their sealed secrets,
//! the fan-out of published events into deliveries, claims with leases and per-webhook room,
//! and the delivery log.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bookstore_core::outbox::LoggedEvent;
use bookstore_core::webhook::{
    AttemptOutcome, ClaimRequest, DeliveryStatus, EventToDeliver, NewWebhook, RawWebhook,
    WebhookCreated, WebhookDraft, WebhookStore,
};
use bookstore_core::{IdempotencyRequest, Limit, PageRequest, StoreError, WebhookId};
use bookstore_store::Store;
use chrono::{Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

contract!(
    multi_thread;
    webhooks_round_trip,
    a_create_with_a_key_remembers_the_sealed_secret,
    fan_out_makes_one_delivery_per_wanting_webhook_once,
    claims_lease_and_keep_to_the_room_of_each_webhook,
    concurrent_claims_take_disjoint_deliveries,
    attempts_are_logged_newest_delivery_first,
    the_previous_secret_signs_only_until_its_time,
    the_janitor_prunes_settled_deliveries_past_the_outbox_retention,
);

const CREATED: &str = "bookstore.book.created";
const UPDATED: &str = "bookstore.book.updated";

fn draft(types: &[&str], active: bool) -> WebhookDraft {
    WebhookDraft::parse(
        RawWebhook {
            url: Some("https://hooks.example.com/in".into()),
            event_types: Some(types.iter().map(|t| (*t).to_owned()).collect()),
            description: Some("test".into()),
            active: Some(active),
        },
        false,
    )
    .unwrap()
}

async fn create(store: &dyn WebhookStore, types: &[&str], active: bool) -> WebhookId {
    let new = NewWebhook {
        id: WebhookId::generate(),
        draft: draft(types, active),
        sealed_secret: vec![1; 48],
    };
    store
        .create_webhook(&new, None, &bookstore_core::audit::AuditContext::system())
        .await
        .unwrap()
        .id
}

fn event(position: i64, event_type: &str) -> LoggedEvent {
    let id = Uuid::now_v7();
    LoggedEvent {
        position,
        id,
        aggregate_id: Uuid::now_v7(),
        event_type: event_type.into(),
        payload: serde_json::json!({"id": id, "type": event_type}),
        created_at: Utc::now(),
        published_at: Utc::now(),
    }
}

fn page(limit: i64, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        cursor,
    }
}

fn claim(limit: u32, room: u32) -> ClaimRequest {
    let now = Utc::now();
    ClaimRequest {
        now,
        lease_until: now + Duration::seconds(60),
        limit,
        full: Vec::new(),
        room: HashMap::new(),
        default_room: room,
    }
}

async fn queue(store: &dyn WebhookStore, webhook: WebhookId, n: usize) {
    for _ in 0..n {
        let event = EventToDeliver {
            event_id: Uuid::now_v7(),
            event_type: CREATED.into(),
            body: "{}".into(),
        };
        store.enqueue_delivery(webhook, &event, None).await.unwrap();
    }
}

async fn webhooks_round_trip(store: &Store) {
    let store = store.webhooks();
    let first = create(&*store, &[CREATED], true).await;
    let second = create(&*store, &[CREATED, UPDATED], true).await;
    let got = store.get_webhook(first).await.unwrap().unwrap();
    assert_eq!(got.url, "https://hooks.example.com/in");
    assert_eq!(got.event_types, vec![CREATED]);
    assert_eq!(got.description.as_deref(), Some("test"));
    assert!(got.active && got.previous_secret_until.is_none());

    let one = store.list_webhooks(&page(1, None)).await.unwrap();
    assert_eq!(one.items[0].id, first);
    let two = store
        .list_webhooks(&page(1, one.next_cursor))
        .await
        .unwrap();
    assert_eq!(two.items[0].id, second);
    assert_eq!(two.next_cursor, None);

    let changed = store
        .update_webhook(first, &draft(&[UPDATED], false))
        .await
        .unwrap();
    assert_eq!(changed.event_types, vec![UPDATED]);
    assert!(!changed.active);
    assert_eq!(store.get_webhook(first).await.unwrap().unwrap(), changed);

    let until = Utc::now() + Duration::hours(24);
    let rotated = store.rotate_secret(first, &[2; 48], until).await.unwrap();
    assert!(rotated.previous_secret_until.is_some());

    store
        .delete_webhook(first, &bookstore_core::audit::AuditContext::system())
        .await
        .unwrap();
    assert!(store.get_webhook(first).await.unwrap().is_none());
    for missing in [
        store
            .delete_webhook(first, &bookstore_core::audit::AuditContext::system())
            .await
            .err(),
        store
            .update_webhook(first, &draft(&[CREATED], true))
            .await
            .err(),
        store.rotate_secret(first, &[3; 48], until).await.err(),
    ] {
        assert!(
            matches!(missing, Some(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
}

async fn a_create_with_a_key_remembers_the_sealed_secret(store: &Store) {
    let store = store.webhooks();
    let request = IdempotencyRequest {
        scope: "admin".into(),
        key: "hook-1".into(),
        fingerprint: "body-1".into(),
    };
    let new = NewWebhook {
        id: WebhookId::generate(),
        draft: draft(&[CREATED], true),
        sealed_secret: vec![9; 60],
    };
    let webhook = store
        .create_webhook(
            &new,
            Some(&request),
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    let record = store
        .find_idempotency_record("admin", "hook-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.fingerprint, "body-1");
    let created: WebhookCreated = serde_json::from_value(record.response).unwrap();
    assert_eq!(created.webhook, webhook);
    assert_eq!(STANDARD.decode(created.sealed_secret).unwrap(), vec![9; 60]);
}

async fn fan_out_makes_one_delivery_per_wanting_webhook_once(store: &Store) {
    let store = store.webhooks();
    let wants_created = create(&*store, &[CREATED], true).await;
    let wants_both = create(&*store, &[CREATED, UPDATED], true).await;
    let inactive = create(&*store, &[CREATED], false).await;
    let events = vec![event(1, CREATED), event(2, UPDATED)];
    // Made after the events were published: it gets none of them.
    let late = create(&*store, &[CREATED, UPDATED], true).await;

    assert_eq!(store.fanout_position().await.unwrap(), 0);
    assert!(store.fan_out(0, &events, 2).await.unwrap());
    assert_eq!(store.fanout_position().await.unwrap(), 2);
    // A replica that read the same events too late writes nothing.
    assert!(!store.fan_out(0, &events, 2).await.unwrap());

    let count = |id| {
        let store = store.clone();
        async move {
            store
                .list_deliveries(id, &page(100, None))
                .await
                .unwrap()
                .items
        }
    };
    let created_only = count(wants_created).await;
    assert_eq!(created_only.len(), 1);
    assert_eq!(created_only[0].event_id, events[0].id);
    assert_eq!(created_only[0].status, DeliveryStatus::Pending);
    assert_eq!(created_only[0].attempts, 0);
    let both = count(wants_both).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].event_id, events[1].id, "newest first");
    assert!(count(inactive).await.is_empty());
    assert!(count(late).await.is_empty());
    let body = store
        .delivery_event(wants_created, created_only[0].id)
        .await
        .unwrap()
        .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&body.body).unwrap();
    assert_eq!(sent, events[0].payload);
}

async fn claims_lease_and_keep_to_the_room_of_each_webhook(store: &Store) {
    let store = store.webhooks();
    let busy = create(&*store, &[CREATED], true).await;
    let quiet = create(&*store, &[CREATED], true).await;
    let off = create(&*store, &[CREATED], false).await;
    queue(&*store, busy, 5).await;
    queue(&*store, quiet, 2).await;
    queue(&*store, off, 2).await;

    let taken = store.claim_due(&claim(10, 2)).await.unwrap();
    let per: HashMap<WebhookId, usize> = taken.iter().fold(HashMap::new(), |mut m, d| {
        *m.entry(d.webhook_id).or_default() += 1;
        m
    });
    assert_eq!(per.get(&busy), Some(&2), "at most the room of one webhook");
    assert_eq!(per.get(&quiet), Some(&2));
    assert_eq!(per.get(&off), None, "inactive webhooks get nothing");
    assert_eq!(taken[0].sealed_secret, vec![1; 48]);
    assert!(taken[0].previous_sealed_secret.is_none());

    // Leased ones are not taken again; a full webhook is skipped.
    let mut full = claim(10, 10);
    full.full = vec![busy];
    assert!(store.claim_due(&full).await.unwrap().is_empty());
    let rest = store.claim_due(&claim(10, 10)).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|d| d.webhook_id == busy));

    // An expired lease is taken over.
    let mut later = claim(10, 10);
    later.now = Utc::now() + Duration::seconds(61);
    later.lease_until = later.now + Duration::seconds(60);
    assert_eq!(store.claim_due(&later).await.unwrap().len(), 7);
}

async fn concurrent_claims_take_disjoint_deliveries(store: &Store) {
    let store = store.webhooks();
    let mut hooks = Vec::new();
    for _ in 0..4 {
        let id = create(&*store, &[CREATED], true).await;
        queue(&*store, id, 10).await;
        hooks.push(id);
    }
    let store: Arc<dyn WebhookStore> = store;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store.claim_due(&claim(3, 100)).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40, "every delivery claimed");
    assert_eq!(distinct.len(), 40, "none claimed twice");
}

async fn attempts_are_logged_newest_delivery_first(store: &Store) {
    let store = store.webhooks();
    let hook = create(&*store, &[CREATED], true).await;
    queue(&*store, hook, 3).await;
    let due = store.claim_due(&claim(1, 1)).await.unwrap().remove(0);
    let retry_at = Utc::now() + Duration::seconds(30);
    let failed = store
        .record_attempt(
            due.id,
            &AttemptOutcome {
                at: Utc::now(),
                response_code: Some(500),
                duration_ms: 12,
                error: Some("answered 500".into()),
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(retry_at),
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.response_code, Some(500));
    assert_eq!(failed.error.as_deref(), Some("answered 500"));
    assert!(failed.next_attempt_at.is_some());
    // Not due before its next attempt, lease or not.
    assert!(store
        .claim_due(&claim(10, 10))
        .await
        .unwrap()
        .iter()
        .all(|d| d.id != due.id));
    let delivered = store
        .record_attempt(
            due.id,
            &AttemptOutcome {
                at: Utc::now(),
                response_code: Some(204),
                duration_ms: 3,
                error: None,
                status: DeliveryStatus::Delivered,
                next_attempt_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.next_attempt_at, None);

    let first = store.list_deliveries(hook, &page(2, None)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.items[0].id > first.items[1].id, "newest first");
    let second = store
        .list_deliveries(hook, &page(2, first.next_cursor))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.next_cursor, None);
    assert!(matches!(
        store
            .list_deliveries(hook, &page(2, Some("nonsense".into())))
            .await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn the_previous_secret_signs_only_until_its_time(store: &Store) {
    let store = store.webhooks();
    let hook = create(&*store, &[CREATED], true).await;
    store
        .rotate_secret(hook, &[2; 48], Utc::now() + Duration::hours(24))
        .await
        .unwrap();
    let event = EventToDeliver {
        event_id: Uuid::now_v7(),
        event_type: "bookstore.webhook.ping".into(),
        body: "{}".into(),
    };
    let leased = store
        .enqueue_delivery(hook, &event, Some(Utc::now() + Duration::seconds(60)))
        .await
        .unwrap();
    // Leased to whoever queued it: no worker takes it.
    assert!(store.claim_due(&claim(10, 10)).await.unwrap().is_empty());
    let due = store.due_delivery(leased.id).await.unwrap().unwrap();
    assert_eq!(due.sealed_secret, vec![2; 48]);
    assert_eq!(due.previous_sealed_secret, Some(vec![1; 48]));

    store
        .rotate_secret(hook, &[3; 48], Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    let due = store.due_delivery(leased.id).await.unwrap().unwrap();
    assert_eq!(due.sealed_secret, vec![3; 48]);
    assert_eq!(due.previous_sealed_secret, None, "past its time");
}

async fn settle(store: &dyn WebhookStore, status: DeliveryStatus) {
    let due = store.claim_due(&claim(1, 1)).await.unwrap().remove(0);
    let outcome = AttemptOutcome {
        at: Utc::now(),
        response_code: Some(if status == DeliveryStatus::Delivered {
            204
        } else {
            410
        }),
        duration_ms: 5,
        error: None,
        status,
        next_attempt_at: None,
    };
    store.record_attempt(due.id, &outcome).await.unwrap();
}

async fn the_janitor_prunes_settled_deliveries_past_the_outbox_retention(store: &Store) {
    let webhooks = store.webhooks();
    let hook = create(&*webhooks, &[CREATED], true).await;
    queue(&*webhooks, hook, 3).await;
    settle(&*webhooks, DeliveryStatus::Delivered).await;
    settle(&*webhooks, DeliveryStatus::Failed).await;
    let retention = bookstore_store::Retention::outbox(Duration::hours(24));
    let sweep = || async { store.sweep(retention, Utc::now()).await.unwrap().unwrap() };
    assert_eq!(
        sweep().await.webhook_deliveries,
        0,
        "all within the retention"
    );

    bookstore_store::testing::age_webhook_deliveries(store, 25).await;
    assert_eq!(
        sweep().await.webhook_deliveries,
        2,
        "the delivered and the given-up one"
    );
    let count = |table| bookstore_store::testing::count_rows(store, table);
    assert_eq!(
        count("webhook_deliveries").await,
        1,
        "the pending one is still retried"
    );
    assert_eq!(
        count("webhook_attempts").await,
        0,
        "attempts go with their delivery"
    );
    let left = webhooks
        .list_deliveries(hook, &page(10, None))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].status, DeliveryStatus::Pending);
}
