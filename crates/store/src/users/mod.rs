//! The one implementation of [`UserStore`](bookstore_core::auth::UserStore), written once and
//! expanded for each database by [`impl_user_store!`], like the catalog (`crate::catalog`). The
//! SQL is shared (`sql.rs`); what differs between the databases is behind [`Dialect`] and
//! [`UserDialect`].
//!
//! Refresh tokens:
//!
//! - Spending one is a single conditional `UPDATE … RETURNING`: of two concurrent uses of a
//!   live token exactly one is `Valid`.
//! - A family is revoked as soon as any of its tokens is (by reuse, logout or a change of the
//!   user), and stays revoked: a token inserted into a revoked family is born revoked. This
//!   closes the race in which a refresh spends its token, the family is then revoked (a thief
//!   replaying the token, a logout, an admin disabling the user), and the refresh goes on to
//!   insert the rotated token.
//! - Every write that revokes or inserts tokens first locks the user's row (PostgreSQL; SQLite
//!   has one writer), so that it sees every token committed before it, and locks in one order
//!   (user, then tokens).
//! - Inserting a token forgets the user's expired ones: they can neither be used nor revoke
//!   anything any more, and the table stays as large as the live sign-ins.

pub(crate) mod rows;
pub(crate) mod sql;

use crate::catalog::Dialect;

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

/// Implements [`UserStore`](bookstore_core::auth::UserStore) for `$store`, a [`UserDialect`]
/// whose database is `$db`.
macro_rules! impl_user_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::auth::ports::{
                NewDeviceToken, NewRefreshToken, RefreshOutcome, SessionState, StoredSigningKey,
            };
            use bookstore_core::auth::throttle::{Throttle, WINDOW};
            use bookstore_core::auth::{
                NewUser, User, UserChange, UserId, UserRecord, UserStore, Username,
            };
            use bookstore_core::{IdempotencyRequest, Page, PageRequest, StoreError};
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Transaction};
            use uuid::Uuid;
            use $crate::catalog::{into_page, Dialect};
            use $crate::cursor;
            use $crate::error::{backend, is_unique_violation};
            use $crate::time::{self, DbTime};
            use $crate::users::rows::{
                SigningKeyRow, SpentTokenRow, TokenStateRow, UserRecordRow, UserRow,
            };
            use $crate::users::sql;
            use $crate::users::UserDialect;

            type Conn = <$db as sqlx::Database>::Connection;

            async fn begin_write(store: &$store) -> Result<Transaction<'static, $db>, StoreError> {
                store
                    .writer()
                    .begin_with(<$store as Dialect>::BEGIN_WRITE)
                    .await
                    .map_err(backend)
            }

            /// Locks the user's row; whether the user exists.
            async fn lock_user(conn: &mut Conn, user_id: Uuid) -> Result<bool, StoreError> {
                let found: Option<Uuid> = sqlx::query_scalar(<$store as UserDialect>::LOCK_USER)
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(found.is_some())
            }

            /// Revokes every token of a family not revoked yet, in a transaction of its own.
            async fn revoke_family(
                store: &$store,
                user_id: Uuid,
                family_id: Uuid,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = begin_write(store).await?;
                lock_user(&mut tx, user_id).await?;
                sqlx::query(sql::FAMILY_REVOKE)
                    .bind(family_id)
                    .bind(DbTime(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)
            }

            async fn token_state(
                store: &$store,
                token_hash: &str,
            ) -> Result<Option<TokenStateRow>, StoreError> {
                sqlx::query_as(sql::REFRESH_LOOKUP)
                    .bind(token_hash)
                    .fetch_optional(store.reader())
                    .await
                    .map_err(backend)
            }

            #[async_trait::async_trait]
            impl UserStore for $store {
                #[tracing::instrument(skip_all)]
                async fn count_users(&self) -> Result<i64, StoreError> {
                    sqlx::query_scalar(sql::USER_COUNT)
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)
                }

                #[tracing::instrument(skip_all)]
                async fn create_user(
                    &self,
                    user: &NewUser,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<User, StoreError> {
                    let now = time::now();
                    let id = UserId::generate();
                    let mut tx = begin_write(self).await?;
                    let inserted = sqlx::query(sql::USER_INSERT)
                        .bind(id.as_uuid())
                        .bind(user.username.as_str())
                        .bind(user.role.as_str())
                        .bind(user.password_hash.as_str())
                        .bind(false)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(err) if is_unique_violation(&err) => {
                            return Err(StoreError::DuplicateName {
                                entity: "user",
                                name: user.username.to_string(),
                            })
                        }
                        Err(err) => return Err(backend(err)),
                    }
                    let created = User {
                        id,
                        username: user.username.clone(),
                        role: user.role,
                        disabled: false,
                        token_epoch: 1,
                        created_at: now,
                        updated_at: now,
                    };
                    // The record commits with the user: a retried create finds one or the other
                    // of both, never only one.
                    if let Some(request) = idempotency {
                        let response =
                            serde_json::to_value(&created).map_err(StoreError::backend)?;
                        <$store>::store_idempotency(&mut tx, request, &response, now).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(created)
                }

                #[tracing::instrument(skip_all)]
                async fn find_user_by_username(
                    &self,
                    username: &Username,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let row: Option<UserRecordRow> = sqlx::query_as(sql::RECORD_BY_USERNAME)
                        .bind(username.as_str())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(UserRecord::try_from).transpose()
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
                    let row: Option<UserRecordRow> = sqlx::query_as(sql::RECORD_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(UserRecord::try_from).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
                    const LIST: &str = "users";
                    let after = match page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_keyed(LIST, c)?),
                        None => None,
                    };
                    let mut select = QueryBuilder::<$db>::new(sql::USER_SELECT);
                    if let Some((username, id)) = after {
                        select
                            .push(" WHERE (username, id) > (")
                            .push_bind(username)
                            .push(", ")
                            .push_bind(id)
                            .push(")");
                    }
                    select
                        .push(" ORDER BY username, id LIMIT ")
                        .push_bind(i64::from(page.limit.get()) + 1);
                    let rows: Vec<UserRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_keyed(LIST, &last.username, last.id),
                        User::try_from,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_user(
                    &self,
                    id: UserId,
                    change: &UserChange,
                ) -> Result<User, StoreError> {
                    let now = time::now();
                    let mut tx = begin_write(self).await?;
                    // Locks the user's row first, as every token write does.
                    if !lock_user(&mut tx, id.as_uuid()).await? {
                        return Err(StoreError::NotFound { entity: "user" });
                    }
                    let (role, disabled): (String, bool) = sqlx::query_as(sql::USER_CHANGEABLE)
                        .bind(id.as_uuid())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let matters = change.password_hash.is_some()
                        || change.role.is_some_and(|r| r.as_str() != role)
                        || change.disabled.is_some_and(|d| d != disabled);
                    if !matters {
                        // The same values again: no write, no new `updated_at`, no sign-in ends.
                        let row: UserRow = sqlx::query_as(sql::USER_BY_ID)
                            .bind(id.as_uuid())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                        tx.commit().await.map_err(backend)?;
                        return User::try_from(row);
                    }
                    let row: UserRow = sqlx::query_as(sql::USER_UPDATE)
                        .bind(id.as_uuid())
                        .bind(change.role.map(|r| r.as_str()))
                        .bind(change.disabled)
                        .bind(change.password_hash.as_deref())
                        .bind(DbTime(now))
                        .bind(i64::from(change.keep_session.is_none()))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let user = User::try_from(row)?;
                    let revoke = match change.keep_session {
                        None => sqlx::query(sql::USER_TOKENS_REVOKE)
                            .bind(id.as_uuid())
                            .bind(DbTime(now)),
                        Some(keep) => sqlx::query(sql::USER_OTHER_TOKENS_REVOKE)
                            .bind(id.as_uuid())
                            .bind(DbTime(now))
                            .bind(keep),
                    };
                    revoke.execute(&mut *tx).await.map_err(backend)?;
                    if change.password_hash.is_some() {
                        // Devices trusted under the old password (perhaps a thief's) are not
                        // trusted under the new one.
                        sqlx::query(sql::USER_DEVICES_DELETE)
                            .bind(id.as_uuid())
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(user)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn session_state(
                    &self,
                    id: UserId,
                    session: Uuid,
                    now: DateTime<Utc>,
                ) -> Result<Option<SessionState>, StoreError> {
                    let row: Option<(i64, bool, bool)> = sqlx::query_as(sql::SESSION_STATE)
                        .bind(id.as_uuid())
                        .bind(session)
                        .bind(DbTime(now))
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(|(token_epoch, disabled, live)| SessionState {
                        token_epoch,
                        disabled,
                        live,
                    }))
                }

                #[tracing::instrument(skip_all)]
                async fn device_token_user(
                    &self,
                    token_hash: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<UserId>, StoreError> {
                    let user: Option<Uuid> = sqlx::query_scalar(sql::DEVICE_USER)
                        .bind(token_hash)
                        .bind(DbTime(now))
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(user.map(UserId::from_uuid))
                }

                #[tracing::instrument(skip_all, fields(user = %token.user_id))]
                async fn insert_device_token(
                    &self,
                    token: &NewDeviceToken,
                    replaces: Option<&str>,
                ) -> Result<(), StoreError> {
                    let now = time::now();
                    let user_id = token.user_id.as_uuid();
                    let mut tx = begin_write(self).await?;
                    if !lock_user(&mut tx, user_id).await? {
                        return Err(StoreError::NotFound { entity: "user" });
                    }
                    sqlx::query(sql::DEVICE_PRUNE_EXPIRED)
                        .bind(user_id)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
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

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn token_epoch(&self, id: UserId) -> Result<Option<(i64, bool)>, StoreError> {
                    sqlx::query_as(sql::USER_TOKEN_EPOCH)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)
                }

                #[tracing::instrument(skip_all, fields(user = %token.user_id))]
                async fn insert_refresh_token(
                    &self,
                    token: &NewRefreshToken,
                ) -> Result<(), StoreError> {
                    let now = time::now();
                    let user_id = token.user_id.as_uuid();
                    let mut tx = begin_write(self).await?;
                    if !lock_user(&mut tx, user_id).await? {
                        return Err(StoreError::NotFound { entity: "user" });
                    }
                    sqlx::query(sql::REFRESH_PRUNE_EXPIRED)
                        .bind(user_id)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
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

                #[tracing::instrument(skip_all)]
                async fn use_refresh_token(
                    &self,
                    token_hash: &str,
                    now: DateTime<Utc>,
                ) -> Result<RefreshOutcome, StoreError> {
                    let spent: Option<SpentTokenRow> = sqlx::query_as(sql::REFRESH_USE)
                        .bind(token_hash)
                        .bind(DbTime(now))
                        .fetch_optional(self.writer())
                        .await
                        .map_err(backend)?;
                    if let Some(spent) = spent {
                        return Ok(RefreshOutcome::Valid {
                            user_id: UserId::from_uuid(spent.user_id),
                            family_id: spent.family_id,
                            family_started_at: spent.family_started_at.0,
                        });
                    }
                    // Not live. `used_at` never goes back to NULL, so a token seen used here
                    // was spent before: a replay.
                    match token_state(self, token_hash).await? {
                        Some(TokenStateRow {
                            user_id,
                            family_id,
                            used_at: Some(_),
                        }) => {
                            revoke_family(self, user_id, family_id, now).await?;
                            Ok(RefreshOutcome::Reused {
                                user_id: UserId::from_uuid(user_id),
                                family_id,
                            })
                        }
                        // Unknown, expired or revoked (by logout, a change of the user or the
                        // reuse of another token of the family).
                        _ => Ok(RefreshOutcome::Invalid),
                    }
                }

                #[tracing::instrument(skip_all, fields(owner = %owner))]
                async fn revoke_refresh_family(
                    &self,
                    token_hash: &str,
                    owner: UserId,
                ) -> Result<Option<Uuid>, StoreError> {
                    let Some(state) = token_state(self, token_hash).await? else {
                        return Ok(None);
                    };
                    if state.user_id != owner.as_uuid() {
                        return Ok(None);
                    }
                    revoke_family(self, state.user_id, state.family_id, time::now()).await?;
                    Ok(Some(state.family_id))
                }

                #[tracing::instrument(skip_all)]
                async fn login_failures(
                    &self,
                    key: &str,
                    since: DateTime<Utc>,
                ) -> Result<Throttle, StoreError> {
                    let (failures, last): (i64, Option<DbTime>) =
                        sqlx::query_as(sql::LOGIN_FAILURE_COUNT)
                            .bind(key)
                            .bind(DbTime(since))
                            .fetch_one(self.reader())
                            .await
                            .map_err(backend)?;
                    Ok(Throttle {
                        failures,
                        last_failure: last.map(|t| t.0),
                    })
                }

                #[tracing::instrument(skip_all)]
                async fn record_login_failure(
                    &self,
                    key: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut tx = begin_write(self).await?;
                    sqlx::query(<Self as UserDialect>::PRUNE_LOGIN_FAILURES)
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

                #[tracing::instrument(skip_all)]
                async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
                    sqlx::query(sql::LOGIN_FAILURES_CLEAR)
                        .bind(key)
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                #[tracing::instrument(skip_all)]
                async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
                    let rows: Vec<SigningKeyRow> = sqlx::query_as(sql::SIGNING_KEYS_SELECT)
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(rows.into_iter().map(StoredSigningKey::from).collect())
                }

                #[tracing::instrument(skip_all, fields(kid = %key.kid))]
                async fn add_signing_key(
                    &self,
                    key: &StoredSigningKey,
                    retire_others_at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut tx = begin_write(self).await?;
                    if let Some(lock) = <Self as UserDialect>::LOCK_SIGNING_KEYS {
                        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
                    }
                    sqlx::query(sql::SIGNING_KEYS_RETIRE)
                        .bind(DbTime(retire_others_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let inserted = sqlx::query(sql::SIGNING_KEY_INSERT)
                        .bind(key.kid.as_str())
                        .bind(key.algorithm.as_str())
                        .bind(key.public_key.as_slice())
                        .bind(key.sealed_private_key.as_slice())
                        .bind(DbTime(key.created_at))
                        .bind(key.retired_at.map(DbTime))
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => tx.commit().await.map_err(backend),
                        Err(err) if is_unique_violation(&err) => Err(StoreError::DuplicateName {
                            entity: "signing key",
                            name: key.kid.clone(),
                        }),
                        Err(err) => Err(backend(err)),
                    }
                }
            }
        };
    };
}

pub(crate) use impl_user_store;
