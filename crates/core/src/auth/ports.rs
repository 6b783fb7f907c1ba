//! What sign-in needs from the outside: a user store, a password hasher and a token signer.

use super::throttle::Throttle;
use super::user::{NewUser, User, UserChange, UserId, UserRecord, Username};
use super::AuthError;
use crate::audit::{AuditContext, AuditLog};
use crate::error::StoreError;
use crate::paging::{Page, PageRequest};
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The claims of an access token (a JWT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// `admin` or `staff`.
    pub role: String,
    /// The username.
    pub name: String,
    /// The user's token epoch when issued; a token from an older epoch is revoked.
    pub tep: i64,
    /// The sign-in (refresh-token family) the token belongs to: when that sign-in ends (logout,
    /// reuse of a spent refresh token, a password change elsewhere), so does the token.
    pub sid: String,
}

/// What a verified access token says: who calls, and (for our own tokens) in which sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub principal: crate::policy::Principal,
    /// `None` for tokens of outside issuers, whose sessions are theirs.
    pub session: Option<Uuid>,
}

/// What the validator needs to know about a user and one of their sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub token_epoch: i64,
    pub disabled: bool,
    /// The sign-in has a refresh token that is neither revoked nor past the session's end.
    pub live: bool,
}

/// A trusted-device token as stored: its digest, never the token.
#[derive(Debug, Clone)]
pub struct NewDeviceToken {
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: &str) -> Result<String, AuthError>;
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError>;
    /// Spends the time of one verification, for sign-ins of users that do not exist.
    async fn verify_dummy(&self, password: &str);
}

#[async_trait]
pub trait TokenSigner: Send + Sync + 'static {
    /// Signs an access token with the current key.
    async fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError>;
    /// A new opaque refresh token: 256 random bits.
    fn new_refresh_token(&self) -> Result<String, AuthError>;
    /// What the store keeps of a refresh token: its digest, never the token.
    fn hash_refresh_token(&self, token: &str) -> String;
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub user_id: UserId,
    /// Every rotation of one sign-in shares a family; reuse of a spent token kills it.
    pub family_id: Uuid,
    pub family_started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live and is now spent.
    Valid {
        user_id: UserId,
        family_id: Uuid,
        family_started_at: DateTime<Utc>,
    },
    /// The token had been spent already: a sign of theft. The store has revoked the family.
    Reused { user_id: UserId, family_id: Uuid },
    /// Unknown, expired or revoked.
    Invalid,
}

/// A stored signing key; the private key is sealed under the key-encryption key.
#[derive(Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// When a newer key took over signing; `None` for the current key.
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("sealed_private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// The audit log is part of the user store: account changes write their entries in their own
/// transaction, and sign-in outcomes theirs right away.
#[async_trait]
pub trait UserStore: IdempotencyStore + AuditLog {
    async fn count_users(&self) -> Result<i64, StoreError>;
    /// `DuplicateName { entity: "user" }` when the username is taken.
    /// Stores the idempotency record, if given, and a `user_created` audit entry of `audit`'s
    /// origin in the same transaction.
    async fn create_user(
        &self,
        user: &NewUser,
        idempotency: Option<&IdempotencyRequest>,
        audit: &AuditContext,
    ) -> Result<User, StoreError>;
    async fn find_user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Ordered by username.
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;
    /// Applies the change, bumps the token epoch and revokes every refresh token of the
    /// user, in one transaction, with an audit entry of `audit`'s origin for each thing that
    /// changed (`role_changed`, `user_disabled`, `user_enabled`, `password_changed`).
    /// `NotFound { entity: "user" }` when missing.
    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        audit: &AuditContext,
    ) -> Result<User, StoreError>;
    /// The user's current token epoch and disabled flag, for validating access tokens.
    async fn token_epoch(&self, id: UserId) -> Result<Option<(i64, bool)>, StoreError>;
    /// The user's epoch and disabled flag, and whether their sign-in `session` is live at
    /// `now`; `None` when the user does not exist.
    async fn session_state(
        &self,
        id: UserId,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionState>, StoreError>;

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError>;
    /// Spends a refresh token atomically: two concurrent uses cannot both be `Valid`.
    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Revokes the family of the token with this hash when the token is `owner`'s; returns
    /// the family it revoked. Someone else's token, or an unknown one, revokes nothing.
    async fn revoke_refresh_family(
        &self,
        token_hash: &str,
        owner: UserId,
    ) -> Result<Option<Uuid>, StoreError>;

    /// The user a live trusted-device token (by digest) was issued to.
    async fn device_token_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError>;
    /// Stores a device token, deleting the one it `replaces` (by digest) and the user's expired
    /// ones.
    async fn insert_device_token(
        &self,
        token: &NewDeviceToken,
        replaces: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Failed sign-ins of a key (`user:<name>` or `client:<address>`) since `since`.
    async fn login_failures(&self, key: &str, since: DateTime<Utc>)
        -> Result<Throttle, StoreError>;
    async fn record_login_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError>;

    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Adds a key, and retires at `retire_others_at` every key that would sign past it: until
    /// then they go on signing while the new key is only published.
    async fn add_signing_key(
        &self,
        key: &StoredSigningKey,
        retire_others_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Adds a key as [`UserStore::add_signing_key`] does, unless a key was created at or after
    /// `created_since`: checked in the same transaction, so that of several processes that
    /// found the newest key too old, one adds a key and the others add none. Whether it added.
    async fn add_signing_key_unless_newer(
        &self,
        key: &StoredSigningKey,
        retire_others_at: DateTime<Utc>,
        created_since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// A version of a signing key kept outside the process (a Vault transit key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKeyVersion {
    pub version: u64,
    pub created_at: DateTime<Utc>,
    /// The raw Ed25519 public key.
    pub public_key: Vec<u8>,
}

/// A signing key whose private half never enters the process: another service (Vault's
/// transit engine) signs with it, and rotates it.
#[async_trait]
pub trait RemoteSigningKey: Send + Sync + 'static {
    /// Its versions that can still sign and verify, oldest first.
    async fn versions(&self) -> Result<Vec<RemoteKeyVersion>, AuthError>;
    /// `message` signed (Ed25519) by version `version`.
    async fn sign(&self, version: u64, message: &[u8]) -> Result<Vec<u8>, AuthError>;
    /// Where the key is, for messages (`vault-transit:transit/bookstore`).
    fn describe(&self) -> String;
}

/// How many sealed values a re-sealing sealed again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub signing_keys: usize,
    /// Webhook secrets, the current and the previous ones.
    pub webhook_secrets: usize,
}

/// Seals one value again: gets the sealed value and its context (a key id, a webhook
/// secret's context), returns it sealed under the new key.
pub type Reseal<'a> = dyn Fn(&[u8], &str) -> Result<Vec<u8>, AuthError> + Send + Sync + 'a;

/// What is sealed under the key-encryption key, for its rotation.
#[async_trait]
pub trait SealedStore: Send + Sync + 'static {
    /// Every sealed value (signing keys, webhook secrets) through `reseal`, in one
    /// transaction that also holds off concurrent key rotations and secret changes: all are
    /// sealed again, or (when one fails) none.
    async fn reseal_all(&self, reseal: &Reseal<'_>) -> Result<Resealed, AuthError>;
}

/// Checks access tokens on every request.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The caller the token speaks for, or `AuthError::InvalidToken` saying why not.
    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError>;
    /// Drops what is cached about a user, after a change that revokes their tokens.
    fn forget(&self, user: UserId);
    /// Drops what is cached about a sign-in, after it was revoked.
    fn forget_session(&self, session: Uuid);
    /// The public keys, as a JSON Web Key Set.
    fn jwks(&self) -> serde_json::Value;
}
