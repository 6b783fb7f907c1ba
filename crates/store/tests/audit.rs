//! The audit-log contract, on SQLite and PostgreSQL: entries written on their own and inside
//! the account and webhook writes they record (and not when those fail), read newest first in
//! keyset pages with filters, and pruned by the janitor after their retention.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::audit::{
    details, ActorFilter, AuditAction, AuditActor, AuditContext, AuditEntry, AuditQuery,
};
use bookstore_core::auth::{NewUser, UserChange, Username};
use bookstore_core::webhook::{NewWebhook, RawWebhook, WebhookDraft};
use bookstore_core::{Limit, PageRequest, Principal, Role, StoreError, WebhookId};
use bookstore_store::{Retention, Store};
use chrono::{Duration, Utc};

contract!(
    entries_are_read_back_as_written,
    account_changes_write_their_entries_in_their_transaction,
    webhook_changes_write_their_entries,
    pages_and_filters,
    the_janitor_prunes_entries_past_their_retention,
);

fn admin() -> AuditContext {
    AuditContext::of(
        &Principal {
            subject: "0190f0c2-0000-7000-8000-000000000001".into(),
            username: "boss".into(),
            role: Role::Admin,
        },
        Some("203.0.113.9".into()),
        Some("req-42".into()),
    )
}

async fn all(store: &Store, query: AuditQuery) -> Vec<AuditEntry> {
    store.audit().audit_entries(&query).await.unwrap().items
}

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        role: Role::Staff,
        password_hash: "$argon2id$not-a-real-hash".into(),
    }
}

async fn entries_are_read_back_as_written(store: &Store) {
    let entry = admin().entry(
        AuditAction::AccessDenied,
        Some("GET /audit".into()),
        details([("status", 403.into())]),
    );
    store.audit().record_audit(&entry).await.unwrap();
    let system =
        AuditContext::system().entry(AuditAction::KeysRotated, Some("kid-1".into()), details([]));
    store.audit().record_audit(&system).await.unwrap();
    let read = all(store, AuditQuery::default()).await;
    assert_eq!(read.len(), 2);
    // Newest first.
    assert_eq!(read[0].action, AuditAction::KeysRotated);
    assert_eq!(read[0].actor, AuditActor::System);
    assert_eq!(read[0].client_ip, None);
    let denied = &read[1];
    assert_eq!(denied.action, AuditAction::AccessDenied);
    assert_eq!(denied.actor, admin().actor);
    assert_eq!(denied.target.as_deref(), Some("GET /audit"));
    assert_eq!(denied.client_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(denied.request_id.as_deref(), Some("req-42"));
    assert_eq!(denied.details["status"], 403);
    assert!((Utc::now() - denied.at).num_seconds().abs() < 60);
    assert!(read[0].id > denied.id);
}

async fn account_changes_write_their_entries_in_their_transaction(store: &Store) {
    let users = store.users();
    let clerk = users
        .create_user(&new_user("clerk"), None, &admin())
        .await
        .unwrap();
    // A duplicate fails, and leaves no entry behind.
    let duplicate = users.create_user(&new_user("clerk"), None, &admin()).await;
    assert!(matches!(duplicate, Err(StoreError::DuplicateName { .. })));
    let change = UserChange {
        role: Some(Role::Admin),
        disabled: Some(true),
        password_hash: Some("$argon2id$new".into()),
        keep_session: None,
    };
    users
        .update_user(clerk.id, &change, &admin())
        .await
        .unwrap();
    // The same values again change nothing, and record nothing.
    let again = UserChange {
        role: Some(Role::Admin),
        disabled: Some(true),
        ..UserChange::default()
    };
    users.update_user(clerk.id, &again, &admin()).await.unwrap();
    users
        .update_user(
            clerk.id,
            &UserChange {
                disabled: Some(false),
                ..UserChange::default()
            },
            &AuditContext::system(),
        )
        .await
        .unwrap();
    let read = all(store, AuditQuery::default()).await;
    let actions: Vec<AuditAction> = read.iter().rev().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::UserCreated,
            AuditAction::RoleChanged,
            AuditAction::UserDisabled,
            AuditAction::PasswordChanged,
            AuditAction::UserEnabled,
        ]
    );
    for entry in &read {
        assert_eq!(entry.target.as_deref(), Some("clerk"));
        assert_eq!(entry.details["user_id"], clerk.id.to_string());
    }
    let created = read.last().unwrap();
    assert_eq!(created.details["role"], "staff");
    assert_eq!(created.request_id.as_deref(), Some("req-42"));
    let role = read
        .iter()
        .find(|e| e.action == AuditAction::RoleChanged)
        .unwrap();
    assert_eq!(
        (role.details["from"].as_str(), role.details["to"].as_str()),
        (Some("staff"), Some("admin"))
    );
    let password = read
        .iter()
        .find(|e| e.action == AuditAction::PasswordChanged)
        .unwrap();
    assert_eq!(password.details["reset"], true);
    assert!(!format!("{password:?}").contains("argon2"));
    assert_eq!(read[0].actor, AuditActor::System);
    // A missing user: nothing changes, nothing is recorded.
    let missing = users
        .update_user(bookstore_core::auth::UserId::generate(), &change, &admin())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    assert_eq!(all(store, AuditQuery::default()).await.len(), 5);
}

async fn webhook_changes_write_their_entries(store: &Store) {
    let webhooks = store.webhooks();
    let new = NewWebhook {
        id: WebhookId::generate(),
        draft: WebhookDraft::parse(
            RawWebhook {
                url: Some("https://hooks.example.com/services/T0/B0/secret-token".into()),
                event_types: Some(vec!["bookstore.book.created".into()]),
                description: None,
                active: Some(true),
            },
            false,
        )
        .unwrap(),
        sealed_secret: vec![7; 48],
    };
    webhooks.create_webhook(&new, None, &admin()).await.unwrap();
    webhooks.delete_webhook(new.id, &admin()).await.unwrap();
    let missing = webhooks.delete_webhook(new.id, &admin()).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let read = all(store, AuditQuery::default()).await;
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].action, AuditAction::WebhookDeleted);
    assert_eq!(read[1].action, AuditAction::WebhookCreated);
    for entry in &read {
        assert_eq!(entry.target, Some(new.id.to_string()));
        assert_eq!(entry.actor, admin().actor);
    }
    assert_eq!(read[1].details["host"], "hooks.example.com");
    // The URL's path holds the receiver's token: it is not in the entry.
    assert!(!format!("{:?}", read[1]).contains("secret-token"));
}

async fn pages_and_filters(store: &Store) {
    let log = store.audit();
    let clerk = AuditContext::of(
        &Principal {
            subject: "0190f0c2-0000-7000-8000-000000000002".into(),
            username: "clerk".into(),
            role: Role::Staff,
        },
        None,
        None,
    );
    for i in 0..5 {
        let entry = clerk.entry(
            AuditAction::AccessDenied,
            Some(format!("r{i}")),
            details([]),
        );
        log.record_audit(&entry).await.unwrap();
    }
    let middle = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    for _ in 0..3 {
        let entry = AuditContext::anonymous(Some("198.51.100.1".into()), None).entry(
            AuditAction::SignInFailed,
            None,
            details([("reason", "unknown_user".into())]),
        );
        log.record_audit(&entry).await.unwrap();
    }
    let page = |limit: i64, cursor: Option<String>| PageRequest {
        limit: Limit::new(limit).unwrap(),
        cursor,
    };
    // Pages of 3 over 8 entries: 3, 3, 2, newest first, no overlap.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let result = log
            .audit_entries(&AuditQuery {
                page: page(3, cursor),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        seen.extend(result.items.iter().map(|e| e.id));
        match result.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    let count = |query: AuditQuery| async move { all(store, query).await.len() };
    let action = |a| AuditQuery {
        action: Some(a),
        ..AuditQuery::default()
    };
    assert_eq!(count(action(AuditAction::AccessDenied)).await, 5);
    assert_eq!(count(action(AuditAction::SignIn)).await, 0);
    let actor = |text: &str| AuditQuery {
        actor: Some(ActorFilter::parse(text).unwrap()),
        ..AuditQuery::default()
    };
    assert_eq!(count(actor("clerk")).await, 5);
    assert_eq!(
        count(actor("0190f0c2-0000-7000-8000-000000000002")).await,
        5
    );
    assert_eq!(count(actor("anonymous")).await, 3);
    assert_eq!(count(actor("system")).await, 0);
    let since = AuditQuery {
        since: Some(middle),
        ..AuditQuery::default()
    };
    assert_eq!(count(since).await, 3);
    let until = AuditQuery {
        until: Some(middle),
        ..AuditQuery::default()
    };
    assert_eq!(count(until).await, 5);
    // A cursor of one filtered list is refused by another.
    let first = log
        .audit_entries(&AuditQuery {
            page: page(2, None),
            action: Some(AuditAction::AccessDenied),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let refused = log
        .audit_entries(&AuditQuery {
            page: page(2, first.next_cursor),
            ..AuditQuery::default()
        })
        .await;
    assert!(matches!(refused, Err(StoreError::InvalidCursor)));
}

async fn the_janitor_prunes_entries_past_their_retention(store: &Store) {
    let log = store.audit();
    let entry = AuditContext::system().entry(
        AuditAction::SecretLoaded,
        Some("BOOKSTORE_KEK".into()),
        details([]),
    );
    log.record_audit(&entry).await.unwrap();
    let retention = Retention {
        outbox: Duration::days(7),
        audit: Duration::days(30),
    };
    // 29 days on, it is kept; 31 days on, it is pruned.
    let report = store
        .sweep(retention, Utc::now() + Duration::days(29))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.audit_entries, 0);
    assert_eq!(all(store, AuditQuery::default()).await.len(), 1);
    let report = store
        .sweep(retention, Utc::now() + Duration::days(31))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.audit_entries, 1);
    assert!(all(store, AuditQuery::default()).await.is_empty());
}
