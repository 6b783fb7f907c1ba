//! Token-signing keys: the public key and the sealed private key of each, and the time it
//! stops signing. A new key retires the others at a given time (see
//! `bookstore_core::auth::ports::UserStore::add_signing_key`).

use super::rows::SigningKeyRow;
use super::{begin_write, sql, Conn, UserDialect};
use crate::catalog::Dialect;
use crate::error::{backend, duplicate_name};
use crate::time::DbTime;
use bookstore_core::auth::ports::StoredSigningKey;
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

/// Every key, newest first.
pub(crate) async fn signing_keys<D: Dialect>(store: &D) -> Result<Vec<StoredSigningKey>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    SigningKeyRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
{
    let rows: Vec<SigningKeyRow> = sqlx::query_as(sql::SIGNING_KEYS_SELECT)
        .fetch_all(store.primary_reader())
        .await
        .map_err(backend)?;
    Ok(rows.into_iter().map(StoredSigningKey::from).collect())
}

/// One attempt at adding a key, retiring every other one at `retire_others_at`; with
/// `unless_created_since`, only if no key was created at or after that time (a scheduled
/// rotation: the check and the insert in one transaction, under the rotations' lock, so that
/// of several replicas finding the newest key too old exactly one rotates). Whether it added.
pub(crate) async fn add_signing_key<D: UserDialect>(
    store: &D,
    key: &StoredSigningKey,
    retire_others_at: DateTime<Utc>,
    unless_created_since: Option<DateTime<Utc>>,
) -> Result<bool, StoreError>
where
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<DbTime>: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut tx = begin_write(store).await?;
    if let Some(lock) = D::LOCK_SIGNING_KEYS {
        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
    }
    if let Some(since) = unless_created_since {
        let newer: i64 = sqlx::query_scalar(sql::SIGNING_KEYS_CREATED_SINCE)
            .bind(DbTime(since))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if newer > 0 {
            return Ok(false);
        }
    }
    sqlx::query(sql::SIGNING_KEYS_RETIRE)
        .bind(DbTime(retire_others_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(sql::SIGNING_KEY_INSERT)
        .bind(key.kid.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.public_key.as_slice())
        .bind(key.sealed_private_key.as_slice())
        .bind(DbTime(key.created_at))
        .bind(key.retired_at.map(DbTime))
        .execute(&mut *tx)
        .await
        .map_err(|err| duplicate_name(err, "signing key", &key.kid))?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}
