//! The audit history of a book, and the one page helper of per-book lists.

use super::Dialect;
use crate::error::backend;
use crate::sql;
use crate::time::DbTime;
use bookstore_core::event::CloudEvent;
use bookstore_core::outbox::partition_of;
use bookstore_core::{HistoryAction, StoreError, WriteContext};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

/// One row of the audit history, as written.
pub(crate) struct HistoryWrite<'a> {
    pub(crate) book_id: Uuid,
    pub(crate) version: i64,
    pub(crate) action: HistoryAction,
    pub(crate) at: DateTime<Utc>,
    pub(crate) before: Option<&'a serde_json::Value>,
    pub(crate) after: Option<&'a serde_json::Value>,
}

/// The outbox partition of a book's events, as the column holds it.
pub(crate) fn outbox_partition(book_id: Uuid) -> i16 {
    // Below OUTBOX_PARTITIONS (16), so it always fits.
    i16::try_from(partition_of(book_id)).unwrap_or(i16::MAX)
}

/// Appends the audit row and the outbox event of a change.
pub(crate) async fn record_change<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    ctx: &WriteContext,
    history: HistoryWrite<'_>,
    event: &CloudEvent,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query(sql::HISTORY_INSERT)
        .bind(Uuid::now_v7())
        .bind(history.book_id)
        .bind(history.version)
        .bind(history.action.as_str())
        .bind(ctx.actor())
        .bind(ctx.request_id.as_deref())
        .bind(DbTime(history.at))
        .bind(history.before.map(Json))
        .bind(history.after.map(Json))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    sqlx::query(sql::OUTBOX_INSERT)
        .bind(event.id)
        .bind("book")
        .bind(history.book_id)
        .bind(&event.event_type)
        .bind(Json(event))
        .bind(DbTime(history.at))
        .bind(outbox_partition(history.book_id))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The per-book pages of `$store`, whose database is `$db`. A macro: the statement is built
/// with a `QueryBuilder`, whose destructor a generic function cannot let outlive its borrow by
/// `fetch_all` (the arguments' lifetime is invariant behind `Database::Arguments`).
macro_rules! impl_history {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn history_page(
                &self,
                id: BookId,
                page: &PageRequest,
            ) -> Result<Page<HistoryEntry>, StoreError> {
                self.per_book_page::<HistoryRow, HistoryEntry>(
                    "history",
                    sql::HISTORY_SELECT,
                    id,
                    page,
                    |entry| entry.id,
                )
                .await
            }

            /// A page of a per-book list, newest first: the rows `select` (ending in
            /// `WHERE book_id = `) reads, keyed by their time-ordered ids; `list` names the
            /// list in its cursors.
            async fn per_book_page<R, T>(
                &self,
                list: &'static str,
                select: &'static str,
                id: BookId,
                page: &PageRequest,
                id_of: fn(&T) -> Uuid,
            ) -> Result<Page<T>, StoreError>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                T: TryFrom<R, Error = StoreError> + Send,
            {
                let before = match page.cursor.as_deref() {
                    Some(c) => Some(cursor::decode_id(list, c)?),
                    None => None,
                };
                let mut select = QueryBuilder::<$db>::new(select);
                select.push_bind(id.as_uuid());
                if let Some(before) = before {
                    select.push(" AND id < ").push_bind(before);
                }
                select
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(limit_plus_one(page));
                let rows: Vec<R> = select
                    .build_query_as()
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                let items = rows
                    .into_iter()
                    .map(T::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                into_page(
                    items,
                    page.limit.get(),
                    |last| cursor::encode_id(list, id_of(last)),
                    Ok,
                )
            }
        }
    };
}
pub(crate) use impl_history;
