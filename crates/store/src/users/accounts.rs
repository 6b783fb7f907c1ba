//! Accounts: the `users` table. Created (with the idempotency record of the request, in the
//! same transaction), read, listed by username, and changed: a change that matters ends the
//! user's sign-ins in the same transaction.

use super::rows::{UserRecordRow, UserRow};
use super::{begin_write, lock_user, sql, Conn, UserDialect};
use crate::audit::insert_entry;
use crate::catalog::idempotency::store_idempotency;
use crate::catalog::{into_page, limit_plus_one, Dialect};
use crate::cursor;
use crate::error::{backend, duplicate_name, json_error};
use crate::time::{self, DbTime};
use bookstore_core::audit::{details, AuditAction, AuditContext, NewAuditEntry};
use bookstore_core::auth::{NewUser, User, UserChange, UserId, UserRecord, Username};
use bookstore_core::{IdempotencyRequest, Page, PageRequest, StoreError};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

pub(crate) async fn count_users<D: Dialect>(store: &D) -> Result<i64, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
{
    sqlx::query_scalar(sql::USER_COUNT)
        .fetch_one(store.primary_reader())
        .await
        .map_err(backend)
}

/// One attempt at creating the user (and storing the idempotency record, if any).
pub(crate) async fn create_user<D: Dialect>(
    store: &D,
    user: &NewUser,
    idempotency: Option<&IdempotencyRequest>,
    audit: &AuditContext,
) -> Result<User, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q Map<String, Value>>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let id = UserId::generate();
    let mut tx = begin_write(store).await?;
    sqlx::query(sql::USER_INSERT)
        .bind(id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.role.as_str())
        .bind(user.password_hash.as_str())
        .bind(false)
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(|err| duplicate_name(err, "user", user.username.as_str()))?;
    let created = User {
        id,
        username: user.username.clone(),
        role: user.role,
        disabled: false,
        token_epoch: 1,
        created_at: now,
        updated_at: now,
    };
    let entry = audit.entry(
        AuditAction::UserCreated,
        Some(created.username.to_string()),
        details([
            ("user_id", id.to_string().into()),
            ("role", created.role.as_str().into()),
        ]),
    );
    insert_entry::<D>(&mut *tx, &entry, now).await?;
    // The record commits with the user: a retried create finds one or the other of both,
    // never only one.
    if let Some(request) = idempotency {
        let response = serde_json::to_value(&created).map_err(json_error)?;
        store_idempotency::<D>(&mut *tx, request, &response, now).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(created)
}

pub(crate) async fn find_by_username<D: Dialect>(
    store: &D,
    username: &Username,
) -> Result<Option<UserRecord>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    UserRecordRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<UserRecordRow> = sqlx::query_as(sql::RECORD_BY_USERNAME)
        .bind(username.as_str())
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)?;
    row.map(UserRecord::try_from).transpose()
}

pub(crate) async fn find_by_id<D: Dialect>(
    store: &D,
    id: UserId,
) -> Result<Option<UserRecord>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    UserRecordRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<UserRecordRow> = sqlx::query_as(sql::RECORD_BY_ID)
        .bind(id.as_uuid())
        .fetch_optional(store.primary_reader())
        .await
        .map_err(backend)?;
    row.map(UserRecord::try_from).transpose()
}

/// A page of users in username order. Two fixed statements (first page, later page) rather
/// than a `QueryBuilder`, which cannot run in a generic function (see `crate::catalog`).
pub(crate) async fn list_users<D: Dialect>(
    store: &D,
    page: &PageRequest,
) -> Result<Page<User>, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    UserRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    const LIST: &str = "users";
    let after = match page.cursor.as_deref() {
        Some(c) => Some(cursor::decode_keyed(LIST, c)?),
        None => None,
    };
    let select = match &after {
        Some((username, id)) => sqlx::query_as::<D::Db, UserRow>(sql::USER_PAGE_AFTER)
            .bind(username.as_str())
            .bind(*id),
        None => sqlx::query_as::<D::Db, UserRow>(sql::USER_PAGE),
    };
    let rows: Vec<UserRow> = select
        .bind(limit_plus_one(page))
        .fetch_all(store.primary_reader())
        .await
        .map_err(backend)?;
    into_page(
        rows,
        page.limit.get(),
        |last| cursor::encode_keyed(LIST, &last.username, last.id),
        User::try_from,
    )
}

/// One attempt at changing the user. A change that matters (another role or disabled flag, a
/// new password) moves the token epoch on and revokes the user's sign-ins (but `keep_session`);
/// a new password also forgets the user's trusted devices.
pub(crate) async fn update_user<D: UserDialect>(
    store: &D,
    id: UserId,
    change: &UserChange,
    audit: &AuditContext,
) -> Result<User, StoreError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (String, bool): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    UserRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<bool>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q Map<String, Value>>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    // Locks the user's row first, as every token write does.
    if !lock_user::<D>(&mut *tx, id.as_uuid()).await? {
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
    for entry in change_entries(&user, &role, disabled, change, audit) {
        insert_entry::<D>(&mut *tx, &entry, now).await?;
    }
    if change.password_hash.is_some() {
        // Devices trusted under the old password (perhaps a thief's) are not trusted under
        // the new one.
        sqlx::query(sql::USER_DEVICES_DELETE)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(user)
}

/// The audit entries of a change that matters: one per thing that changed, from `role` and
/// `disabled` as they were to `user` as it is.
fn change_entries(
    user: &User,
    role: &str,
    disabled: bool,
    change: &UserChange,
    audit: &AuditContext,
) -> Vec<NewAuditEntry> {
    let target = || Some(user.username.to_string());
    let with_id = |mut more: Map<String, Value>| {
        more.insert("user_id".into(), user.id.to_string().into());
        more
    };
    let mut entries = Vec::new();
    if user.role.as_str() != role {
        entries.push(audit.entry(
            AuditAction::RoleChanged,
            target(),
            with_id(details([
                ("from", role.into()),
                ("to", user.role.as_str().into()),
            ])),
        ));
    }
    if user.disabled != disabled {
        let action = if user.disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        entries.push(audit.entry(action, target(), with_id(Map::new())));
    }
    if change.password_hash.is_some() {
        // A reset by someone else (an admin, the command line), or the user's own change.
        let own = audit.actor.id() == Some(user.id.to_string().as_str());
        entries.push(audit.entry(
            AuditAction::PasswordChanged,
            target(),
            with_id(details([("reset", (!own).into())])),
        ));
    }
    entries
}
