//! Stock: movements, the ledger of a book, and the books low on stock.

use super::books::current_for_write;
use super::history::{record_change, HistoryWrite};
use super::idempotency::store_idempotency;
use super::{begin_write, Dialect};
use crate::error::{backend, json_error};
use crate::rows::BookRow;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::book::MAX_QUANTITY;
use bookstore_core::event::{BookEventKind, CloudEvent};
use bookstore_core::{
    Book, BookId, HistoryAction, IdempotencyRequest, LocationId, LocationRef, Precondition,
    Quantity, StockMovement, StockMovementDraft, StockMovementKind, StoreError, TransferDraft,
    ValidationErrors, WriteContext,
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
        .bind(movement.location_id.as_uuid())
        .bind(&movement.location)
        .bind(movement.location_quantity_after)
        .bind(movement.counterpart.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// A location as a movement records it: its id and its code.
#[derive(Debug, Clone)]
pub(crate) struct At {
    pub(crate) id: Uuid,
    pub(crate) code: String,
}

/// The location `location` names (the default one for `None`); a field error on `field` if
/// there is none.
pub(crate) async fn resolve_location<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    field: &str,
    location: Option<&LocationRef>,
) -> Result<At, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    let default = LocationRef::default_location();
    let location = location.unwrap_or(&default);
    let found: Option<(Uuid, String)> = match location {
        LocationRef::Id(id) => sqlx::query_as(sql::LOCATION_ID_CODE_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?,
        LocationRef::Code(code) => sqlx::query_as(sql::LOCATION_ID_CODE_BY_CODE)
            .bind(code.to_ascii_lowercase().as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?,
    };
    match found {
        Some((id, code)) => Ok(At { id, code }),
        None => Err(StoreError::Invalid(ValidationErrors::single(
            field,
            format!("no location '{location}' (give a location's code or id)"),
        ))),
    }
}

/// The stock of `book` at `location` (0 where it has never been).
pub(crate) async fn level_at<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    book: Uuid,
    location: Uuid,
) -> Result<i64, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let level: Option<(i64,)> = sqlx::query_as(sql::STOCK_LEVEL)
        .bind(book)
        .bind(location)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(level.map_or(0, |(q,)| q))
}

/// Sets the stock of `book` at `location`.
pub(crate) async fn set_level<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    book: Uuid,
    location: Uuid,
    quantity: i64,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query(sql::STOCK_LEVEL_SET)
        .bind(book)
        .bind(location)
        .bind(quantity)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Changes the stock a book write (a create's quantity, an edited quantity) makes at the
/// default location, the only one such a write knows of. An edit can take no more than the
/// default location holds: stock elsewhere is moved with stock movements.
pub(crate) async fn book_write_level<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    book: Uuid,
    delta: i64,
) -> Result<(At, i64), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    let at = resolve_location::<D>(conn, "quantity", None).await?;
    let on_hand = level_at::<D>(conn, book, at.id).await?;
    let after = on_hand.saturating_add(delta);
    if after < 0 {
        return Err(StoreError::Conflict {
            problem: "insufficient-stock",
            detail: format!(
                "the quantity can only be lowered by what the default location '{}' holds \
                 ({on_hand}); move stock at the other locations with stock movements",
                at.code
            ),
        });
    }
    set_level::<D>(conn, book, at.id, after).await?;
    Ok((at, after))
}

/// The movement that records a change of the stock made by a book write.
pub(crate) fn book_write_movement(
    book: &Book,
    kind: StockMovementKind,
    delta: i64,
    reason: &str,
    (at, level): (At, i64),
    ctx: &WriteContext,
    now: DateTime<Utc>,
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
        at: now,
        location_id: LocationId::from_uuid(at.id),
        location: at.code,
        location_quantity_after: level,
        counterpart: None,
    }
}

/// One movement at one location, as [`apply_movement`] writes it.
pub(crate) struct MovementAt<'a> {
    pub(crate) kind: StockMovementKind,
    /// As given: the count moved, the signed adjustment, or the counted quantity.
    pub(crate) quantity: i64,
    /// The change at the location.
    pub(crate) delta: i64,
    /// The stock at the location after it.
    pub(crate) level_after: i64,
    pub(crate) at: &'a At,
    pub(crate) reason: Option<&'a str>,
    pub(crate) counterpart: Option<&'a str>,
}

/// Applies a movement to the book `before` (locked by the caller, in `conn`'s transaction):
/// the location's stock, the book's quantity and version, the movement, a history row and a
/// `stock_adjusted` event naming the location. Returns the book after it.
pub(crate) async fn apply_movement<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    before: &Book,
    movement: MovementAt<'_>,
    ctx: &WriteContext,
    now: DateTime<Utc>,
) -> Result<(Book, StockMovement), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    // The halves of a transfer leave the total as it is: no consumer sees a dip in between.
    let total_delta = if movement.kind == StockMovementKind::Transfer {
        0
    } else {
        movement.delta
    };
    let total = before
        .quantity
        .get()
        .checked_add(total_delta)
        .and_then(|t| Quantity::new(t).ok())
        .ok_or_else(|| {
            StoreError::Invalid(ValidationErrors::single(
                "quantity",
                format!("must keep the book's stock on hand at most {MAX_QUANTITY}"),
            ))
        })?;
    let after = Book {
        quantity: total,
        version: before.version + 1,
        updated_at: now,
        ..before.clone()
    };
    let id = before.id;
    set_level::<D>(conn, id.as_uuid(), movement.at.id, movement.level_after).await?;
    sqlx::query(sql::STOCK_UPDATE)
        .bind(id.as_uuid())
        .bind(total.get())
        .bind(after.version)
        .bind(DbTime(now))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let record = StockMovement {
        id: Uuid::now_v7(),
        book_id: id,
        kind: movement.kind,
        quantity: movement.quantity,
        delta: movement.delta,
        quantity_after: total.get(),
        reason: movement.reason.map(str::to_owned),
        actor: ctx.actor().to_owned(),
        request_id: ctx.request_id.clone(),
        at: now,
        location_id: LocationId::from_uuid(movement.at.id),
        location: movement.at.code.clone(),
        location_quantity_after: movement.level_after,
        counterpart: movement.counterpart.map(str::to_owned),
    };
    insert_movement::<D>(conn, &record).await?;
    let before_json = serde_json::to_value(before).map_err(json_error)?;
    let after_json = serde_json::to_value(&after).map_err(json_error)?;
    let event = CloudEvent::book_changed(BookEventKind::StockAdjusted, &after, ctx)
        .map_err(json_error)?
        .at_location(&movement.at.code, movement.at.id);
    let history = HistoryWrite {
        book_id: id.as_uuid(),
        version: after.version,
        action: HistoryAction::Updated,
        at: now,
        before: Some(&before_json),
        after: Some(&after_json),
    };
    record_change::<D>(conn, ctx, history, &event).await?;
    Ok((after, record))
}

/// Records a movement of the book `id`'s stock at the draft's location, with the book's new
/// version.
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
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
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
    let at = resolve_location::<D>(&mut tx, "location", draft.location()).await?;
    let on_hand = level_at::<D>(&mut tx, id.as_uuid(), at.id).await?;
    let (delta, level) = draft.apply(on_hand)?;
    let movement = MovementAt {
        kind: draft.kind(),
        quantity: draft.quantity(),
        delta,
        level_after: level.get(),
        at: &at,
        reason: draft.reason(),
        counterpart: None,
    };
    let (after, movement) = apply_movement::<D>(&mut tx, &before, movement, ctx, now).await?;
    if let Some(request) = idempotency {
        let response = serde_json::to_value((&after, &movement)).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, now).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok((after, movement))
}

/// Moves stock of the book `id` between two locations: out of one, into the other, as two
/// movements in one transaction. The book's row lock (PostgreSQL) or the single writer
/// (SQLite) serialises it with every other change of the book's stock, so the source's
/// stock read here is the stock the movement leaves.
pub(crate) async fn transfer_stock_once<D: Dialect>(
    store: &D,
    id: BookId,
    expected: &Precondition,
    draft: &TransferDraft,
    ctx: &WriteContext,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<(Book, [StockMovement; 2]), StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
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
    let from = resolve_location::<D>(&mut tx, "from_location", Some(draft.from())).await?;
    let to = resolve_location::<D>(&mut tx, "to_location", Some(draft.to())).await?;
    if from.id == to.id {
        return Err(StoreError::Invalid(ValidationErrors::single(
            "to_location",
            "must differ from from_location",
        )));
    }
    let n = draft.quantity();
    let at_source = level_at::<D>(&mut tx, id.as_uuid(), from.id).await?;
    if at_source < n {
        return Err(StoreError::InsufficientStock {
            available: at_source,
            requested: n,
        });
    }
    let at_target = level_at::<D>(&mut tx, id.as_uuid(), to.id).await?;
    let target_after = at_target
        .checked_add(n)
        .filter(|q| *q <= MAX_QUANTITY)
        .ok_or_else(|| {
            StoreError::Invalid(ValidationErrors::single(
                "quantity",
                format!("would take the stock at '{}' past {MAX_QUANTITY}", to.code),
            ))
        })?;
    let out = MovementAt {
        kind: StockMovementKind::Transfer,
        quantity: n,
        delta: -n,
        level_after: at_source - n,
        at: &from,
        reason: draft.reason(),
        counterpart: Some(&to.code),
    };
    let (middle, out) = apply_movement::<D>(&mut tx, &before, out, ctx, now).await?;
    let into = MovementAt {
        kind: StockMovementKind::Transfer,
        quantity: n,
        delta: n,
        level_after: target_after,
        at: &to,
        reason: draft.reason(),
        counterpart: Some(&from.code),
    };
    let (after, into) = apply_movement::<D>(&mut tx, &middle, into, ctx, now).await?;
    let movements = [out, into];
    if let Some(request) = idempotency {
        let response = serde_json::to_value((&after, &movements)).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, now).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok((after, movements))
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
