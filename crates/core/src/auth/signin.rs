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
use super::ports::NewDeviceToken;
use super::throttle::WINDOW;
use super::user::{UserRecord, Username};
use super::AuthError;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A device that has not signed in for this long is a stranger again.
pub const DEVICE_TOKEN_LIFETIME: Duration = Duration::days(90);

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

    /// Signs a user in. Unknown users, wrong passwords and disabled accounts all get
    /// `InvalidCredentials` after the same amount of hashing work. A name that does not parse
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
        let Some(record) = record.filter(|r| !r.user.disabled) else {
            self.hasher.verify_dummy(password).await;
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
