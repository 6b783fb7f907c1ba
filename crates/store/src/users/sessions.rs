//! Sign-ins: each is a family of refresh tokens, one spent for the next.
//!
//! - Spending one is a single conditional `UPDATE … RETURNING`: of two concurrent uses of a
//!   live token exactly one is `Valid`.
//! - A family is revoked as soon as any of its tokens is (by reuse, logout or a change of the
//!   user), and stays revoked: a token inserted into a revoked family is born revoked. This
//!   closes the race in which a refresh spends its token, the family is then revoked (a thief
//!   replaying the token, a logout, an admin disabling the user), and the refresh goes on to
//!   insert the rotated token.
//! - Inserting a token forgets the user's expired ones: they can neither be used nor revoke
//!   anything any more, and the table stays as large as the live sign-ins.

use super::rows::{SpentTokenRow, TokenStateRow};
use super::{begin_token_write, begin_write, lock_user, sql, Conn, UserDialect};
use crate::catalog::Dialect;
use crate::error::backend;
use crate::time::{self, DbTime};
use bookstore_core::auth::ports::{NewRefreshToken, RefreshOutcome, SessionState};
use bookstore_core::auth::UserId;
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The user's token epoch and disabled flag, and whether the sign-in `session` is live.
pub(crate) async fn session_state<D: Dialect>(
    store: &D,
    id: UserId,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<SessionState>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64, bool, bool): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<(i64, bool, bool)> = sqlx::query_as(sql::SESSION_STATE)
        .bind(id.as_uuid())
        .bind(session)
        .bind(DbTime(now))
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)?;
    Ok(row.map(|(token_epoch, disabled, live)| SessionState {
        token_epoch,
        disabled,
        live,
    }))
}

pub(crate) async fn token_epoch<D: Dialect>(
    store: &D,
    id: UserId,
) -> Result<Option<(i64, bool)>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64, bool): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query_as(sql::USER_TOKEN_EPOCH)
        .bind(id.as_uuid())
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)
}

/// One attempt at storing a new refresh token: revoked at once if its family is.
pub(crate) async fn insert_refresh_token<D: UserDialect>(
    store: &D,
    token: &NewRefreshToken,
) -> Result<(), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<DbTime>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let user_id = token.user_id.as_uuid();
    let mut tx = begin_token_write(store, user_id, sql::REFRESH_PRUNE_EXPIRED, now).await?;
    let revoked: i64 = sqlx::query_scalar(sql::FAMILY_REVOKED_COUNT)
        .bind(token.family_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    if revoked > 0 {
        tracing::info!(
            family = %token.family_id,
            "refresh token joins a revoked family: stored revoked"
        );
    }
    sqlx::query(sql::REFRESH_INSERT)
        .bind(token.token_hash.as_str())
        .bind(user_id)
        .bind(token.family_id)
        .bind(DbTime(token.family_started_at))
        .bind(DbTime(token.expires_at))
        .bind((revoked > 0).then_some(DbTime(now)))
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

/// One attempt at spending a refresh token; a spent one presented again revokes its family.
pub(crate) async fn use_refresh_token<D: UserDialect>(
    store: &D,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<RefreshOutcome, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    SpentTokenRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    TokenStateRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let spent: Option<SpentTokenRow> = sqlx::query_as(sql::REFRESH_USE)
        .bind(token_hash)
        .bind(DbTime(now))
        .fetch_optional(store.writer())
        .await
        .map_err(backend)?;
    if let Some(spent) = spent {
        return Ok(RefreshOutcome::Valid {
            user_id: UserId::from_uuid(spent.user_id),
            family_id: spent.family_id,
            family_started_at: spent.family_started_at.0,
        });
    }
    // Not live. `used_at` never goes back to NULL, so a token seen used here was spent
    // before: a replay.
    match token_state(store, token_hash).await? {
        Some(TokenStateRow {
            user_id,
            family_id,
            used_at: Some(_),
        }) => {
            revoke_family(store, user_id, family_id, now).await?;
            Ok(RefreshOutcome::Reused {
                user_id: UserId::from_uuid(user_id),
                family_id,
            })
        }
        // Unknown, expired or revoked (by logout, a change of the user or the reuse of
        // another token of the family).
        _ => Ok(RefreshOutcome::Invalid),
    }
}

/// One attempt at ending the sign-in of the token, if it is `owner`'s; its family id.
pub(crate) async fn revoke_refresh_family<D: UserDialect>(
    store: &D,
    token_hash: &str,
    owner: UserId,
) -> Result<Option<Uuid>, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    TokenStateRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let Some(state) = token_state(store, token_hash).await? else {
        return Ok(None);
    };
    if state.user_id != owner.as_uuid() {
        return Ok(None);
    }
    revoke_family(store, state.user_id, state.family_id, time::now()).await?;
    Ok(Some(state.family_id))
}

async fn token_state<D: Dialect>(
    store: &D,
    token_hash: &str,
) -> Result<Option<TokenStateRow>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    TokenStateRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query_as(sql::REFRESH_LOOKUP)
        .bind(token_hash)
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)
}

/// Revokes every token of a family not revoked yet, in a transaction of its own.
async fn revoke_family<D: UserDialect>(
    store: &D,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut tx = begin_write(store).await?;
    lock_user::<D>(&mut *tx, user_id).await?;
    sqlx::query(sql::FAMILY_REVOKE)
        .bind(family_id)
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await.map_err(backend)
}
