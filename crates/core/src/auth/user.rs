//! Users: the staff who sign in.

use crate::policy::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

pub use crate::ids::UserId;

/// A login name: 3 to 64 characters of lowercase letters, digits and `._@-`. Case is folded,
/// so "Alice" and "alice" are one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsernameError {
    #[error("must be 3 to 64 characters")]
    Length,
    #[error("may contain only letters a-z, digits and . _ @ -")]
    Character,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let trimmed = raw.trim();
        // Longer than any valid name (each character folds to at most one of 3 bytes): refused
        // before any copy is made of it.
        if trimmed.len() > 64 * 3 {
            return Err(UsernameError::Length);
        }
        let folded = trimmed.to_lowercase();
        if !(3..=64).contains(&folded.chars().count()) {
            return Err(UsernameError::Length);
        }
        if !folded
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@-".contains(&b))
        {
            return Err(UsernameError::Character);
        }
        Ok(Self(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialisable for the idempotency record of its create (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub role: Role,
    pub disabled: bool,
    /// Bumped whenever the role, the password or the disabled flag changes: access tokens
    /// carry the epoch they were issued in and stop working when it moves on.
    pub token_epoch: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user with the stored password hash, for sign-in only; never leaves the auth use cases.
#[derive(Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub username: Username,
    pub role: Role,
    pub password_hash: String,
}

/// What an update changes; `None` leaves a field as it is. A change that matters (another
/// role, another disabled flag, a new password) bumps the token epoch and revokes the user's
/// refresh tokens; the same values again change nothing and revoke nothing.
#[derive(Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// The sign-in that made the change, when users change their own password: it survives
    /// (its access token included, so the epoch stays), every other sign-in ends.
    pub keep_session: Option<uuid::Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        assert_eq!(Username::parse(" Alice ").map(|u| u.0), Ok("alice".into()));
        assert_eq!(Username::parse("al"), Err(UsernameError::Length));
        assert_eq!(Username::parse("al ice"), Err(UsernameError::Character));
        assert_eq!(Username::parse("ålice"), Err(UsernameError::Character));
        assert!(Username::parse("shop.manager@north-1").is_ok());
    }
}
