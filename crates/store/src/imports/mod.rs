//! The one implementation of [`ImportStore`](bookstore_core::import::ImportStore), expanded
//! for each database by [`impl_import_store!`] like the webhook store: the record of imports,
//! their progress (also their heartbeat) and their rejected rows. The books an import writes
//! go through the catalog (`catalog/import.rs`).

pub(crate) mod rows;
pub(crate) mod sql;

/// Implements [`ImportStore`](bookstore_core::import::ImportStore) for `$store`, a
/// [`Dialect`](crate::catalog::Dialect) whose database is `$db`.
macro_rules! impl_import_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::import::{
                Import, ImportProgress, ImportRowError, ImportState, ImportStore, NewImport,
                MAX_KEPT_ERRORS,
            };
            use bookstore_core::{IdempotencyRequest, ImportId, Page, PageRequest, StoreError};
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Transaction};
            use $crate::catalog::{into_page, limit_plus_one, Dialect};
            use $crate::cursor;
            use $crate::error::{backend, json_error};
            use $crate::imports::rows::{count, ErrorRow, ImportRow};
            use $crate::imports::sql;
            use $crate::time::{self, DbTime};

            /// The cursor list name of an import's errors.
            const ERRORS_LIST: &str = "import_errors";

            async fn begin(store: &$store) -> Result<Transaction<'static, $db>, StoreError> {
                store
                    .writer()
                    .begin_with(<$store as Dialect>::BEGIN_WRITE)
                    .await
                    .map_err(backend)
            }

            async fn fetch(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: ImportId,
            ) -> Result<Option<Import>, StoreError> {
                let row: Option<ImportRow> = sqlx::query_as(sql::IMPORT_GET)
                    .bind(id.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
                row.map(Import::try_from).transpose()
            }

            /// Writes the totals and the heartbeat of a running import; whether it was running.
            async fn write_progress(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: ImportId,
                progress: &ImportProgress,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let c = &progress.counts;
                let done = sqlx::query(sql::IMPORT_PROGRESS)
                    .bind(id.as_uuid())
                    .bind(count(c.read))
                    .bind(count(c.created))
                    .bind(count(c.updated))
                    .bind(count(c.unchanged))
                    .bind(count(c.rejected))
                    .bind(count(progress.bytes_read))
                    .bind(DbTime(now))
                    .bind(DbTime(now))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected() > 0)
            }

            #[async_trait::async_trait]
            impl ImportStore for $store {
                #[tracing::instrument(skip_all, fields(id = %new.id))]
                async fn create_import(
                    &self,
                    new: &NewImport,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Import, StoreError> {
                    let now = time::now();
                    let mut tx = begin(self).await?;
                    sqlx::query(sql::IMPORT_INSERT)
                        .bind(new.id.as_uuid())
                        .bind(new.format.as_str())
                        .bind(new.mode.as_str())
                        .bind(new.dry_run)
                        .bind(new.bytes_total.map(count))
                        .bind(new.started_by.as_str())
                        .bind(DbTime(now))
                        .bind(DbTime(now))
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let import = fetch(&mut tx, new.id)
                        .await?
                        .ok_or(StoreError::NotFound { entity: "import" })?;
                    if let Some(request) = idempotency {
                        let response = serde_json::to_value(&import).map_err(json_error)?;
                        $crate::catalog::idempotency::store_idempotency::<$store>(
                            &mut tx, request, &response, now,
                        )
                        .await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(import)
                }

                #[tracing::instrument(skip_all, fields(id = %id, errors = errors.len()))]
                async fn record_import_progress(
                    &self,
                    id: ImportId,
                    progress: &ImportProgress,
                    errors: &[ImportRowError],
                ) -> Result<(), StoreError> {
                    let now = time::now();
                    let mut tx = begin(self).await?;
                    if !write_progress(&mut tx, id, progress, now).await? {
                        return Err(StoreError::NotFound { entity: "import" });
                    }
                    let kept: i64 = sqlx::query_scalar(sql::IMPORT_ERRORS_KEPT)
                        .bind(id.as_uuid())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let room = usize::try_from(count(MAX_KEPT_ERRORS) - kept).unwrap_or(0);
                    let errors = &errors[..errors.len().min(room)];
                    // Well under either database's limit of parameters per statement.
                    for (chunk_index, chunk) in errors.chunks(500).enumerate() {
                        let first = kept + 1 + (chunk_index * 500) as i64;
                        let mut insert = QueryBuilder::<$db>::new(sql::IMPORT_ERRORS_INSERT);
                        insert.push_values(chunk.iter().enumerate(), |mut row, (i, e)| {
                            row.push_bind(id.as_uuid())
                                .push_bind(first + i as i64)
                                .push_bind(count(e.line))
                                .push_bind(e.record_reference.clone())
                                .push_bind(e.isbn.clone())
                                .push_bind(e.field.clone())
                                .push_bind(e.message.clone());
                        });
                        insert.build().execute(&mut *tx).await.map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn finish_import(
                    &self,
                    id: ImportId,
                    progress: &ImportProgress,
                    failure: Option<&str>,
                ) -> Result<Import, StoreError> {
                    let now = time::now();
                    let mut tx = begin(self).await?;
                    if write_progress(&mut tx, id, progress, now).await? {
                        let state = match failure {
                            None => ImportState::Done,
                            Some(_) => ImportState::Failed,
                        };
                        sqlx::query(sql::IMPORT_FINISH)
                            .bind(id.as_uuid())
                            .bind(state.as_str())
                            .bind(failure)
                            .bind(DbTime(now))
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                    // An import failed as stale meanwhile stays failed.
                    let import = fetch(&mut tx, id)
                        .await?
                        .ok_or(StoreError::NotFound { entity: "import" })?;
                    tx.commit().await.map_err(backend)?;
                    Ok(import)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_import(&self, id: ImportId) -> Result<Option<Import>, StoreError> {
                    let row: Option<ImportRow> = sqlx::query_as(sql::IMPORT_GET)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    row.map(Import::try_from).transpose()
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn import_errors(
                    &self,
                    id: ImportId,
                    page: &PageRequest,
                ) -> Result<Page<ImportRowError>, StoreError> {
                    let after = match page.cursor.as_deref() {
                        None => 0,
                        Some(c) => {
                            let (seq, of) = cursor::decode_keyed(ERRORS_LIST, c)?;
                            if of != id.as_uuid() {
                                return Err(StoreError::InvalidCursor);
                            }
                            seq.parse::<i64>().map_err(|_| StoreError::InvalidCursor)?
                        }
                    };
                    let rows: Vec<ErrorRow> = sqlx::query_as(sql::IMPORT_ERRORS_PAGE)
                        .bind(id.as_uuid())
                        .bind(after)
                        .bind(limit_plus_one(page))
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |row| cursor::encode_keyed(ERRORS_LIST, &row.seq.to_string(), id.as_uuid()),
                        |row| Ok(ImportRowError::from(row)),
                    )
                }

                #[tracing::instrument(skip_all)]
                async fn fail_stale_imports(
                    &self,
                    before: DateTime<Utc>,
                    reason: &str,
                ) -> Result<u64, StoreError> {
                    let now = time::now();
                    let done = sqlx::query(sql::IMPORT_FAIL_STALE)
                        .bind(reason)
                        .bind(DbTime(now))
                        .bind(DbTime(now))
                        .bind(DbTime(before))
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}

pub(crate) use impl_import_store;
