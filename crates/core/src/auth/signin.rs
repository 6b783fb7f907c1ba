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
use chrono::{DateTime, Duration, Utc};
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

    async fn fail(&self, keys: &[String], now: DateTime<Utc>) -> AuthError {
        for key in keys {
            if let Err(err) = self.users.record_login_failure(key, now).await {
                return err.into();
            }
        }
        AuthError::InvalidCredentials
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
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_token: Option<&str>,
        client: &str,
    ) -> LoginOutcome {
        let now = Utc::now();
        let name = Username::parse(username).ok();
        let record = match &name {
            Some(name) => self.users.find_user_by_username(name).await?,
            None => None,
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
            return Err(AuthError::Throttled { retry_after_secs });
        }
        // No password of ours is over the bound: a longer one is answered as a wrong one (the
        // same work, the same failures counted), and argon2 is handed only its first bytes.
        let within_bound = checkable(password);
        let Some(record) = record.filter(|r| !r.user.disabled && within_bound) else {
            self.hasher.verify_dummy(bounded(password)).await;
            return Err(self.fail(&keys, now).await);
        };
        if !self.hasher.verify(password, &record.password_hash).await? {
            return Err(self.fail(&keys, now).await);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Password;
    use crate::fakes::{self, FakeStore};
    use crate::policy::Role;
    use futures_executor::block_on;
    use std::sync::Arc;

    const RIGHT: &str = "saffron lighthouse kettle";

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
        let wrong = block_on(accounts.login("clerk", "not the password", None, "c1"));
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
        // A megabyte that begins with the right password.
        let huge = format!("{RIGHT}{}", "\u{e9}".repeat(512 * 1024));
        store.hashed.lock().unwrap().clear();
        let long = block_on(accounts.login("clerk", &huge, None, "c1"));
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
        assert!(block_on(accounts.login("clerk", RIGHT, None, "c1")).is_ok());
    }

    #[test]
    fn a_password_at_the_bound_is_checked() {
        let (accounts, store) = accounts_with_clerk();
        store.hashed.lock().unwrap().clear();
        let at_bound = "\u{1F511}".repeat(MAX_BYTES / 4);
        let outcome = block_on(accounts.login("clerk", &at_bound, None, "c1"));
        assert!(matches!(outcome, Err(AuthError::InvalidCredentials)));
        assert_eq!(store.count("verify"), 1);
        assert_eq!(store.hashed.lock().unwrap().clone(), vec![MAX_BYTES]);
    }
}
