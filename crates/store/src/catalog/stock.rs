//! Stock: movements, the ledger of a book, and the books low on stock.

use super::books::current_for_write;
use super::history::{record_change, HistoryWrite};
use super::idempotency::store_idempotency;
use super::{begin_write, Dialect};
use crate::error::{backend, json_error};
use crate::rows::BookRow;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::event::{BookEventKind, CloudEvent};
use bookstore_core::{
    Book, BookId, HistoryAction, IdempotencyRequest, Precondition, StockMovement,
    StockMovementDraft, StockMovementKind, StoreError, WriteContext,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// Appends `movement` to the ledger, in the transaction of the write that made it.
pub(crate) async fn insert_movement<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    movement: &StockMovement,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query(sql::STOCK_MOVEMENT_INSERT)
        .bind(movement.id)
        .bind(movement.book_id.as_uuid())
        .bind(movement.kind.as_str())
        .bind(movement.quantity)
        .bind(movement.delta)
        .bind(movement.quantity_after)
        .bind(movement.reason.as_deref())
        .bind(&movement.actor)
        .bind(movement.request_id.as_deref())
        .bind(DbTime(movement.at))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The movement that records a change of the stock made by a book write.
pub(crate) fn book_write_movement(
    book: &Book,
    kind: StockMovementKind,
    delta: i64,
    reason: &str,
    ctx: &WriteContext,
    at: DateTime<Utc>,
) -> StockMovement {
    StockMovement {
        id: Uuid::now_v7(),
        book_id: book.id,
        kind,
        quantity: delta,
        delta,
        quantity_after: book.quantity.get(),
        reason: Some(reason.to_owned()),
        actor: ctx.actor().to_owned(),
        request_id: ctx.request_id.clone(),
        at,
    }
}

/// Records a movement of the book `id`'s stock, with the book's new version.
pub(crate) async fn record_stock_movement_once<D: Dialect>(
    store: &D,
    id: BookId,
    expected: &Precondition,
    draft: &StockMovementDraft,
    ctx: &WriteContext,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<(Book, StockMovement), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let before = current_for_write::<D>(&mut tx, id, expected).await?;
    let on_hand = before.quantity.get();
    let (delta, quantity) = draft.apply(on_hand)?;
    let after = Book {
        quantity,
        version: before.version + 1,
        updated_at: now,
        ..before.clone()
    };
    sqlx::query(sql::STOCK_UPDATE)
        .bind(id.as_uuid())
        .bind(quantity.get())
        .bind(after.version)
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let movement = StockMovement {
        id: Uuid::now_v7(),
        book_id: id,
        kind: draft.kind(),
        quantity: draft.quantity(),
        delta,
        quantity_after: quantity.get(),
        reason: draft.reason().map(str::to_owned),
        actor: ctx.actor().to_owned(),
        request_id: ctx.request_id.clone(),
        at: now,
    };
    insert_movement::<D>(&mut tx, &movement).await?;
    if let Some(request) = idempotency {
        let response = serde_json::to_value((&after, &movement)).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, now).await?;
    }
    let before_json = serde_json::to_value(&before).map_err(json_error)?;
    let after_json = serde_json::to_value(&after).map_err(json_error)?;
    let event =
        CloudEvent::book_changed(BookEventKind::StockAdjusted, &after, ctx).map_err(json_error)?;
    let history = HistoryWrite {
        book_id: id.as_uuid(),
        version: after.version,
        action: HistoryAction::Updated,
        at: now,
        before: Some(&before_json),
        after: Some(&after_json),
    };
    record_change::<D>(&mut tx, ctx, history, &event).await?;
    tx.commit().await.map_err(backend)?;
    Ok((after, movement))
}

/// The stock reads of `$store`, whose database is `$db`.
macro_rules! impl_stock {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn stock_page(
                &self,
                id: BookId,
                page: &PageRequest,
            ) -> Result<Page<StockMovement>, StoreError> {
                self.per_book_page::<StockMovementRow, StockMovement>(
                    "stock",
                    sql::STOCK_MOVEMENT_SELECT,
                    id,
                    page,
                    |movement| movement.id,
                )
                .await
            }

            async fn low_stock_page(&self, page: &PageRequest) -> Result<Page<Book>, StoreError> {
                const LIST: &str = "low-stock";
                let after = match page.cursor.as_deref() {
                    Some(c) => {
                        let (key, id) = cursor::decode_keyed(LIST, c)?;
                        let quantity: i64 = key.parse().map_err(|_| StoreError::InvalidCursor)?;
                        Some((quantity, id))
                    }
                    None => None,
                };
                let mut select =
                    QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                select.push(" WHERE b.quantity <= b.reorder_point");
                if let Some((quantity, id)) = after {
                    select
                        .push(" AND (b.quantity > ")
                        .push_bind(quantity)
                        .push(" OR (b.quantity = ")
                        .push_bind(quantity)
                        .push(" AND b.id > ")
                        .push_bind(id)
                        .push("))");
                }
                select
                    .push(" ORDER BY b.quantity, b.id LIMIT ")
                    .push_bind(limit_plus_one(page));
                let rows: Vec<BookRow> = select
                    .build_query_as()
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                let books = rows
                    .into_iter()
                    .map(Book::try_from)
                    .collect::<Result<Vec<_>, _>>()?;
                into_page(
                    books,
                    page.limit.get(),
                    |last| {
                        cursor::encode_keyed(
                            LIST,
                            &last.quantity.get().to_string(),
                            last.id.as_uuid(),
                        )
                    },
                    Ok,
                )
            }
        }
    };
}
pub(crate) use impl_stock;
