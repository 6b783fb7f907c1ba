//! Authors: create, read, list and delete (renames are in `renames.rs`).

use super::named::{count, count_in_tx, create_named, delete_named, NamedRow};
use super::{begin_write, Dialect, RowsAffected};
use crate::error::backend;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::{Author, AuthorDraft, AuthorId, IdempotencyRequest, StoreError};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The row `draft` writes for the author `id` at `at`.
pub(crate) fn author_row(
    id: Uuid,
    draft: &AuthorDraft,
    at: DateTime<Utc>,
) -> NamedRow<'_, Option<String>> {
    NamedRow {
        entity: "author",
        id,
        name: draft.name(),
        detail: draft.bio().map(str::to_owned),
        at,
    }
}

pub(crate) async fn create_author_once<D: Dialect>(
    store: &D,
    draft: &AuthorDraft,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<Author, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let id = AuthorId::generate();
    let tx = begin_write(store).await?;
    let author = Author {
        id,
        name: draft.name().to_owned(),
        bio: draft.bio().map(str::to_owned),
        book_count: 0,
        created_at: now,
        updated_at: now,
    };
    let row = author_row(id.as_uuid(), draft, now);
    create_named::<D, _, _>(tx, sql::AUTHOR_INSERT, row, backend, author, idempotency).await
}

pub(crate) async fn delete_author_once<D: Dialect>(
    store: &D,
    id: AuthorId,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
{
    let mut tx = begin_write(store).await?;
    let books = count_in_tx::<D>(&mut tx, sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
    if books > 0 {
        return Err(StoreError::InUse {
            entity: "author",
            count: books,
        });
    }
    if delete_named::<D>(tx, sql::AUTHOR_DELETE, "author", id.as_uuid()).await? {
        return Ok(());
    }
    // A concurrent write started using the author.
    let count = count(store, sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
    Err(StoreError::InUse {
        entity: "author",
        count: count.max(1),
    })
}

/// The author reads of `$store`, whose database is `$db`.
macro_rules! impl_authors {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn find_author(&self, id: AuthorId) -> Result<Option<Author>, StoreError> {
                let row: Option<AuthorRow> = sqlx::query_as(sql::AUTHOR_BY_ID)
                    .bind(id.as_uuid())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                Ok(row.map(Author::from))
            }

            async fn author_page(
                &self,
                name_query: Option<&str>,
                page: &PageRequest,
            ) -> Result<Page<Author>, StoreError> {
                const LIST: &str = "authors";
                let after = match page.cursor.as_deref() {
                    Some(c) => Some(cursor::decode_keyed(LIST, c)?),
                    None => None,
                };
                let needle = name_query.map(fold_key).filter(|q| !q.is_empty());
                let mut select = QueryBuilder::<$db>::new(sql::AUTHOR_SELECT);
                select.push(" WHERE 1 = 1");
                if let Some(needle) = needle {
                    select
                        .push(" AND a.name_key LIKE ")
                        .push_bind(sql::contains_pattern(&needle))
                        .push(" ESCAPE '\\'");
                }
                if let Some((key, id)) = after {
                    select
                        .push(" AND (a.name_key, a.id) > (")
                        .push_bind(key)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                select
                    .push(" ORDER BY a.name_key, a.id LIMIT ")
                    .push_bind(limit_plus_one(page));
                let rows: Vec<AuthorRow> = select
                    .build_query_as()
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                into_page(
                    rows,
                    page.limit.get(),
                    |last| cursor::encode_keyed(LIST, &last.name_key, last.id()),
                    |row| Ok(Author::from(row)),
                )
            }
        }
    };
}
pub(crate) use impl_authors;
