//! The one implementation of [`UserStore`](bookstore_core::auth::UserStore), one file per
//! concern, each a set of functions generic over [`UserDialect`] (like the catalog,
//! `crate::catalog`): accounts (`accounts.rs`), sign-ins and their refresh tokens
//! (`sessions.rs`), trusted devices (`devices.rs`), failed sign-ins (`lockout.rs`) and signing
//! keys (`keys.rs`). The SQL is shared (`sql.rs`); what differs between the databases is behind
//! [`Dialect`] and [`UserDialect`]. [`impl_user_store!`] only says the port for each store: a
//! trait of another crate cannot be implemented for every `UserDialect` at once.
//!
//! Every write runs in [`retrying`](crate::retry::retrying), like the catalog's: a transaction
//! that PostgreSQL aborted for a concurrent one (40001, 40P01) is run again.
//!
//! Every write that revokes or inserts tokens first locks the user's row ([`lock_user`], on
//! PostgreSQL; SQLite has one writer), so that it sees every token committed before it, and
//! locks in one order (user, then tokens).

pub(crate) mod accounts;
pub(crate) mod devices;
pub(crate) mod keys;
pub(crate) mod lockout;
pub(crate) mod rows;
pub(crate) mod sessions;
pub(crate) mod sql;

use crate::catalog::Dialect;
use crate::error::backend;
use crate::time::DbTime;
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Transaction, Type};
use uuid::Uuid;

/// What a database contributes to the user store, besides [`Dialect`].
pub(crate) trait UserDialect: Dialect {
    /// `SELECT id FROM users WHERE id = $1`, locking the row until the end of the transaction
    /// where the database has row locks.
    const LOCK_USER: &'static str;

    /// Serialises signing-key rotations, so that two concurrent ones cannot leave two current
    /// keys. `None` where writers are serialised anyway.
    const LOCK_SIGNING_KEYS: Option<&'static str>;

    /// Deletes a bounded batch of failed sign-ins older than `$1` (of any key).
    const PRUNE_LOGIN_FAILURES: &'static str;
}

/// A connection of the store `D`'s database.
pub(crate) type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// Opens a write transaction.
pub(crate) async fn begin_write<D: Dialect>(
    store: &D,
) -> Result<Transaction<'static, D::Db>, StoreError> {
    crate::meter::acquired(
        crate::meter::WRITES,
        store.writer().begin_with(D::BEGIN_WRITE),
    )
    .await
    .map_err(backend)
}

/// Locks the user's row until the end of the transaction; whether the user exists.
pub(crate) async fn lock_user<D: UserDialect>(
    conn: &mut Conn<D>,
    user_id: Uuid,
) -> Result<bool, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let found: Option<Uuid> = sqlx::query_scalar(D::LOCK_USER)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(found.is_some())
}

/// Opens the write transaction of a new token of the user: locks the user's row (`NotFound`
/// if there is no such user), then forgets the user's expired tokens that `prune` deletes
/// (`$1` the user, `$2` now).
pub(crate) async fn begin_token_write<D: UserDialect>(
    store: &D,
    user_id: Uuid,
    prune: &'static str,
    now: DateTime<Utc>,
) -> Result<Transaction<'static, D::Db>, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut tx = begin_write(store).await?;
    if !lock_user::<D>(&mut *tx, user_id).await? {
        return Err(StoreError::NotFound { entity: "user" });
    }
    sqlx::query(prune)
        .bind(user_id)
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(tx)
}

/// Implements [`UserStore`](bookstore_core::auth::UserStore) for `$store`, a [`UserDialect`]:
/// each method hands over to its concern's function, writes through
/// [`retrying`](crate::retry::retrying).
macro_rules! impl_user_store {
    ($store:ty) => {
        const _: () = {
            use bookstore_core::audit::AuditContext;
            use bookstore_core::auth::ports::{
                NewDeviceToken, NewRefreshToken, RefreshOutcome, SessionState, StoredSigningKey,
            };
            use bookstore_core::auth::{
                NewUser, Throttle, User, UserChange, UserId, UserRecord, UserStore, Username,
            };
            use bookstore_core::{IdempotencyRequest, Page, PageRequest, StoreError};
            use chrono::{DateTime, Utc};
            use uuid::Uuid;
            use $crate::retry::retrying;
            use $crate::users::{accounts, devices, keys, lockout, sessions};

            #[async_trait::async_trait]
            impl UserStore for $store {
                #[tracing::instrument(skip_all)]
                async fn count_users(&self) -> Result<i64, StoreError> {
                    accounts::count_users(self).await
                }

                #[tracing::instrument(skip_all)]
                async fn create_user(
                    &self,
                    user: &NewUser,
                    idempotency: Option<&IdempotencyRequest>,
                    audit: &AuditContext,
                ) -> Result<User, StoreError> {
                    retrying(|| accounts::create_user(self, user, idempotency, audit)).await
                }

                #[tracing::instrument(skip_all)]
                async fn find_user_by_username(
                    &self,
                    username: &Username,
                ) -> Result<Option<UserRecord>, StoreError> {
                    accounts::find_by_username(self, username).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
                    accounts::find_by_id(self, id).await
                }

                #[tracing::instrument(skip_all)]
                async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
                    accounts::list_users(self, page).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_user(
                    &self,
                    id: UserId,
                    change: &UserChange,
                    audit: &AuditContext,
                ) -> Result<User, StoreError> {
                    retrying(|| accounts::update_user(self, id, change, audit)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn session_state(
                    &self,
                    id: UserId,
                    session: Uuid,
                    now: DateTime<Utc>,
                ) -> Result<Option<SessionState>, StoreError> {
                    sessions::session_state(self, id, session, now).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn token_epoch(&self, id: UserId) -> Result<Option<(i64, bool)>, StoreError> {
                    sessions::token_epoch(self, id).await
                }

                #[tracing::instrument(skip_all, fields(user = %token.user_id))]
                async fn insert_refresh_token(
                    &self,
                    token: &NewRefreshToken,
                ) -> Result<(), StoreError> {
                    retrying(|| sessions::insert_refresh_token(self, token)).await
                }

                #[tracing::instrument(skip_all)]
                async fn use_refresh_token(
                    &self,
                    token_hash: &str,
                    now: DateTime<Utc>,
                ) -> Result<RefreshOutcome, StoreError> {
                    // Run again whole: a token spent by an attempt that then failed is seen
                    // spent, and its family revoked, by the next (revoking twice is harmless).
                    retrying(|| sessions::use_refresh_token(self, token_hash, now)).await
                }

                #[tracing::instrument(skip_all, fields(owner = %owner))]
                async fn revoke_refresh_family(
                    &self,
                    token_hash: &str,
                    owner: UserId,
                ) -> Result<Option<Uuid>, StoreError> {
                    retrying(|| sessions::revoke_refresh_family(self, token_hash, owner)).await
                }

                #[tracing::instrument(skip_all)]
                async fn device_token_user(
                    &self,
                    token_hash: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<UserId>, StoreError> {
                    devices::device_token_user(self, token_hash, now).await
                }

                #[tracing::instrument(skip_all, fields(user = %token.user_id))]
                async fn insert_device_token(
                    &self,
                    token: &NewDeviceToken,
                    replaces: Option<&str>,
                ) -> Result<(), StoreError> {
                    retrying(|| devices::insert_device_token(self, token, replaces)).await
                }

                #[tracing::instrument(skip_all)]
                async fn login_failures(
                    &self,
                    key: &str,
                    since: DateTime<Utc>,
                ) -> Result<Throttle, StoreError> {
                    lockout::login_failures(self, key, since).await
                }

                #[tracing::instrument(skip_all)]
                async fn record_login_failure(
                    &self,
                    key: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    retrying(|| lockout::record_login_failure(self, key, at)).await
                }

                #[tracing::instrument(skip_all)]
                async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
                    retrying(|| lockout::clear_login_failures(self, key)).await
                }

                #[tracing::instrument(skip_all)]
                async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
                    keys::signing_keys(self).await
                }

                #[tracing::instrument(skip_all, fields(kid = %key.kid))]
                async fn add_signing_key(
                    &self,
                    key: &StoredSigningKey,
                    retire_others_at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    retrying(|| keys::add_signing_key(self, key, retire_others_at, None))
                        .await
                        .map(|_| ())
                }

                #[tracing::instrument(skip_all, fields(kid = %key.kid))]
                async fn add_signing_key_unless_newer(
                    &self,
                    key: &StoredSigningKey,
                    retire_others_at: DateTime<Utc>,
                    created_since: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    retrying(|| {
                        keys::add_signing_key(self, key, retire_others_at, Some(created_since))
                    })
                    .await
                }
            }
        };
    };
}

pub(crate) use impl_user_store;
