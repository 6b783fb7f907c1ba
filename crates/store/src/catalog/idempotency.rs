//! Idempotency records: stored with what a create made, in its transaction; found again by a
//! retry of the same request.

use super::Dialect;
use crate::error::{backend, is_unique_violation};
use crate::rows::IdempotencyRow;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::{IdempotencyRecord, IdempotencyRequest, StoreError, IDEMPOTENCY_KEY_TTL_SECS};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

/// Stores what a create made under its idempotency key, in the create's transaction,
/// forgetting expired keys on the way (this one's, and a batch of others).
/// `IdempotencyKeyTaken` when a concurrent request holds the key.
pub(crate) async fn store_idempotency<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    request: &IdempotencyRequest,
    response: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let expired = DbTime(now - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS));
    sqlx::query(sql::IDEMPOTENCY_FORGET)
        .bind(&request.scope)
        .bind(&request.key)
        .bind(expired)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    sqlx::query(D::PRUNE_IDEMPOTENCY)
        .bind(expired)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let stored = sqlx::query(sql::IDEMPOTENCY_INSERT)
        .bind(&request.scope)
        .bind(&request.key)
        .bind(&request.fingerprint)
        .bind(Json(response))
        .bind(DbTime(now))
        .execute(&mut *conn)
        .await;
    match stored {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Err(StoreError::IdempotencyKeyTaken),
        Err(err) => Err(backend(err)),
    }
}

/// The record of `key` in `scope`, unless it has expired.
pub(crate) async fn find_idempotency_record<D: Dialect>(
    store: &D,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    IdempotencyRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let since = time::now() - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS);
    let row: Option<IdempotencyRow> = sqlx::query_as(sql::IDEMPOTENCY_SELECT)
        .bind(scope)
        .bind(key)
        .bind(DbTime(since))
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)?;
    Ok(row.map(|row| IdempotencyRecord {
        fingerprint: row.fingerprint,
        response: row.response.0,
    }))
}

/// The idempotency port of `$store`: a trait of another crate cannot be implemented for every
/// `Dialect` at once, so each store says it here. (The user store's creates call
/// [`store_idempotency`] themselves.)
macro_rules! impl_idempotency {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl IdempotencyStore for $store {
            #[tracing::instrument(skip_all)]
            async fn find_idempotency_record(
                &self,
                scope: &str,
                key: &str,
            ) -> Result<Option<IdempotencyRecord>, StoreError> {
                $crate::catalog::idempotency::find_idempotency_record(self, scope, key).await
            }
        }
    };
}
pub(crate) use impl_idempotency;
