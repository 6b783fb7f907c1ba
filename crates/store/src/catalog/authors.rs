//! Authors: create, read and list (renames are in `renames.rs`, deletes in `named.rs`).

use super::named::{create_named, NamedRow};
use super::{begin_write, Dialect};
use crate::error::backend;
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::{Author, AuthorDraft, AuthorId, IdempotencyRequest, StoreError};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
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
