//! The user-store contract: one suite of cases, each written once against a [`Store`], run
//! against SQLite (a temporary directory) and PostgreSQL (a fresh database per test), like the
//! catalog's (`contract.rs`).
//!
//! PostgreSQL tests need a server: `BOOKSTORE_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`.

// Test code: the cases are plain `async fn`s called by the generated `#[tokio::test]`s, which
// clippy's `allow-unwrap-in-tests` does not see as tests.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::auth::ports::StoredSigningKey;
use bookstore_core::auth::{
    NewRefreshToken, NewUser, RefreshOutcome, Throttle, User, UserChange, UserId, UserStore,
    Username,
};
use bookstore_core::{Limit, PageRequest, Role, StoreError};
use bookstore_store::testing;
use bookstore_store::Store;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness

contract!(
    multi_thread;
    users_round_trip,
    duplicate_username_is_refused,
    users_are_listed_by_username_in_pages,
    update_bumps_epoch_and_revokes_refresh_tokens,
    update_of_a_missing_user_is_not_found,
    refresh_rotation_and_reuse,
    concurrent_use_of_one_token_is_valid_once,
    expired_and_unknown_tokens_are_invalid,
    logout_revokes_the_family,
    token_joining_a_revoked_family_is_born_revoked,
    refresh_token_of_a_missing_user_is_refused,
    expired_tokens_are_forgotten_at_the_next_insert,
    login_failures_count_within_the_window_and_clear,
    login_failures_are_pruned_as_new_ones_arrive,
    adding_a_signing_key_retires_the_current_one,
    concurrent_key_rotations_leave_one_current_key,
);

// ---------------------------------------------------------------------------------------------
// Helpers

/// Now, in whole microseconds: what the stores keep of a time.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

fn name(raw: &str) -> Username {
    Username::parse(raw).unwrap()
}

fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: name(username),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt-of-{username}$hash"),
    }
}

async fn create(users: &Arc<dyn UserStore>, username: &str) -> User {
    users
        .create_user(
            &new_user(username, Role::Staff),
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap()
}

fn page(limit: i64, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        cursor,
    }
}

/// A token of a new family that started now and lasts an hour.
fn token(hash: &str, user: UserId) -> NewRefreshToken {
    let started = now();
    NewRefreshToken {
        token_hash: hash.into(),
        user_id: user,
        family_id: Uuid::now_v7(),
        family_started_at: started,
        expires_at: started + Duration::hours(1),
    }
}

/// The next token of `previous`'s family (a rotation).
fn rotated(hash: &str, previous: &NewRefreshToken) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: hash.into(),
        ..previous.clone()
    }
}

async fn insert(users: &Arc<dyn UserStore>, token: &NewRefreshToken) {
    users.insert_refresh_token(token).await.unwrap();
}

async fn use_token(users: &Arc<dyn UserStore>, hash: &str) -> RefreshOutcome {
    users.use_refresh_token(hash, Utc::now()).await.unwrap()
}

fn valid(token: &NewRefreshToken) -> RefreshOutcome {
    RefreshOutcome::Valid {
        user_id: token.user_id,
        family_id: token.family_id,
        family_started_at: token.family_started_at,
    }
}

fn reused(token: &NewRefreshToken) -> RefreshOutcome {
    RefreshOutcome::Reused {
        user_id: token.user_id,
        family_id: token.family_id,
    }
}

fn signing_key(kid: &str, created_at: DateTime<Utc>) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        public_key: format!("public {kid}").into_bytes(),
        sealed_private_key: vec![0, 1, 2, 255, kid.len() as u8],
        created_at,
        retired_at: None,
    }
}

/// `(kid, retired_at)` of every key, as the store lists them.
async fn key_states(users: &Arc<dyn UserStore>) -> Vec<(String, Option<DateTime<Utc>>)> {
    users
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.retired_at))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_round_trip(store: &Store) {
    let users = store.users();
    assert_eq!(users.count_users().await.unwrap(), 0);
    let before = now();
    let admin = users
        .create_user(
            &new_user("admin", Role::Admin),
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert_eq!(admin.username, name("admin"));
    assert_eq!(admin.role, Role::Admin);
    assert!(!admin.disabled);
    assert_eq!(admin.token_epoch, 1);
    assert!(admin.created_at >= before);
    assert_eq!(admin.created_at, admin.updated_at);

    let staff = users
        .create_user(
            &new_user("shop.clerk@north-1", Role::Staff),
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert_ne!(staff.id, admin.id);
    assert_eq!(users.count_users().await.unwrap(), 2);
    assert_eq!(testing::count_rows(store, "users").await, 2);

    let record = users.get_user(admin.id).await.unwrap().unwrap();
    assert_eq!(record.user, admin);
    assert_eq!(
        record.password_hash,
        new_user("admin", Role::Admin).password_hash
    );
    let record = users
        .find_user_by_username(&name("shop.clerk@north-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.user, staff);
    assert_eq!(
        record.password_hash,
        new_user("shop.clerk@north-1", Role::Staff).password_hash
    );

    assert_eq!(users.token_epoch(admin.id).await.unwrap(), Some((1, false)));
    let nobody = UserId::generate();
    assert!(users.get_user(nobody).await.unwrap().is_none());
    assert!(users.token_epoch(nobody).await.unwrap().is_none());
    assert!(users
        .find_user_by_username(&name("nobody"))
        .await
        .unwrap()
        .is_none());
}

async fn duplicate_username_is_refused(store: &Store) {
    let users = store.users();
    let first = create(&users, "alice").await;
    let err = users
        .create_user(
            &new_user("alice", Role::Admin),
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::DuplicateName { entity, name } => {
            assert_eq!((entity, name.as_str()), ("user", "alice"));
        }
        other => panic!("expected DuplicateName, got {other:?}"),
    }
    assert_eq!(users.count_users().await.unwrap(), 1);
    let kept = users.find_user_by_username(&name("alice")).await.unwrap();
    assert_eq!(kept.map(|r| r.user), Some(first));
}

async fn users_are_listed_by_username_in_pages(store: &Store) {
    let users = store.users();
    let names = ["mallory", "bob", "alice", "zoe", "carol", "dave", "erin"];
    for n in names {
        create(&users, n).await;
    }
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor = None;
    loop {
        let got = users.list_users(&page(3, cursor)).await.unwrap();
        assert!(got.items.len() <= 3);
        seen.extend(got.items.iter().map(|u| u.username.to_string()));
        pages += 1;
        cursor = got.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let all = users.list_users(&page(100, None)).await.unwrap();
    assert_eq!(all.items.len(), names.len());
    assert!(all.next_cursor.is_none());

    // Cursors of other lists, and garbage, are refused.
    let foreign = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"s":"authors","k":"alice","id":"{}"}}"#,
        Uuid::now_v7()
    ));
    for bad in [foreign.as_str(), "not a cursor", "%%%"] {
        assert!(
            matches!(
                users.list_users(&page(3, Some(bad.into()))).await,
                Err(StoreError::InvalidCursor)
            ),
            "{bad}"
        );
    }
}

async fn update_bumps_epoch_and_revokes_refresh_tokens(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    let bob = create(&users, "bob").await;
    let (a1, a2, b1) = (
        token("a1", alice.id),
        token("a2", alice.id),
        token("b1", bob.id),
    );
    for t in [&a1, &a2, &b1] {
        insert(&users, t).await;
    }

    let role = users
        .update_user(
            alice.id,
            &UserChange {
                role: Some(Role::Admin),
                ..UserChange::default()
            },
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert_eq!(role.role, Role::Admin);
    assert_eq!(role.token_epoch, 2);
    assert!(!role.disabled);
    assert_eq!(role.created_at, alice.created_at);
    assert!(role.updated_at >= alice.updated_at);
    let stored = users.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.user, role);
    assert_eq!(
        stored.password_hash,
        new_user("alice", Role::Staff).password_hash,
        "an unchanged field stays"
    );

    // Every refresh token of alice is revoked; bob's is not.
    assert_eq!(use_token(&users, "a1").await, RefreshOutcome::Invalid);
    assert_eq!(use_token(&users, "a2").await, RefreshOutcome::Invalid);
    assert_eq!(use_token(&users, "b1").await, valid(&b1));

    // Password reset, then disabling: each moves the epoch on.
    let reset = users
        .update_user(
            alice.id,
            &UserChange {
                password_hash: Some("new-hash".into()),
                ..UserChange::default()
            },
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert_eq!((reset.token_epoch, reset.role), (3, Role::Admin));
    let record = users.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(record.password_hash, "new-hash");

    let a3 = token("a3", alice.id);
    insert(&users, &a3).await;
    let disabled = users
        .update_user(
            alice.id,
            &UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(users.token_epoch(alice.id).await.unwrap(), Some((4, true)));
    assert_eq!(use_token(&users, "a3").await, RefreshOutcome::Invalid);

    // An empty change ends nothing (sessions_and_devices.rs has the rest of that rule).
    let a4 = token("a4", alice.id);
    insert(&users, &a4).await;
    let same = users
        .update_user(
            alice.id,
            &UserChange::default(),
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    assert_eq!(same, disabled);
    assert_eq!(use_token(&users, "a4").await, valid(&a4));
    assert_eq!(users.token_epoch(bob.id).await.unwrap(), Some((1, false)));
}

async fn update_of_a_missing_user_is_not_found(store: &Store) {
    let users = store.users();
    let err = users
        .update_user(
            UserId::generate(),
            &UserChange {
                disabled: Some(true),
                ..UserChange::default()
            },
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "user" }),
        "{err:?}"
    );
    assert_eq!(users.count_users().await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

async fn refresh_rotation_and_reuse(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    let first = token("first", alice.id);
    let other_family = token("other", alice.id);
    insert(&users, &first).await;
    insert(&users, &other_family).await;

    assert_eq!(use_token(&users, "first").await, valid(&first));
    let second = rotated("second", &first);
    insert(&users, &second).await;

    // The spent token comes back: reuse, and the newer token of its family dies with it.
    assert_eq!(use_token(&users, "first").await, reused(&first));
    assert_eq!(use_token(&users, "second").await, RefreshOutcome::Invalid);
    // Replayed again, a spent token is still a reuse, though its family is revoked now.
    assert_eq!(use_token(&users, "first").await, reused(&first));
    // Another sign-in of the same user is untouched.
    assert_eq!(use_token(&users, "other").await, valid(&other_family));
    assert_eq!(testing::count_rows(store, "refresh_tokens").await, 3);
}

async fn concurrent_use_of_one_token_is_valid_once(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    for round in 0..5 {
        let hash = format!("contended-{round}");
        let live = token(&hash, alice.id);
        insert(&users, &live).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (users, hash, barrier) = (users.clone(), hash.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    users.use_refresh_token(&hash, Utc::now()).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let valids = outcomes.iter().filter(|o| **o == valid(&live)).count();
        let reuses = outcomes.iter().filter(|o| **o == reused(&live)).count();
        assert_eq!((valids, reuses), (1, 7), "round {round}: {outcomes:?}");
    }
}

async fn expired_and_unknown_tokens_are_invalid(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    let t0 = now();
    let expired = NewRefreshToken {
        expires_at: t0 - Duration::seconds(1),
        ..token("expired", alice.id)
    };
    insert(&users, &expired).await;
    assert_eq!(
        users.use_refresh_token("expired", t0).await.unwrap(),
        RefreshOutcome::Invalid
    );

    // Live until the instant it expires, not at it.
    let edge = NewRefreshToken {
        expires_at: t0 + Duration::seconds(10),
        ..token("edge", alice.id)
    };
    insert(&users, &edge).await;
    assert_eq!(
        users
            .use_refresh_token("edge", edge.expires_at)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        users
            .use_refresh_token("edge", edge.expires_at - Duration::milliseconds(1))
            .await
            .unwrap(),
        valid(&edge)
    );

    assert_eq!(
        use_token(&users, "never-issued").await,
        RefreshOutcome::Invalid
    );
}

async fn logout_revokes_the_family(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    let first = token("first", alice.id);
    insert(&users, &first).await;
    assert_eq!(use_token(&users, "first").await, valid(&first));
    let second = rotated("second", &first);
    insert(&users, &second).await;
    let elsewhere = token("elsewhere", alice.id);
    insert(&users, &elsewhere).await;

    // Logging out with the current token ends that sign-in only.
    assert_eq!(
        users
            .revoke_refresh_family("second", alice.id)
            .await
            .unwrap(),
        Some(first.family_id)
    );
    // A revoked (never used) token is invalid, not a reuse.
    assert_eq!(use_token(&users, "second").await, RefreshOutcome::Invalid);
    assert_eq!(use_token(&users, "second").await, RefreshOutcome::Invalid);
    // A spent token of the family is still a reuse.
    assert_eq!(use_token(&users, "first").await, reused(&first));
    assert_eq!(use_token(&users, "elsewhere").await, valid(&elsewhere));

    assert_eq!(
        users
            .revoke_refresh_family("unknown", alice.id)
            .await
            .unwrap(),
        None
    );
    // Logging out twice is harmless.
    assert_eq!(
        users
            .revoke_refresh_family("second", alice.id)
            .await
            .unwrap(),
        Some(first.family_id)
    );
}

async fn token_joining_a_revoked_family_is_born_revoked(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;

    // A refresh spends its token; the family is revoked (a logout elsewhere) before the
    // refresh stores the rotated token.
    let first = token("first", alice.id);
    insert(&users, &first).await;
    assert_eq!(use_token(&users, "first").await, valid(&first));
    users
        .revoke_refresh_family("first", alice.id)
        .await
        .unwrap();
    insert(&users, &rotated("late", &first)).await;
    assert_eq!(use_token(&users, "late").await, RefreshOutcome::Invalid);

    // The same after a change of the user.
    let other = token("other", alice.id);
    insert(&users, &other).await;
    assert_eq!(use_token(&users, "other").await, valid(&other));
    users
        .update_user(
            alice.id,
            &UserChange {
                password_hash: Some("new-hash".into()),
                ..UserChange::default()
            },
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap();
    insert(&users, &rotated("late-2", &other)).await;
    assert_eq!(use_token(&users, "late-2").await, RefreshOutcome::Invalid);

    // A plain rotation is live.
    let fresh = token("fresh", alice.id);
    insert(&users, &fresh).await;
    assert_eq!(use_token(&users, "fresh").await, valid(&fresh));
    let next = rotated("next", &fresh);
    insert(&users, &next).await;
    assert_eq!(use_token(&users, "next").await, valid(&next));
}

async fn refresh_token_of_a_missing_user_is_refused(store: &Store) {
    let users = store.users();
    let err = users
        .insert_refresh_token(&token("orphan", UserId::generate()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "user" }),
        "{err:?}"
    );
    assert_eq!(testing::count_rows(store, "refresh_tokens").await, 0);
}

async fn expired_tokens_are_forgotten_at_the_next_insert(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice").await;
    let bob = create(&users, "bob").await;
    let past = now() - Duration::hours(2);
    for (hash, user) in [("alice-old", alice.id), ("bob-old", bob.id)] {
        insert(
            &users,
            &NewRefreshToken {
                family_started_at: past,
                expires_at: past + Duration::hours(1),
                ..token(hash, user)
            },
        )
        .await;
    }
    assert_eq!(testing::count_rows(store, "refresh_tokens").await, 2);
    let current = token("alice-new", alice.id);
    insert(&users, &current).await;
    // Alice's expired token is gone; bob's waits for bob's next sign-in.
    assert_eq!(testing::count_rows(store, "refresh_tokens").await, 2);
    assert_eq!(use_token(&users, "alice-new").await, valid(&current));
    assert_eq!(
        users
            .revoke_refresh_family("alice-old", alice.id)
            .await
            .unwrap(),
        None
    );
    assert!(users
        .revoke_refresh_family("bob-old", bob.id)
        .await
        .unwrap()
        .is_some());
}

// ---------------------------------------------------------------------------------------------
// Failed sign-ins

async fn login_failures_count_within_the_window_and_clear(store: &Store) {
    let users = store.users();
    let t = now();
    let since = t - Duration::minutes(15);
    assert_eq!(
        users.login_failures("user:alice", since).await.unwrap(),
        Throttle {
            failures: 0,
            last_failure: None
        }
    );
    for minutes in [20, 10, 5, 1] {
        users
            .record_login_failure("user:alice", t - Duration::minutes(minutes))
            .await
            .unwrap();
    }
    users
        .record_login_failure("client:10.0.0.7", t - Duration::minutes(2))
        .await
        .unwrap();
    // One exactly at the start of the window counts.
    users
        .record_login_failure("user:carol", since)
        .await
        .unwrap();

    assert_eq!(
        users.login_failures("user:alice", since).await.unwrap(),
        Throttle {
            failures: 3,
            last_failure: Some(t - Duration::minutes(1))
        }
    );
    assert_eq!(
        users
            .login_failures("user:alice", t - Duration::minutes(7))
            .await
            .unwrap(),
        Throttle {
            failures: 2,
            last_failure: Some(t - Duration::minutes(1))
        }
    );
    assert_eq!(
        users
            .login_failures("client:10.0.0.7", since)
            .await
            .unwrap(),
        Throttle {
            failures: 1,
            last_failure: Some(t - Duration::minutes(2))
        }
    );
    assert_eq!(
        users.login_failures("user:carol", since).await.unwrap(),
        Throttle {
            failures: 1,
            last_failure: Some(since)
        }
    );

    users.clear_login_failures("user:alice").await.unwrap();
    assert_eq!(
        users.login_failures("user:alice", since).await.unwrap(),
        Throttle {
            failures: 0,
            last_failure: None
        }
    );
    // Other keys keep theirs.
    assert_eq!(
        users
            .login_failures("client:10.0.0.7", since)
            .await
            .unwrap()
            .failures,
        1
    );
    // Clearing a key without failures is harmless.
    users.clear_login_failures("user:nobody").await.unwrap();
}

async fn login_failures_are_pruned_as_new_ones_arrive(store: &Store) {
    let users = store.users();
    let t = now();
    let long_ago = t - Duration::hours(3);
    for i in 0..5 {
        users
            .record_login_failure("client:10.0.0.9", long_ago + Duration::seconds(i))
            .await
            .unwrap();
    }
    users
        .record_login_failure("user:alice", long_ago)
        .await
        .unwrap();
    assert_eq!(testing::count_rows(store, "login_failures").await, 6);
    // A new failure of any key prunes every failure older than the throttle window.
    users
        .record_login_failure("user:bob", t - Duration::minutes(14))
        .await
        .unwrap();
    users.record_login_failure("user:bob", t).await.unwrap();
    assert_eq!(testing::count_rows(store, "login_failures").await, 2);
    assert_eq!(
        users
            .login_failures("user:bob", long_ago)
            .await
            .unwrap()
            .failures,
        2
    );
    assert_eq!(
        users
            .login_failures("client:10.0.0.9", long_ago)
            .await
            .unwrap()
            .failures,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Signing keys

async fn adding_a_signing_key_retires_the_current_one(store: &Store) {
    let users = store.users();
    assert!(users.signing_keys().await.unwrap().is_empty());
    let t1 = now() - Duration::days(2);
    let (t2, t3) = (t1 + Duration::days(1), t1 + Duration::days(2));

    let k1 = signing_key("k1", t1);
    users.add_signing_key(&k1, t1).await.unwrap();
    let stored = users.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    let got = &stored[0];
    assert_eq!(
        (
            &got.kid,
            &got.algorithm,
            &got.public_key,
            &got.sealed_private_key,
            got.created_at,
            got.retired_at
        ),
        (
            &k1.kid,
            &k1.algorithm,
            &k1.public_key,
            &k1.sealed_private_key,
            t1,
            None
        )
    );

    users
        .add_signing_key(&signing_key("k2", t2), t2)
        .await
        .unwrap();
    assert_eq!(
        key_states(&users).await,
        [("k2".into(), None), ("k1".into(), Some(t2))]
    );
    users
        .add_signing_key(&signing_key("k3", t3), t3)
        .await
        .unwrap();
    // Newest first; a retired key keeps the time it retired.
    assert_eq!(
        key_states(&users).await,
        [
            ("k3".into(), None),
            ("k2".into(), Some(t3)),
            ("k1".into(), Some(t2))
        ]
    );

    // A kid is unique, and a refused key changes nothing.
    let err = users
        .add_signing_key(&signing_key("k2", t3 + Duration::hours(1)), t3)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateName { entity: "signing key", name } if name == "k2"),
        "{err:?}"
    );
    assert_eq!(key_states(&users).await[0], ("k3".into(), None));
    assert_eq!(testing::count_rows(store, "signing_keys").await, 3);
}

async fn concurrent_key_rotations_leave_one_current_key(store: &Store) {
    let users = store.users();
    users
        .add_signing_key(&signing_key("first", now()), now())
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (users, barrier) = (users.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                users
                    .add_signing_key(&signing_key(&format!("k{i}"), now()), now())
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let keys = users.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 7);
    let current: Vec<&str> = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.kid.as_str())
        .collect();
    assert_eq!(current.len(), 1, "{current:?}");
}
