//! Genres: create, read and list, and the checks that keep the tree a tree (renames and
//! re-parenting are in `renames.rs`, deletes in `named.rs`).

use super::named::{create_named, scalar_in_tx, NamedRow};
use super::{begin_write, Dialect};
use crate::error::{backend, is_foreign_key_violation};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::{Genre, GenreDraft, GenreId, IdempotencyRequest, StoreError};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The row `draft` writes for the genre `id` at `at`.
pub(crate) fn genre_row(
    id: Uuid,
    draft: &GenreDraft,
    at: DateTime<Utc>,
) -> NamedRow<'_, Option<Uuid>> {
    NamedRow {
        entity: "genre",
        id,
        name: draft.name(),
        detail: draft.parent_id().map(|p| p.as_uuid()),
        at,
    }
}

/// A foreign key violation on a genre write: the parent was deleted meanwhile.
pub(crate) fn parent_gone(err: sqlx::Error, parent: Option<GenreId>) -> StoreError {
    match parent {
        Some(parent) if is_foreign_key_violation(&err) => StoreError::UnknownReference {
            field: "parent_id".into(),
            entity: "genre",
            id: parent.as_uuid(),
        },
        _ => backend(err),
    }
}

/// Checks that `parent` exists and that nesting `genre` under it closes no
/// cycle.
pub(crate) async fn check_parent<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    genre: Option<Uuid>,
    parent: Option<GenreId>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (String,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let Some(parent) = parent else {
        return Ok(());
    };
    if scalar_in_tx::<D, String>(&mut *conn, sql::GENRE_NAME_BY_ID, parent.as_uuid())
        .await?
        .is_none()
    {
        return Err(StoreError::UnknownReference {
            field: "parent_id".into(),
            entity: "genre",
            id: parent.as_uuid(),
        });
    }
    if let Some(genre) = genre {
        let hits: i64 = sqlx::query_scalar(sql::GENRE_IS_SELF_OR_ANCESTOR)
            .bind(parent.as_uuid())
            .bind(genre)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
        if hits > 0 {
            return Err(StoreError::GenreCycle);
        }
    }
    Ok(())
}

pub(crate) async fn create_genre_once<D: Dialect>(
    store: &D,
    draft: &GenreDraft,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<Genre, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (String,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let id = GenreId::generate();
    let mut tx = begin_write(store).await?;
    check_parent::<D>(&mut tx, None, draft.parent_id()).await?;
    let genre = Genre {
        id,
        name: draft.name().to_owned(),
        parent_id: draft.parent_id(),
        book_count: 0,
        created_at: now,
        updated_at: now,
    };
    let row = genre_row(id.as_uuid(), draft, now);
    let failed = |err| parent_gone(err, draft.parent_id());
    create_named::<D, _, _>(tx, sql::GENRE_INSERT, row, failed, genre, idempotency).await
}

/// The genre reads of `$store`, whose database is `$db`.
macro_rules! impl_genres {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn find_genre(&self, id: GenreId) -> Result<Option<Genre>, StoreError> {
                let row: Option<GenreRow> = sqlx::query_as(sql::GENRE_BY_ID)
                    .bind(id.as_uuid())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                Ok(row.map(Genre::from))
            }

            async fn genre_page(&self, page: &PageRequest) -> Result<Page<Genre>, StoreError> {
                const LIST: &str = "genres";
                let after = match page.cursor.as_deref() {
                    Some(c) => Some(cursor::decode_keyed(LIST, c)?),
                    None => None,
                };
                let mut select = QueryBuilder::<$db>::new(sql::GENRE_SELECT);
                if let Some((key, id)) = after {
                    select
                        .push(" WHERE (g.name_key, g.id) > (")
                        .push_bind(key)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                select
                    .push(" ORDER BY g.name_key, g.id LIMIT ")
                    .push_bind(limit_plus_one(page));
                let rows: Vec<GenreRow> = select
                    .build_query_as()
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                into_page(
                    rows,
                    page.limit.get(),
                    |last| cursor::encode_keyed(LIST, &last.name_key, last.id()),
                    |row| Ok(Genre::from(row)),
                )
            }
        }
    };
}
pub(crate) use impl_genres;
