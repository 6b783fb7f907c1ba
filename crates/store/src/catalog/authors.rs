//! Authors: create, read, list and delete (renames are in `renames.rs`).

use super::named::NamedRow;
use bookstore_core::AuthorDraft;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The row `draft` writes for the author `id` at `at`.
pub(crate) fn author_row(id: Uuid, draft: &AuthorDraft, at: DateTime<Utc>) -> NamedRow<'_, Option<String>> {
    NamedRow {
        entity: "author",
        id,
        name: draft.name(),
        detail: draft.bio().map(str::to_owned),
        at,
    }
}

/// The author reads and writes of `$store`, whose database is `$db`.
macro_rules! impl_authors {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn create_author_once(
                &self,
                draft: &AuthorDraft,
                idempotency: Option<&IdempotencyRequest>,
            ) -> Result<Author, StoreError> {
                let now = time::now();
                let id = AuthorId::generate();
                let tx = self.begin_write().await?;
                let author = Author {
                    id,
                    name: draft.name().to_owned(),
                    bio: draft.bio().map(str::to_owned),
                    book_count: 0,
                    created_at: now,
                    updated_at: now,
                };
                let row = author_row(id.as_uuid(), draft, now);
                create_named::<Self, _, _>(tx, sql::AUTHOR_INSERT, row, backend, author, idempotency)
                    .await
            }

            async fn delete_author_once(&self, id: AuthorId) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let books =
                    count_in_tx::<Self>(&mut tx, sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
                if books > 0 {
                    return Err(StoreError::InUse {
                        entity: "author",
                        count: books,
                    });
                }
                let deleted = sqlx::query(sql::AUTHOR_DELETE)
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await;
                match deleted {
                    Ok(done) if done.rows_affected() == 0 => {
                        Err(StoreError::NotFound { entity: "author" })
                    }
                    Ok(_) => tx.commit().await.map_err(backend),
                    Err(err) if is_foreign_key_violation(&err) => {
                        // A concurrent write started using the author.
                        tx.rollback().await.map_err(backend)?;
                        let count = count(self, sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
                        Err(StoreError::InUse {
                            entity: "author",
                            count: count.max(1),
                        })
                    }
                    Err(err) => Err(backend(err)),
                }
            }

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
