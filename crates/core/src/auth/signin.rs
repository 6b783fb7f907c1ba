//! Signing in: the password check behind the brute-force throttle, and trusted devices.
//!
//! The throttle keeps guessing slow, per account and per client address. Left at that, it
//! also lets anyone lock anyone out: failures from anywhere slow the account down for
//! everyone. So, after OWASP's "device cookies": every sign-in returns a device token, and a
//! client that presents a live one of the account it signs in to is judged by its own
//! failures only (the key `device:<digest>`), not by the account's or its address's. An
//! attacker without such a token slows down the account for other clients without one, never
//! for the devices that have signed in before; one that stole a device token guesses at that
//! device's pace, which the same curve keeps slow.

use super::accounts::{account_key, Accounts, LoginOutcome};
use super::password::{checkable, MAX_BYTES};
use super::ports::NewDeviceToken;
use super::throttle::WINDOW;
use super::user::{UserRecord, Username};
use super::AuthError;
use crate::audit::{details, AuditAction, AuditActor, AuditContext};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A device that has not signed in for this long is a stranger again.
pub const DEVICE_TOKEN_LIFETIME: Duration = Duration::days(90);

/// At most the first [`MAX_BYTES`] bytes of `raw`, cut at a character boundary.
fn bounded(raw: &str) -> &str {
    let mut end = raw.len().min(MAX_BYTES);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

fn client_key(client: &str) -> String {
    format!("client:{client}")
}

fn device_key(token_hash: &str) -> String {
    format!("device:{token_hash}")
}

impl Accounts {
    async fn throttled(&self, key: &str, now: DateTime<Utc>) -> Result<Option<u64>, AuthError> {
        let throttle = self.users.login_failures(key, now - WINDOW).await?;
        Ok(throttle.retry_after(now))
    }

    /// Counts the failure against each key, and records it (and any key it locks) in the
    /// audit log.
    async fn fail(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
        attempt: &Attempt<'_>,
        reason: &str,
    ) -> AuthError {
        match self.count_failure(keys, now, attempt, reason).await {
            Ok(()) => AuthError::InvalidCredentials,
            Err(err) => err,
        }
    }

    async fn count_failure(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
        attempt: &Attempt<'_>,
        reason: &str,
    ) -> Result<(), AuthError> {
        for key in keys {
            self.users.record_login_failure(key, now).await?;
        }
        self.users
            .record_audit(&attempt.entry(
                AuditAction::SignInFailed,
                details([("reason", reason.into())]),
            ))
            .await?;
        for key in keys {
            let throttle = self.users.login_failures(key, now - WINDOW).await?;
            if let Some(retry_after_secs) = throttle.retry_after(now) {
                let scope = key.split_once(':').map_or("account", |(scope, _)| scope);
                let scope = if scope == "user" { "account" } else { scope };
                self.users
                    .record_audit(&attempt.entry(
                        AuditAction::LockedOut,
                        details([
                            ("scope", scope.into()),
                            ("failures", throttle.failures.into()),
                            ("retry_after_secs", retry_after_secs.into()),
                        ]),
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    /// The digest of `device_token` when it is a live device token of `record`'s user.
    async fn trusted_device(
        &self,
        device_token: Option<&str>,
        record: Option<&UserRecord>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, AuthError> {
        let (Some(token), Some(record)) = (device_token, record) else {
            return Ok(None);
        };
        // Our device tokens are short; anything longer is not one, and is not hashed.
        if token.len() > 128 {
            return Ok(None);
        }
        let hash = self.signer.hash_refresh_token(token);
        let owner = self.users.device_token_user(&hash, now).await?;
        Ok((owner == Some(record.user.id)).then_some(hash))
    }

    /// Signs a user in. Unknown users, wrong passwords (over-long ones included) and disabled
    /// accounts all get `InvalidCredentials` after the same amount of hashing work. A name that does not parse
    /// cannot be an account: it is neither looked up nor stored as a throttle key (people type
    /// passwords into the username field), and only the client address counts the failure.
    ///
    /// Every outcome is in the audit log (`sign_in`, `sign_in_failed`, `locked_out`), from
    /// `origin` (its client address is the throttle's). The entries name the account only when
    /// the name given is an existing user's: anything else may be a password typed into the
    /// wrong field, and is not written anywhere.
    #[tracing::instrument(name = "accounts.login", skip_all)]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_token: Option<&str>,
        origin: &AuditContext,
    ) -> LoginOutcome {
        let client = origin.client_ip.as_deref().unwrap_or("unknown");
        let now = Utc::now();
        let name = Username::parse(username).ok();
        let record = match &name {
            Some(name) => self.users.find_user_by_username(name).await?,
            None => None,
        };
        let attempt = Attempt {
            origin,
            record: record.as_ref(),
        };
        let device = self
            .trusted_device(device_token, record.as_ref(), now)
            .await?;
        let keys: Vec<String> = match (&device, &name) {
            (Some(hash), _) => vec![device_key(hash)],
            (None, Some(name)) => vec![account_key(name), client_key(client)],
            (None, None) => vec![client_key(client)],
        };
        let mut waits = Vec::with_capacity(keys.len());
        for key in &keys {
            waits.push(self.throttled(key, now).await?);
        }
        if let Some(retry_after_secs) = waits.into_iter().flatten().max() {
            self.users
                .record_audit(&attempt.entry(
                    AuditAction::SignInFailed,
                    details([
                        ("reason", "throttled".into()),
                        ("retry_after_secs", retry_after_secs.into()),
                    ]),
                ))
                .await?;
            return Err(AuthError::Throttled { retry_after_secs });
        }
        // No password of ours is over the bound: a longer one is answered as a wrong one (the
        // same work, the same failures counted), and argon2 is handed only its first bytes.
        let within_bound = checkable(password);
        let reason = match &record {
            None => "unknown_user",
            Some(r) if r.user.disabled => "disabled",
            Some(_) => "wrong_password",
        };
        let Some(record) = record.clone().filter(|r| !r.user.disabled && within_bound) else {
            self.hasher.verify_dummy(bounded(password)).await;
            return Err(self.fail(&keys, now, &attempt, reason).await);
        };
        if !self.hasher.verify(password, &record.password_hash).await? {
            return Err(self.fail(&keys, now, &attempt, reason).await);
        }
        self.users
            .record_audit(
                &origin
                    .as_actor(AuditActor::User {
                        id: record.user.id.to_string(),
                        name: record.user.username.to_string(),
                    })
                    .entry(
                        AuditAction::SignIn,
                        Some(record.user.username.to_string()),
                        details([
                            ("user_id", record.user.id.to_string().into()),
                            ("trusted_device", device.is_some().into()),
                        ]),
                    ),
            )
            .await?;
        // The client's address stays counted: a success with one account must not buy an
        // address more guesses at the others.
        self.users.clear_login_failures(&keys[0]).await?;
        let mut pair = self.issue(&record.user, Uuid::now_v7(), now).await?;
        // Same randomness as a refresh token, another prefix so that neither is mistaken for
        // the other.
        let new_device = self.signer.new_refresh_token()?.replacen("rt_", "dt_", 1);
        self.users
            .insert_device_token(
                &NewDeviceToken {
                    token_hash: self.signer.hash_refresh_token(&new_device),
                    user_id: record.user.id,
                    expires_at: now + DEVICE_TOKEN_LIFETIME,
                },
                device.as_deref(),
            )
            .await?;
        pair.device_token = Some(new_device);
        Ok(pair)
    }
}

/// A sign-in attempt as the audit log sees it: where from, and the account, when the name
/// given is an existing user's.
struct Attempt<'a> {
    origin: &'a AuditContext,
    record: Option<&'a UserRecord>,
}

impl Attempt<'_> {
    fn entry(
        &self,
        action: AuditAction,
        mut details: Map<String, Value>,
    ) -> crate::audit::NewAuditEntry {
        let target = self.record.map(|r| r.user.username.to_string());
        match self.record {
            Some(r) => details.insert("user_id".into(), r.user.id.to_string().into()),
            // Whatever was typed is not kept: it may be a password.
            None => details.insert("username_known".into(), false.into()),
        };
        self.origin.entry(action, target, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Password;
    use crate::fakes::{self, FakeStore};
    use crate::policy::Role;
    use futures_executor::block_on;
    use std::sync::Arc;

    const RIGHT: &str = "saffron lighthouse kettle";

    fn from_c1() -> AuditContext {
        AuditContext::anonymous(Some("c1".into()), Some("req-1".into()))
    }

    #[test]
    fn a_password_typed_as_a_username_is_never_in_an_audit_entry() {
        let (accounts, store) = accounts_with_clerk();
        // A name that parses as a username, but names nobody: perhaps a password.
        let typed = "velvet.tram.orbit.quinoa";
        for _ in 0..7 {
            let outcome = block_on(accounts.login(typed, RIGHT, None, &from_c1()));
            assert!(outcome.is_err());
        }
        let entries = store.audit.lock().unwrap().clone();
        let failed = entries
            .iter()
            .filter(|e| e.action == AuditAction::SignInFailed)
            .count();
        assert_eq!(failed, 7, "{entries:?}");
        assert!(entries.iter().any(|e| e.action == AuditAction::LockedOut));
        for entry in &entries {
            let text = format!("{entry:?}");
            assert!(!text.contains(typed), "{text}");
            assert!(!text.contains(RIGHT), "{text}");
            if entry.action != AuditAction::UserCreated {
                assert_eq!(entry.target, None);
                assert_eq!(entry.client_ip.as_deref(), Some("c1"));
                assert_eq!(entry.request_id.as_deref(), Some("req-1"));
            }
        }
        // An existing user is named, and a success is the user's own doing (from another
        // address: c1 is locked out now).
        let c2 = AuditContext::anonymous(Some("c2".into()), None);
        block_on(accounts.login("clerk", "not it", None, &c2)).unwrap_err();
        block_on(accounts.login("clerk", RIGHT, None, &c2)).unwrap();
        let entries = store.audit.lock().unwrap().clone();
        let last = entries.last().unwrap();
        assert_eq!(last.action, AuditAction::SignIn);
        assert_eq!(last.target.as_deref(), Some("clerk"));
        assert_eq!(last.actor.name(), Some("clerk"));
        let failed = &entries[entries.len() - 2];
        assert_eq!(failed.action, AuditAction::SignInFailed);
        assert_eq!(failed.target.as_deref(), Some("clerk"));
        assert_eq!(failed.details["reason"], "wrong_password");
    }

    fn accounts_with_clerk() -> (Accounts, Arc<FakeStore>) {
        let (accounts, store) = fakes::accounts();
        let name = Username::parse("clerk").expect("name");
        let password = Password::new(RIGHT.into(), &[]).expect("password");
        block_on(accounts.create_user_unchecked(name, password, Role::Staff)).expect("created");
        (accounts, store)
    }

    #[test]
    fn an_over_long_password_is_answered_as_a_wrong_one_and_never_hashed_whole() {
        let (accounts, store) = accounts_with_clerk();
        let wrong = block_on(accounts.login("clerk", "not the password", None, &from_c1()));
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
        // A megabyte that begins with the right password.
        let huge = format!("{RIGHT}{}", "\u{e9}".repeat(512 * 1024));
        store.hashed.lock().unwrap().clear();
        let long = block_on(accounts.login("clerk", &huge, None, &from_c1()));
        assert!(matches!(long, Err(AuthError::InvalidCredentials)));
        // The same work as for a wrong password, on at most MAX_BYTES of it (cut after the
        // last whole character, a byte short here)...
        assert_eq!(store.hashed.lock().unwrap().clone(), vec![MAX_BYTES - 1]);
        // ...and the same failures counted: the account's and the client's, twice each now.
        let counted = |key: &str| {
            let failures = store.failures.lock().unwrap();
            failures.iter().filter(|(k, _)| k == key).count()
        };
        assert_eq!((counted("user:clerk"), counted("client:c1")), (2, 2));
        // The right password still signs in.
        assert!(block_on(accounts.login("clerk", RIGHT, None, &from_c1())).is_ok());
    }

    #[test]
    fn a_password_at_the_bound_is_checked() {
        let (accounts, store) = accounts_with_clerk();
        store.hashed.lock().unwrap().clear();
        let at_bound = "\u{1F511}".repeat(MAX_BYTES / 4);
        let outcome = block_on(accounts.login("clerk", &at_bound, None, &from_c1()));
        assert!(matches!(outcome, Err(AuthError::InvalidCredentials)));
        assert_eq!(store.count("verify"), 1);
        assert_eq!(store.hashed.lock().unwrap().clone(), vec![MAX_BYTES]);
    }
}
