//! The audit log (`bookstore_core::audit`): entries written inside another write's transaction
//! ([`insert_entry`], by the user and webhook writes) or on their own, and read newest first
//! with filters. [`impl_audit_log!`] says the port for each store: the filtered read is built
//! with a `QueryBuilder`, which a generic function cannot run (see `catalog/history.rs`).

use crate::catalog::Dialect;
use crate::error::{backend, corrupt};
use crate::time::DbTime;
use bookstore_core::audit::{AuditAction, AuditActor, AuditEntry, AuditQuery, NewAuditEntry};
use bookstore_core::StoreError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit_log (id, at, action, actor_kind, \
    actor_id, actor_name, target, client_ip, request_id, details) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Followed by the filters, each `AND …`.
pub(crate) const AUDIT_SELECT: &str = "SELECT id, at, action, actor_kind, actor_id, actor_name, \
    target, client_ip, request_id, details FROM audit_log WHERE 1 = 1";

/// Appends one entry, at `at`, on `conn` (inside the caller's transaction, if any).
pub(crate) async fn insert_entry<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    entry: &NewAuditEntry,
    at: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q Map<String, Value>>: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query(AUDIT_INSERT)
        .bind(Uuid::now_v7())
        .bind(DbTime(at))
        .bind(entry.action.as_str())
        .bind(entry.actor.kind())
        .bind(entry.actor.id())
        .bind(entry.actor.name())
        .bind(entry.target.as_deref())
        .bind(entry.client_ip.as_deref())
        .bind(entry.request_id.as_deref())
        .bind(Json(&entry.details))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The name of an audit list in its cursors: a cursor of one filtered list is refused by
/// another.
pub(crate) fn list_name(query: &AuditQuery) -> String {
    format!("audit:{}", query.fingerprint())
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub(crate) id: Uuid,
    at: DbTime,
    action: String,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    target: Option<String>,
    client_ip: Option<String>,
    request_id: Option<String>,
    details: Json<Map<String, Value>>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let action =
            AuditAction::parse(&row.action).ok_or_else(|| corrupt("audit action", &row.action))?;
        let actor = AuditActor::from_parts(&row.actor_kind, row.actor_id, row.actor_name)
            .map_err(|e| corrupt("audit actor", e))?;
        Ok(AuditEntry {
            id: row.id,
            at: row.at.0,
            action,
            actor,
            target: row.target,
            client_ip: row.client_ip,
            request_id: row.request_id,
            details: row.details.0,
        })
    }
}

/// Implements [`AuditLog`](bookstore_core::audit::AuditLog) for `$store`, a [`Dialect`] whose
/// database is `$db`.
macro_rules! impl_audit_log {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::audit::{
                ActorFilter, AuditEntry, AuditLog, AuditQuery, NewAuditEntry,
            };
            use bookstore_core::{Page, StoreError};
            use sqlx::QueryBuilder;
            use $crate::audit::{insert_entry, list_name, AuditRow, AUDIT_SELECT};
            use $crate::catalog::{into_page, limit_plus_one, Dialect};
            use $crate::cursor;
            use $crate::error::backend;
            use $crate::time::{self, DbTime};

            #[async_trait::async_trait]
            impl AuditLog for $store {
                #[tracing::instrument(skip_all, fields(action = entry.action.as_str()))]
                async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
                    let mut conn = self.writer().acquire().await.map_err(backend)?;
                    insert_entry::<$store>(&mut *conn, entry, time::now()).await
                }

                #[tracing::instrument(skip_all)]
                async fn audit_entries(
                    &self,
                    query: &AuditQuery,
                ) -> Result<Page<AuditEntry>, StoreError> {
                    let list = list_name(query);
                    let before = match query.page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_id(&list, c)?),
                        None => None,
                    };
                    let mut select = QueryBuilder::<$db>::new(AUDIT_SELECT);
                    if let Some(action) = query.action {
                        select.push(" AND action = ").push_bind(action.as_str());
                    }
                    match &query.actor {
                        None => {}
                        Some(ActorFilter::Kind(kind)) => {
                            select.push(" AND actor_kind = ").push_bind(*kind);
                        }
                        Some(ActorFilter::Id(id)) => {
                            select.push(" AND actor_id = ").push_bind(id.clone());
                        }
                        Some(ActorFilter::Name(name)) => {
                            select.push(" AND actor_name = ").push_bind(name.clone());
                        }
                    }
                    if let Some(since) = query.since {
                        select
                            .push(" AND at >= ")
                            .push_bind(DbTime(time::truncate_to_micros(since)));
                    }
                    if let Some(until) = query.until {
                        select
                            .push(" AND at < ")
                            .push_bind(DbTime(time::truncate_to_micros(until)));
                    }
                    if let Some(before) = before {
                        select.push(" AND id < ").push_bind(before);
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(limit_plus_one(&query.page));
                    let rows: Vec<AuditRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        query.page.limit.get(),
                        |last| cursor::encode_id(&list, last.id),
                        AuditEntry::try_from,
                    )
                }
            }
        };
    };
}

pub(crate) use impl_audit_log;
