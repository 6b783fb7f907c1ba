//! The user store's sign-ins, trusted devices and key schedule (issue 11, §1.13, §1.14,
//! §1.17, §1.21), run against SQLite and PostgreSQL like `users.rs`.

// Test code: the cases are plain `async fn`s called by the generated `#[tokio::test]`s.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::auth::ports::StoredSigningKey;
use bookstore_core::auth::{
    NewDeviceToken, NewRefreshToken, NewUser, RefreshOutcome, SessionState, User, UserChange,
    UserId, UserStore, Username,
};
use bookstore_core::Role;
use bookstore_store::testing;
use bookstore_store::Store;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

contract!(
    a_change_to_the_same_values_revokes_nothing,
    a_change_that_matters_revokes,
    own_password_change_keeps_the_session_that_made_it,
    a_session_is_live_until_revoked_reused_or_over,
    logout_with_someone_elses_token_revokes_nothing,
    device_tokens_belong_to_their_user_and_expire,
    a_new_password_forgets_the_trusted_devices,
    a_rotated_key_is_published_before_the_old_one_retires,
    a_scheduled_rotation_adds_one_key_however_many_ask,
);

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

async fn create(users: &Arc<dyn UserStore>, username: &str, role: Role) -> User {
    users
        .create_user(
            &NewUser {
                username: Username::parse(username).unwrap(),
                role,
                password_hash: format!("hash-of-{username}"),
            },
            None,
            &bookstore_core::audit::AuditContext::system(),
        )
        .await
        .unwrap()
}

/// A token of a new family (a sign-in) that started now and lasts an hour.
async fn sign_in(users: &Arc<dyn UserStore>, hash: &str, user: UserId) -> NewRefreshToken {
    let started = now();
    let token = NewRefreshToken {
        token_hash: hash.into(),
        user_id: user,
        family_id: Uuid::now_v7(),
        family_started_at: started,
        expires_at: started + Duration::hours(1),
    };
    users.insert_refresh_token(&token).await.unwrap();
    token
}

async fn live(users: &Arc<dyn UserStore>, token: &NewRefreshToken) -> bool {
    users
        .session_state(token.user_id, token.family_id, Utc::now())
        .await
        .unwrap()
        .unwrap()
        .live
}

async fn use_token(users: &Arc<dyn UserStore>, hash: &str) -> RefreshOutcome {
    users.use_refresh_token(hash, Utc::now()).await.unwrap()
}

async fn update(users: &Arc<dyn UserStore>, id: UserId, change: UserChange) -> User {
    users
        .update_user(id, &change, &bookstore_core::audit::AuditContext::system())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// §1.21: only a change that matters ends sign-ins

async fn a_change_to_the_same_values_revokes_nothing(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let session = sign_in(&users, "a1", alice.id).await;
    for change in [
        UserChange::default(),
        UserChange {
            role: Some(Role::Staff),
            ..UserChange::default()
        },
        UserChange {
            disabled: Some(false),
            ..UserChange::default()
        },
        UserChange {
            role: Some(Role::Staff),
            disabled: Some(false),
            ..UserChange::default()
        },
    ] {
        let same = update(&users, alice.id, change).await;
        // Not even `updated_at` moves: nothing was written.
        assert_eq!(same, alice);
    }
    assert_eq!(users.token_epoch(alice.id).await.unwrap(), Some((1, false)));
    assert!(live(&users, &session).await);
    assert_eq!(
        use_token(&users, "a1").await,
        RefreshOutcome::Valid {
            user_id: alice.id,
            family_id: session.family_id,
            family_started_at: session.family_started_at,
        }
    );
}

async fn a_change_that_matters_revokes(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let mut epoch = 1;
    for change in [
        UserChange {
            role: Some(Role::Admin),
            ..UserChange::default()
        },
        UserChange {
            disabled: Some(true),
            ..UserChange::default()
        },
        UserChange {
            disabled: Some(false),
            ..UserChange::default()
        },
        UserChange {
            password_hash: Some("another-hash".into()),
            ..UserChange::default()
        },
        // A password is a change even when it hashes the same password again.
        UserChange {
            password_hash: Some("another-hash".into()),
            ..UserChange::default()
        },
    ] {
        let session = sign_in(&users, &format!("t{epoch}"), alice.id).await;
        let changed = update(&users, alice.id, change).await;
        epoch += 1;
        assert_eq!(changed.token_epoch, epoch);
        assert!(!live(&users, &session).await);
    }
}

// ---------------------------------------------------------------------------------------------
// §1.13: sessions

async fn own_password_change_keeps_the_session_that_made_it(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let bob = create(&users, "bob", Role::Staff).await;
    let here = sign_in(&users, "here", alice.id).await;
    let elsewhere = sign_in(&users, "elsewhere", alice.id).await;
    let bobs = sign_in(&users, "bobs", bob.id).await;
    let changed = update(
        &users,
        alice.id,
        UserChange {
            password_hash: Some("new-hash".into()),
            keep_session: Some(here.family_id),
            ..UserChange::default()
        },
    )
    .await;
    // The epoch stays, so the current access token keeps working; the other sign-in ends with
    // its access tokens (they check their session).
    assert_eq!(changed.token_epoch, alice.token_epoch);
    assert_eq!(
        users
            .get_user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );
    assert!(live(&users, &here).await);
    assert!(!live(&users, &elsewhere).await);
    assert!(live(&users, &bobs).await);
    assert!(matches!(
        use_token(&users, "here").await,
        RefreshOutcome::Valid { .. }
    ));
    assert_eq!(
        use_token(&users, "elsewhere").await,
        RefreshOutcome::Invalid
    );
}

async fn a_session_is_live_until_revoked_reused_or_over(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let state = |live| SessionState {
        token_epoch: 1,
        disabled: false,
        live,
    };

    // Live, and still live once its token is spent and the next one stored.
    let first = sign_in(&users, "first", alice.id).await;
    let at = Utc::now();
    assert_eq!(
        users
            .session_state(alice.id, first.family_id, at)
            .await
            .unwrap(),
        Some(state(true))
    );
    assert!(matches!(
        use_token(&users, "first").await,
        RefreshOutcome::Valid { .. }
    ));
    assert!(live(&users, &first).await);
    let second = NewRefreshToken {
        token_hash: "second".into(),
        ..first.clone()
    };
    users.insert_refresh_token(&second).await.unwrap();
    assert!(live(&users, &first).await);

    // Reuse of the spent token ends it.
    assert!(matches!(
        use_token(&users, "first").await,
        RefreshOutcome::Reused { .. }
    ));
    assert!(!live(&users, &first).await);

    // Logout ends it.
    let other = sign_in(&users, "other", alice.id).await;
    assert!(live(&users, &other).await);
    users
        .revoke_refresh_family("other", alice.id)
        .await
        .unwrap();
    assert!(!live(&users, &other).await);

    // Past the session's end it is over, revoked or not.
    let third = sign_in(&users, "third", alice.id).await;
    assert_eq!(
        users
            .session_state(alice.id, third.family_id, third.expires_at)
            .await
            .unwrap(),
        Some(state(false))
    );

    // A session of another user, an unknown one, a missing user.
    let bob = create(&users, "bob", Role::Staff).await;
    assert_eq!(
        users
            .session_state(bob.id, third.family_id, at)
            .await
            .unwrap(),
        Some(state(false))
    );
    assert_eq!(
        users
            .session_state(alice.id, Uuid::now_v7(), at)
            .await
            .unwrap(),
        Some(state(false))
    );
    assert_eq!(
        users
            .session_state(UserId::generate(), third.family_id, at)
            .await
            .unwrap(),
        None
    );
}

async fn logout_with_someone_elses_token_revokes_nothing(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Admin).await;
    let mallory = create(&users, "mallory", Role::Staff).await;
    let alices = sign_in(&users, "alices", alice.id).await;
    assert_eq!(
        users
            .revoke_refresh_family("alices", mallory.id)
            .await
            .unwrap(),
        None
    );
    assert!(live(&users, &alices).await);
    assert!(matches!(
        use_token(&users, "alices").await,
        RefreshOutcome::Valid { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// §1.14: trusted devices

fn device(hash: &str, user: UserId, expires_at: DateTime<Utc>) -> NewDeviceToken {
    NewDeviceToken {
        token_hash: hash.into(),
        user_id: user,
        expires_at,
    }
}

async fn device_tokens_belong_to_their_user_and_expire(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let bob = create(&users, "bob", Role::Staff).await;
    let t = now();
    let later = t + Duration::days(90);
    users
        .insert_device_token(&device("d1", alice.id, later), None)
        .await
        .unwrap();
    users
        .insert_device_token(&device("old", alice.id, t - Duration::seconds(1)), None)
        .await
        .unwrap();
    users
        .insert_device_token(&device("b1", bob.id, later), None)
        .await
        .unwrap();
    assert_eq!(
        users.device_token_user("d1", t).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(
        users.device_token_user("b1", t).await.unwrap(),
        Some(bob.id)
    );
    assert_eq!(users.device_token_user("old", t).await.unwrap(), None);
    assert_eq!(users.device_token_user("nope", t).await.unwrap(), None);
    assert_eq!(users.device_token_user("d1", later).await.unwrap(), None);

    // A new token replaces the one presented, and the user's expired ones go.
    users
        .insert_device_token(&device("d2", alice.id, later), Some("d1"))
        .await
        .unwrap();
    assert_eq!(users.device_token_user("d1", t).await.unwrap(), None);
    assert_eq!(
        users.device_token_user("d2", t).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(testing::count_rows(store, "trusted_devices").await, 2);
    // Someone else's token is not replaced.
    users
        .insert_device_token(&device("d3", alice.id, later), Some("b1"))
        .await
        .unwrap();
    assert_eq!(
        users.device_token_user("b1", t).await.unwrap(),
        Some(bob.id)
    );
}

async fn a_new_password_forgets_the_trusted_devices(store: &Store) {
    let users = store.users();
    let alice = create(&users, "alice", Role::Staff).await;
    let bob = create(&users, "bob", Role::Staff).await;
    let later = now() + Duration::days(90);
    for (hash, user) in [("a1", alice.id), ("a2", alice.id), ("b1", bob.id)] {
        users
            .insert_device_token(&device(hash, user, later), None)
            .await
            .unwrap();
    }
    // A role change keeps them: they only ever spare a client the account's lock-out.
    update(
        &users,
        alice.id,
        UserChange {
            role: Some(Role::Admin),
            ..UserChange::default()
        },
    )
    .await;
    assert!(users
        .device_token_user("a1", now())
        .await
        .unwrap()
        .is_some());
    update(
        &users,
        alice.id,
        UserChange {
            password_hash: Some("new".into()),
            ..UserChange::default()
        },
    )
    .await;
    assert_eq!(users.device_token_user("a1", now()).await.unwrap(), None);
    assert_eq!(users.device_token_user("a2", now()).await.unwrap(), None);
    assert_eq!(
        users.device_token_user("b1", now()).await.unwrap(),
        Some(bob.id)
    );
}

// ---------------------------------------------------------------------------------------------
// §1.17: publish before signing

fn signing_key(kid: &str, created_at: DateTime<Utc>) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        public_key: kid.as_bytes().to_vec(),
        sealed_private_key: vec![1, 2, 3],
        created_at,
        retired_at: None,
    }
}

async fn a_rotated_key_is_published_before_the_old_one_retires(store: &Store) {
    let users = store.users();
    let t = now();
    let (lead1, lead2) = (t + Duration::seconds(360), t + Duration::seconds(400));
    users
        .add_signing_key(&signing_key("k1", t), t)
        .await
        .unwrap();
    users
        .add_signing_key(&signing_key("k2", t + Duration::seconds(1)), lead1)
        .await
        .unwrap();
    // A second rotation within the lead retires only the key that had no retirement yet.
    users
        .add_signing_key(&signing_key("k3", t + Duration::seconds(40)), lead2)
        .await
        .unwrap();
    let keys: Vec<(String, Option<DateTime<Utc>>)> = users
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.retired_at))
        .collect();
    assert_eq!(
        keys,
        [
            ("k3".into(), None),
            ("k2".into(), Some(lead2)),
            ("k1".into(), Some(lead1)),
        ]
    );
    // An emergency rotation (no lead) stops every older key at once.
    let at = t + Duration::seconds(60);
    users
        .add_signing_key(&signing_key("k4", at), at)
        .await
        .unwrap();
    let retired: Vec<Option<DateTime<Utc>>> = users
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.retired_at)
        .collect();
    assert_eq!(retired, [None, Some(at), Some(at), Some(at)]);
}

async fn a_scheduled_rotation_adds_one_key_however_many_ask(store: &Store) {
    let users = store.users();
    let t = now();
    users
        .add_signing_key(&signing_key("k1", t - Duration::seconds(100)), t)
        .await
        .unwrap();
    // Five replicas find k1 older than the 60 s period at once: one adds its key.
    let period = Duration::seconds(60);
    let attempts = (0..5).map(|i| {
        let users = users.clone();
        async move {
            users
                .add_signing_key_unless_newer(
                    &signing_key(&format!("r{i}"), t),
                    t + Duration::seconds(360),
                    t - period,
                )
                .await
                .unwrap()
        }
    });
    let added = futures_util::future::join_all(attempts).await;
    assert_eq!(added.iter().filter(|a| **a).count(), 1, "{added:?}");
    assert_eq!(users.signing_keys().await.unwrap().len(), 2);
    // Not due while the newest key is younger than the period.
    let again = users
        .add_signing_key_unless_newer(
            &signing_key("later", t + Duration::seconds(30)),
            t + Duration::seconds(390),
            t + Duration::seconds(30) - period,
        )
        .await
        .unwrap();
    assert!(!again);
}
