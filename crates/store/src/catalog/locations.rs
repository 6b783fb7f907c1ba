//! Stock locations: create, change, delete (each checked against the tree and the stock), and
//! the [`InventoryStore`](bookstore_core::InventoryStore) port, whose stock writes are in
//! `stock.rs`.

use super::idempotency::store_idempotency;
use super::{begin_write, Dialect};
use crate::error::{backend, duplicate_name, is_foreign_key_violation, json_error};
use crate::rows::LocationRow;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::location::DEFAULT_LOCATION;
use bookstore_core::{
    IdempotencyRequest, Location, LocationDraft, LocationId, StoreError, ValidationErrors,
};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// Checks that the draft's parent exists and that putting `location` inside it closes no
/// cycle, and that no other location has the draft's code.
async fn check_draft<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    location: Uuid,
    draft: &LocationDraft,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    if let Some(lock) = D::GENRE_TREE_LOCK {
        // The genre tree's lock serves the location tree too: both change rarely.
        sqlx::query(lock)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    let taken: i64 = sqlx::query_scalar(sql::LOCATION_CODE_TAKEN)
        .bind(draft.code())
        .bind(location)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    if taken > 0 {
        return Err(StoreError::DuplicateName {
            entity: "location",
            name: draft.code().to_owned(),
        });
    }
    let Some(parent) = draft.parent_id() else {
        return Ok(());
    };
    let exists: Option<(Uuid, String)> = sqlx::query_as(sql::LOCATION_ID_CODE_BY_ID)
        .bind(parent.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if exists.is_none() {
        return Err(StoreError::UnknownReference {
            field: "parent_id".into(),
            entity: "location",
            id: parent.as_uuid(),
        });
    }
    let hits: i64 = sqlx::query_scalar(sql::LOCATION_IS_SELF_OR_ANCESTOR)
        .bind(parent.as_uuid())
        .bind(location)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    if hits > 0 {
        return Err(StoreError::Invalid(ValidationErrors::single(
            "parent_id",
            "a location cannot be inside itself or a location inside it",
        )));
    }
    Ok(())
}

/// A write error: a unique violation is a code taken meanwhile, a foreign key violation a
/// parent deleted meanwhile.
fn write_error(err: sqlx::Error, draft: &LocationDraft) -> StoreError {
    match draft.parent_id() {
        Some(parent) if is_foreign_key_violation(&err) => StoreError::UnknownReference {
            field: "parent_id".into(),
            entity: "location",
            id: parent.as_uuid(),
        },
        _ => duplicate_name(err, "location", draft.code()),
    }
}

async fn read_location<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: Uuid,
) -> Result<Location, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    LocationRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: Option<LocationRow> = sqlx::query_as(sql::LOCATION_BY_ID)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    row.ok_or(StoreError::NotFound { entity: "location" })?
        .try_into()
}

pub(crate) async fn create_location_once<D: Dialect>(
    store: &D,
    draft: &LocationDraft,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<Location, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    LocationRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let id = LocationId::generate().as_uuid();
    let mut tx = begin_write(store).await?;
    check_draft::<D>(&mut tx, id, draft).await?;
    sqlx::query(sql::LOCATION_INSERT)
        .bind(id)
        .bind(draft.code())
        .bind(draft.name())
        .bind(draft.kind().as_str())
        .bind(draft.parent_id().map(|p| p.as_uuid()))
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(|err| write_error(err, draft))?;
    let location = read_location::<D>(&mut tx, id).await?;
    if let Some(request) = idempotency {
        let response = serde_json::to_value(&location).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, now).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(location)
}

pub(crate) async fn update_location_once<D: Dialect>(
    store: &D,
    id: LocationId,
    draft: &LocationDraft,
) -> Result<Location, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, String): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    LocationRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let current = read_location::<D>(&mut tx, id.as_uuid()).await?;
    if current.is_default() && draft.parent_id().is_some() {
        return Err(StoreError::Invalid(ValidationErrors::single(
            "kind",
            "the default location cannot become a shelf inside another location",
        )));
    }
    check_draft::<D>(&mut tx, id.as_uuid(), draft).await?;
    sqlx::query(sql::LOCATION_UPDATE)
        .bind(id.as_uuid())
        .bind(draft.code())
        .bind(draft.name())
        .bind(draft.kind().as_str())
        .bind(draft.parent_id().map(|p| p.as_uuid()))
        .bind(DbTime(now))
        .execute(&mut *tx)
        .await
        .map_err(|err| write_error(err, draft))?;
    let location = read_location::<D>(&mut tx, id.as_uuid()).await?;
    tx.commit().await.map_err(backend)?;
    Ok(location)
}

pub(crate) async fn delete_location_once<D: Dialect>(
    store: &D,
    id: LocationId,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    LocationRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let in_use = |detail: String| StoreError::Conflict {
        problem: "in-use",
        detail,
    };
    let mut tx = begin_write(store).await?;
    if let Some(lock) = D::GENRE_TREE_LOCK {
        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
    }
    let location = read_location::<D>(&mut tx, id.as_uuid()).await?;
    if id == DEFAULT_LOCATION {
        return Err(in_use(format!(
            "'{}' is the default location, where stock is kept unless a location is named; \
             it cannot be deleted",
            location.code
        )));
    }
    let children: i64 = sqlx::query_scalar(sql::LOCATION_CHILD_COUNT)
        .bind(id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    if children > 0 {
        return Err(in_use(format!(
            "location '{}' has {children} location(s) inside it; move or delete them first",
            location.code
        )));
    }
    let counting: i64 = sqlx::query_scalar(sql::STOCKTAKES_OPEN_AT)
        .bind(id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    if counting > 0 {
        return Err(in_use(format!(
            "location '{}' is being counted (an open stocktake); commit or cancel it first",
            location.code
        )));
    }
    // Stock levels change under each book's lock, not the location's: on PostgreSQL a
    // movement committing meanwhile is caught by the foreign key below.
    let stock: i64 = sqlx::query_scalar(sql::LOCATION_STOCK)
        .bind(id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    if stock > 0 {
        return Err(in_use(format!(
            "location '{}' holds {stock} copies; transfer them elsewhere first",
            location.code
        )));
    }
    sqlx::query(sql::LOCATION_EMPTY_LEVELS_DELETE)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(sql::LOCATION_DELETE)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                in_use(format!(
                    "location '{}' received stock meanwhile; transfer it elsewhere first",
                    location.code
                ))
            } else {
                backend(err)
            }
        })?;
    tx.commit().await.map_err(backend)
}

/// Implements [`InventoryStore`](bookstore_core::InventoryStore) for `$store`, a [`Dialect`]
/// whose database is `$db`.
macro_rules! impl_inventory_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::{
                Book, BookId, CountDraft, IdempotencyRequest, InventoryStore, Location,
                LocationDraft, LocationId, LocationRef, Page, PageRequest, Precondition,
                StockLevel, StockMovement, Stocktake, StocktakeDraft, StocktakeId, StocktakeLine,
                StoreError, TransferDraft, WriteContext,
            };
            use uuid::Uuid;
            use $crate::catalog::{
                into_page, limit_plus_one, locations, stock, stocktakes, Dialect,
            };
            use $crate::cursor;
            use $crate::error::backend;
            use $crate::retry::retrying;
            use $crate::rows::{LocationRow, StockLevelRow, StocktakeLineRow, StocktakeRow};
            use $crate::sql;

            #[async_trait::async_trait]
            impl InventoryStore for $store {
                #[tracing::instrument(skip_all)]
                async fn list_locations(
                    &self,
                    page: &PageRequest,
                ) -> Result<Page<Location>, StoreError> {
                    const LIST: &str = "locations";
                    // Codes are never empty: '' is before the first.
                    let after = match page.cursor.as_deref() {
                        Some(c) => cursor::decode_keyed(LIST, c)?.0,
                        None => String::new(),
                    };
                    let rows: Vec<LocationRow> = sqlx::query_as(sql::LOCATION_PAGE)
                        .bind(after)
                        .bind(limit_plus_one(page))
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_keyed(LIST, last.code(), last.id()),
                        Location::try_from,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_location(
                    &self,
                    id: LocationId,
                ) -> Result<Option<Location>, StoreError> {
                    let row: Option<LocationRow> = sqlx::query_as(sql::LOCATION_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(Location::try_from).transpose()
                }

                #[tracing::instrument(skip_all, fields(location = %location))]
                async fn find_location(
                    &self,
                    location: &LocationRef,
                ) -> Result<Option<Location>, StoreError> {
                    let row: Option<LocationRow> = match location {
                        LocationRef::Id(id) => sqlx::query_as(sql::LOCATION_BY_ID)
                            .bind(id.as_uuid())
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?,
                        // Codes are stored in lower case.
                        LocationRef::Code(code) => sqlx::query_as(sql::LOCATION_BY_CODE)
                            .bind(code.to_ascii_lowercase())
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?,
                    };
                    row.map(Location::try_from).transpose()
                }

                #[tracing::instrument(skip_all)]
                async fn create_location(
                    &self,
                    draft: &LocationDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Location, StoreError> {
                    retrying(|| locations::create_location_once(self, draft, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_location(
                    &self,
                    id: LocationId,
                    draft: &LocationDraft,
                ) -> Result<Location, StoreError> {
                    retrying(|| locations::update_location_once(self, id, draft)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_location(&self, id: LocationId) -> Result<(), StoreError> {
                    retrying(|| locations::delete_location_once(self, id)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn book_stock(
                    &self,
                    id: BookId,
                ) -> Result<Option<Vec<StockLevel>>, StoreError> {
                    let exists: i64 = sqlx::query_scalar(sql::BOOK_EXISTS)
                        .bind(id.as_uuid())
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)?;
                    if exists == 0 {
                        return Ok(None);
                    }
                    let rows: Vec<StockLevelRow> = sqlx::query_as(sql::STOCK_LEVELS_OF_BOOK)
                        .bind(id.as_uuid())
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    rows.into_iter()
                        .map(StockLevel::try_from)
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn transfer_stock(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &TransferDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<(Book, [StockMovement; 2]), StoreError> {
                    self.announcing_events(
                        retrying(|| {
                            stock::transfer_stock_once(self, id, expected, draft, ctx, idempotency)
                        })
                        .await,
                    )
                }

                #[tracing::instrument(skip_all)]
                async fn open_stocktake(
                    &self,
                    draft: &StocktakeDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Stocktake, StoreError> {
                    retrying(|| stocktakes::open_stocktake_once(self, draft, ctx, idempotency))
                        .await
                }

                #[tracing::instrument(skip_all)]
                async fn list_stocktakes(
                    &self,
                    page: &PageRequest,
                ) -> Result<Page<Stocktake>, StoreError> {
                    const LIST: &str = "stocktakes";
                    let rows: Vec<StocktakeRow> = match page.cursor.as_deref() {
                        None => sqlx::query_as(sql::STOCKTAKE_FIRST_PAGE)
                            .bind(limit_plus_one(page))
                            .fetch_all(self.reader())
                            .await
                            .map_err(backend)?,
                        Some(c) => sqlx::query_as(sql::STOCKTAKE_NEXT_PAGE)
                            .bind(cursor::decode_id(LIST, c)?)
                            .bind(limit_plus_one(page))
                            .fetch_all(self.reader())
                            .await
                            .map_err(backend)?,
                    };
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_id(LIST, last.id()),
                        Stocktake::try_from,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_stocktake(
                    &self,
                    id: StocktakeId,
                    page: &PageRequest,
                ) -> Result<Option<Stocktake>, StoreError> {
                    let row: Option<StocktakeRow> = sqlx::query_as(sql::STOCKTAKE_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    let mut stocktake = Stocktake::try_from(row)?;
                    // A cursor of one stocktake's lines is refused by another's.
                    let list = format!("stocktake-lines:{id}");
                    let collate = <Self as Dialect>::COLLATE_BYTES;
                    let rows: Vec<StocktakeLineRow> = match page.cursor.as_deref() {
                        None => sqlx::query_as(&sql::stocktake_lines_page(collate, false))
                            .bind(id.as_uuid())
                            .bind(limit_plus_one(page))
                            .fetch_all(self.reader())
                            .await
                            .map_err(backend)?,
                        Some(c) => {
                            let (key, book) = cursor::decode_keyed(&list, c)?;
                            let (isbn, code, location): (String, String, Uuid) =
                                serde_json::from_str(&key)
                                    .map_err(|_| StoreError::InvalidCursor)?;
                            sqlx::query_as(&sql::stocktake_lines_page(collate, true))
                                .bind(id.as_uuid())
                                .bind(limit_plus_one(page))
                                .bind(isbn)
                                .bind(code)
                                .bind(book)
                                .bind(location)
                                .fetch_all(self.reader())
                                .await
                                .map_err(backend)?
                        }
                    };
                    let lines = into_page(
                        rows,
                        page.limit.get(),
                        |last| {
                            let (isbn, code, book, location) = last.position();
                            let key = serde_json::json!([isbn, code, location]).to_string();
                            cursor::encode_keyed(&list, &key, book)
                        },
                        |row| Ok(StocktakeLine::from(row)),
                    )?;
                    stocktake.lines = lines.items;
                    stocktake.lines_next_cursor = lines.next_cursor;
                    Ok(Some(stocktake))
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn record_count(
                    &self,
                    id: StocktakeId,
                    draft: &CountDraft,
                ) -> Result<(Stocktake, StocktakeLine), StoreError> {
                    retrying(|| stocktakes::record_count_once(self, id, draft)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn commit_stocktake(
                    &self,
                    id: StocktakeId,
                    expected: &Precondition,
                    ctx: &WriteContext,
                ) -> Result<Stocktake, StoreError> {
                    self.announcing_events(
                        retrying(|| stocktakes::commit_stocktake_once(self, id, expected, ctx))
                            .await,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn cancel_stocktake(&self, id: StocktakeId) -> Result<Stocktake, StoreError> {
                    retrying(|| stocktakes::cancel_stocktake_once(self, id)).await
                }
            }
        };
    };
}
pub(crate) use impl_inventory_store;
