//! Row types of the user store (every field decodes in SQLite and PostgreSQL) and their
//! conversion into domain values.

use crate::error::corrupt;
use crate::time::DbTime;
use bookstore_core::auth::ports::StoredSigningKey;
use bookstore_core::auth::{User, UserId, UserRecord, Username};
use bookstore_core::{Role, StoreError};
use uuid::Uuid;

/// A user without the password hash.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) username: String,
    role: String,
    disabled: bool,
    token_epoch: i64,
    created_at: DbTime,
    updated_at: DbTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let username = Username::parse(&row.username).map_err(|e| corrupt("username", e))?;
        let role = Role::parse(&row.role).ok_or_else(|| corrupt("user role", &row.role))?;
        Ok(User {
            id: UserId::from_uuid(row.id),
            username,
            role,
            disabled: row.disabled,
            token_epoch: row.token_epoch,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// A user with the password hash. Deliberately not `Debug`.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRecordRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

impl TryFrom<UserRecordRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRecordRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            user: row.user.try_into()?,
            password_hash: row.password_hash,
        })
    }
}

/// A refresh token as [`super::sql::REFRESH_USE`] returns it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SpentTokenRow {
    pub(crate) user_id: Uuid,
    pub(crate) family_id: Uuid,
    pub(crate) family_started_at: DbTime,
}

/// A refresh token as [`super::sql::REFRESH_LOOKUP`] returns it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenStateRow {
    pub(crate) user_id: Uuid,
    pub(crate) family_id: Uuid,
    pub(crate) used_at: Option<DbTime>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    sealed_private_key: Vec<u8>,
    created_at: DbTime,
    retired_at: Option<DbTime>,
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(row: SigningKeyRow) -> Self {
        StoredSigningKey {
            kid: row.kid,
            algorithm: row.algorithm,
            public_key: row.public_key,
            sealed_private_key: row.sealed_private_key,
            created_at: row.created_at.0,
            retired_at: row.retired_at.map(|t| t.0),
        }
    }
}
