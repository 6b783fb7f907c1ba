//! Stocktakes: open one, count into it, commit it as `count` movements in one transaction, or
//! cancel it. Reads are in `locations.rs`, with the rest of the inventory port.

use super::books::current_for_write;
use super::idempotency::store_idempotency;
use super::stock::{apply_movement, level_at, resolve_location, At, MovementAt};
use super::{begin_write, Dialect, RowsAffected};
use crate::error::{backend, json_error};
use crate::rows::{BookRow, PendingLineRow, StocktakeLineRow, StocktakeRow};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::book::MAX_QUANTITY;
use bookstore_core::event::CloudEvent;
use bookstore_core::{
    BookId, CountChange, CountDraft, CountedBook, IdempotencyRequest, Precondition,
    StockMovementKind, Stocktake, StocktakeDraft, StocktakeId, StocktakeLine, StocktakeState,
    StoreError, ValidationErrors, WriteContext,
};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The stocktake `id` as it is in `conn`'s transaction (without its lines).
pub(crate) async fn read_stocktake<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: Uuid,
) -> Result<Stocktake, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<StocktakeRow> = sqlx::query_as(sql::STOCKTAKE_BY_ID)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    row.ok_or(StoreError::NotFound {
        entity: "stocktake",
    })?
    .try_into()
}

/// Why a write to a stocktake that is not open is refused.
fn closed(stocktake: &Stocktake) -> StoreError {
    StoreError::Conflict {
        problem: "stocktake-closed",
        detail: format!(
            "the stocktake is {}: only an open stocktake takes counts, a commit or a cancel",
            stocktake.state.as_str()
        ),
    }
}

pub(crate) async fn open_stocktake_once<D: Dialect>(
    store: &D,
    draft: &StocktakeDraft,
    ctx: &WriteContext,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<Stocktake, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let id = StocktakeId::generate().as_uuid();
    let mut tx = begin_write(store).await?;
    let at = resolve_location::<D>(&mut tx, "location", draft.location()).await?;
    sqlx::query(sql::STOCKTAKE_INSERT)
        .bind(id)
        .bind(at.id)
        .bind(&at.code)
        .bind(draft.note())
        .bind(ctx.actor())
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let stocktake = read_stocktake::<D>(&mut tx, id).await?;
    if let Some(request) = idempotency {
        let response = serde_json::to_value(&stocktake).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, now).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(stocktake)
}

/// Gives the open stocktake `id` a new version, locking it; `NotFound`, or `Conflict` when
/// it is not open.
async fn touch_open<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: Uuid,
    now: DbTime,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let touched = sqlx::query(sql::STOCKTAKE_TOUCH)
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if touched.rows_affected() == 0 {
        let stocktake = read_stocktake::<D>(conn, id).await?;
        return Err(closed(&stocktake));
    }
    Ok(())
}

pub(crate) async fn record_count_once<D: Dialect>(
    store: &D,
    id: StocktakeId,
    draft: &CountDraft,
) -> Result<(Stocktake, StocktakeLine), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    StocktakeLineRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    touch_open::<D>(&mut tx, id.as_uuid(), DbTime(now)).await?;
    let stocktake = read_stocktake::<D>(&mut tx, id.as_uuid()).await?;
    let book: Option<(Uuid,)> = match draft.book() {
        CountedBook::Isbn(isbn) => sqlx::query_as(sql::BOOK_ID_BY_ISBN)
            .bind(isbn.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?,
        CountedBook::Id(book) => sqlx::query_as(sql::BOOK_ID_BY_ID)
            .bind(book.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?,
    };
    let Some((book,)) = book else {
        let (field, what) = match draft.book() {
            CountedBook::Isbn(isbn) => ("isbn", format!("ISBN {}", isbn.as_str())),
            CountedBook::Id(book) => ("book_id", format!("id {book}")),
        };
        return Err(StoreError::Invalid(ValidationErrors::single(
            field,
            format!("no book with {what}: add it to the catalog first"),
        )));
    };
    let at = match draft.location() {
        None => At {
            id: stocktake.location_id.as_uuid(),
            code: stocktake.location.clone(),
        },
        Some(location) => {
            let at = resolve_location::<D>(&mut tx, "location", Some(location)).await?;
            let inside: i64 = sqlx::query_scalar(sql::LOCATION_IS_SELF_OR_ANCESTOR)
                .bind(at.id)
                .bind(stocktake.location_id.as_uuid())
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
            if inside == 0 {
                return Err(StoreError::Invalid(ValidationErrors::single(
                    "location",
                    format!(
                        "must be the stocktake's location '{}' or a location inside it",
                        stocktake.location
                    ),
                )));
            }
            at
        }
    };
    let before: Option<i64> = sqlx::query_scalar(sql::STOCKTAKE_LINE_COUNTED)
        .bind(id.as_uuid())
        .bind(book)
        .bind(at.id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    let (counted, field) = match draft.change() {
        CountChange::Set(n) => (n, "counted"),
        CountChange::Add(n) => (before.unwrap_or(0).saturating_add(n), "add"),
    };
    if !(0..=MAX_QUANTITY).contains(&counted) {
        return Err(StoreError::Invalid(ValidationErrors::single(
            field,
            format!(
                "would make the count {counted}; a count is 0 to {MAX_QUANTITY} (counted so \
                 far: {})",
                before.unwrap_or(0)
            ),
        )));
    }
    let on_hand = level_at::<D>(&mut tx, book, at.id).await?;
    sqlx::query(sql::STOCKTAKE_LINE_SET)
        .bind(id.as_uuid())
        .bind(book)
        .bind(at.id)
        .bind(&at.code)
        .bind(counted)
        .bind(DbTime(now))
        .bind(on_hand)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let line: StocktakeLineRow = sqlx::query_as(sql::STOCKTAKE_LINE)
        .bind(id.as_uuid())
        .bind(book)
        .bind(at.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    let stocktake = read_stocktake::<D>(&mut tx, id.as_uuid()).await?;
    tx.commit().await.map_err(backend)?;
    Ok((stocktake, line.into()))
}

/// Applies every line of the open stocktake `id` as a `count` movement: the stock at the
/// line's location becomes what was counted plus what moved there since the count. Books
/// deleted since they were counted are left out.
pub(crate) async fn commit_stocktake_once<D: Dialect>(
    store: &D,
    id: StocktakeId,
    expected: &Precondition,
    ctx: &WriteContext,
) -> Result<Stocktake, StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    PendingLineRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    // Locked first, then read: the version before this touch is the one a client saw.
    touch_open::<D>(&mut tx, id.as_uuid(), DbTime(now)).await?;
    let current = read_stocktake::<D>(&mut tx, id.as_uuid()).await?.version - 1;
    if !expected.accepts(current) {
        return Err(StoreError::VersionMismatch { current });
    }
    let lines: Vec<PendingLineRow> = sqlx::query_as(sql::STOCKTAKE_PENDING_LINES)
        .bind(id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    let reason = format!("stocktake {id}");
    for line in lines {
        let book = BookId::from_uuid(line.book_id);
        let before = match current_for_write::<D>(&mut tx, book, &Precondition::Any).await {
            Ok(book) => book,
            Err(StoreError::NotFound { .. }) => continue,
            Err(other) => return Err(other),
        };
        let on_hand = level_at::<D>(&mut tx, line.book_id, line.location_id).await?;
        let sold: i64 = sqlx::query_scalar(sql::SOLD_SINCE)
            .bind(line.book_id)
            .bind(line.location_id)
            .bind(line.counted_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let target = line
            .counted
            .saturating_add(on_hand - line.on_hand_at_count)
            .clamp(0, MAX_QUANTITY);
        let at = At {
            id: line.location_id,
            code: line.location_code.clone(),
        };
        let movement = MovementAt {
            kind: StockMovementKind::Count,
            quantity: target,
            delta: target - on_hand,
            level_after: target,
            at: &at,
            reason: Some(&reason),
            counterpart: None,
        };
        apply_movement::<D>(&mut tx, &before, movement, ctx, now).await?;
        sqlx::query(sql::STOCKTAKE_LINE_COMMITTED)
            .bind(id.as_uuid())
            .bind(line.book_id)
            .bind(line.location_id)
            .bind(on_hand)
            .bind(sold)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    sqlx::query(sql::STOCKTAKE_CLOSE)
        .bind(id.as_uuid())
        .bind(DbTime(now))
        .bind(StocktakeState::Committed.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let stocktake = read_stocktake::<D>(&mut tx, id.as_uuid()).await?;
    tx.commit().await.map_err(backend)?;
    Ok(stocktake)
}

pub(crate) async fn cancel_stocktake_once<D: Dialect>(
    store: &D,
    id: StocktakeId,
) -> Result<Stocktake, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
    StocktakeRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let closed_now = sqlx::query(sql::STOCKTAKE_CLOSE)
        .bind(id.as_uuid())
        .bind(DbTime(now))
        .bind(StocktakeState::Cancelled.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let stocktake = read_stocktake::<D>(&mut tx, id.as_uuid()).await?;
    if closed_now.rows_affected() == 0 {
        return Err(closed(&stocktake));
    }
    tx.commit().await.map_err(backend)?;
    Ok(stocktake)
}
