//! Staff accounts and sign-in: users, password rules, the brute-force curve, token claims and
//! the ports that the store and the crypto adapter implement.

pub mod accounts;
pub mod password;
pub mod ports;
pub mod signin;
pub mod throttle;
pub mod user;

pub use accounts::{Accounts, AuthConfig, LoginOutcome, TokenPair, UserEdit};
pub use password::{Password, PasswordError};
pub use ports::{
    AccessClaims, NewDeviceToken, NewRefreshToken, PasswordHasher, RefreshOutcome,
    RemoteKeyVersion, RemoteSigningKey, Reseal, Resealed, SealedStore, SessionState,
    StoredSigningKey, TokenSigner, TokenVerifier, UserStore, VerifiedToken,
};
pub use throttle::Throttle;
pub use user::{NewUser, User, UserChange, UserId, UserRecord, Username, UsernameError};

use thiserror::Error;

/// How long clients may cache our JWKS (`Cache-Control: max-age`), in seconds. A rotated key is
/// published at least this long before it signs.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

#[derive(Debug, Error)]
pub enum AuthError {
    /// Wrong username or password, or a disabled account: one answer for all, so that a
    /// caller cannot tell which.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    /// A spent refresh token came back: likely stolen. Its family is revoked; answer like
    /// `InvalidRefreshToken`, but log it as a security event.
    #[error("the refresh token is invalid, expired or already used")]
    RefreshTokenReused {
        user_id: user::UserId,
        family_id: uuid::Uuid,
    },
    #[error("the token is invalid: {0}")]
    InvalidToken(String),
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("invalid input: {0}")]
    Validation(crate::validation::ValidationErrors),
    #[error("not allowed to manage users")]
    Forbidden,
    #[error("{0}")]
    Conflict(String),
    #[error("user not found")]
    UserNotFound,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
    #[error("cryptography failed: {0}")]
    Crypto(String),
}

impl From<crate::idempotency::KeyReused> for AuthError {
    fn from(_: crate::idempotency::KeyReused) -> Self {
        Self::IdempotencyKeyReused
    }
}
