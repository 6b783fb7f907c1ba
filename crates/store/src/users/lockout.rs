//! Failed sign-ins, by throttle key (an account, a client address or a trusted device): what
//! the brute-force curve (`bookstore_core::auth::throttle`) counts.

use super::{begin_write, sql, Conn, UserDialect};
use crate::catalog::Dialect;
use crate::error::backend;
use crate::time::DbTime;
use bookstore_core::auth::throttle::{Throttle, WINDOW};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

/// The failures of `key` since `since`, and the last one's time.
pub(crate) async fn login_failures<D: Dialect>(
    store: &D,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Throttle, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64, Option<DbTime>): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let (failures, last): (i64, Option<DbTime>) = sqlx::query_as(sql::LOGIN_FAILURE_COUNT)
        .bind(key)
        .bind(DbTime(since))
        .fetch_one(store.primary_reader())
        .await
        .map_err(backend)?;
    Ok(Throttle {
        failures,
        last_failure: last.map(|t| t.0),
    })
}

/// One attempt at recording a failure of `key`, forgetting a batch of failures too old to
/// count (of any key) on the way.
pub(crate) async fn record_login_failure<D: UserDialect>(
    store: &D,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut tx = begin_write(store).await?;
    sqlx::query(D::PRUNE_LOGIN_FAILURES)
        .bind(DbTime(at - WINDOW))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(sql::LOGIN_FAILURE_INSERT)
        .bind(key)
        .bind(DbTime(at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

/// One attempt at forgetting every failure of `key`.
pub(crate) async fn clear_login_failures<D: Dialect>(store: &D, key: &str) -> Result<(), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query(sql::LOGIN_FAILURES_CLEAR)
        .bind(key)
        .execute(store.writer())
        .await
        .map_err(backend)?;
    Ok(())
}
