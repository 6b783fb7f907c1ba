//! The sign-in and token series, recorded by the routes and the authentication layer.

use super::catalog::{LOCKOUTS, REFRESH_REUSE, SIGN_INS, TOKEN_VALIDATIONS};
use bookstore_core::auth::{AuthError, VerifiedToken};

/// Counts a sign-in by its outcome; a refusal for a lock-out also as a lockout.
pub fn sign_in<T>(outcome: &Result<T, AuthError>) {
    let label = match outcome {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::Throttled { .. }) => {
            metrics::counter!(LOCKOUTS).increment(1);
            "locked_out"
        }
        Err(_) => "error",
    };
    metrics::counter!(SIGN_INS, "outcome" => label).increment(1);
}

pub fn refresh_token_reused() {
    metrics::counter!(REFRESH_REUSE).increment(1);
}

/// Counts an access-token check: valid, invalid (any reason: the reasons stay in the log), or
/// error (the check itself failed: the store was unreachable).
pub fn token_validated(outcome: &Result<VerifiedToken, AuthError>) {
    let label = match outcome {
        Ok(_) => VALID,
        Err(AuthError::InvalidToken(_)) => "invalid",
        Err(_) => "error",
    };
    metrics::counter!(TOKEN_VALIDATIONS, "outcome" => label).increment(1);
}

const VALID: &str = "valid";

/// [`token_validated`] of a token that verified.
pub fn token_valid() {
    metrics::counter!(TOKEN_VALIDATIONS, "outcome" => VALID).increment(1);
}
