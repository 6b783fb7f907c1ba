//! Trusted devices: clients that have signed in to an account before, known by the digest of
//! the device token they were given (see `bookstore_core::auth::signin`). A new password
//! forgets them (`accounts.rs`).

use super::{begin_token_write, sql, Conn, UserDialect};
use crate::catalog::Dialect;
use crate::error::backend;
use crate::time::{self, DbTime};
use bookstore_core::auth::ports::NewDeviceToken;
use bookstore_core::auth::UserId;
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The user whose live device token has this digest.
pub(crate) async fn device_token_user<D: Dialect>(
    store: &D,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserId>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let user: Option<Uuid> = sqlx::query_scalar(sql::DEVICE_USER)
        .bind(token_hash)
        .bind(DbTime(now))
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)?;
    Ok(user.map(UserId::from_uuid))
}

/// One attempt at trusting a device: stores the new token (replacing the one it was given
/// before, if any) and forgets the user's expired ones.
pub(crate) async fn insert_device_token<D: UserDialect>(
    store: &D,
    token: &NewDeviceToken,
    replaces: Option<&str>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let user_id = token.user_id.as_uuid();
    let mut tx = begin_token_write(store, user_id, sql::DEVICE_PRUNE_EXPIRED, now).await?;
    if let Some(old) = replaces {
        sqlx::query(sql::DEVICE_DELETE)
            .bind(old)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    sqlx::query(sql::DEVICE_INSERT)
        .bind(token.token_hash.as_str())
        .bind(user_id)
        .bind(DbTime(now))
        .bind(DbTime(token.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}
