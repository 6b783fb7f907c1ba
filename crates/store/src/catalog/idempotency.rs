//! Idempotency records: stored with what a create made, in its transaction; found again by a
//! retry of the same request.

/// The idempotency records of `$store`, whose database is `$db`.
macro_rules! impl_idempotency {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Stores what a create made under its idempotency key, in the create's
            /// transaction, forgetting expired keys on the way (this one's, and a batch of
            /// others). `IdempotencyKeyTaken` when a concurrent request holds the key.
            async fn store_idempotency(
                conn: &mut Conn,
                request: &IdempotencyRequest,
                response: &serde_json::Value,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let expired = DbTime(now - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS));
                sqlx::query(sql::IDEMPOTENCY_FORGET)
                    .bind(&request.scope)
                    .bind(&request.key)
                    .bind(expired)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                sqlx::query(<Self as Dialect>::PRUNE_IDEMPOTENCY)
                    .bind(expired)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                let stored = sqlx::query(sql::IDEMPOTENCY_INSERT)
                    .bind(&request.scope)
                    .bind(&request.key)
                    .bind(&request.fingerprint)
                    .bind(Json(response))
                    .bind(DbTime(now))
                    .execute(&mut *conn)
                    .await;
                match stored {
                    Ok(_) => Ok(()),
                    Err(err) if is_unique_violation(&err) => Err(StoreError::IdempotencyKeyTaken),
                    Err(err) => Err(backend(err)),
                }
            }
        }

        #[async_trait::async_trait]
        impl IdempotencyStore for $store {
            #[tracing::instrument(skip_all)]
            async fn find_idempotency_record(
                &self,
                scope: &str,
                key: &str,
            ) -> Result<Option<IdempotencyRecord>, StoreError> {
                let since = time::now() - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS);
                let row: Option<IdempotencyRow> = sqlx::query_as(sql::IDEMPOTENCY_SELECT)
                    .bind(scope)
                    .bind(key)
                    .bind(DbTime(since))
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                Ok(row.map(|row| IdempotencyRecord {
                    fingerprint: row.fingerprint,
                    response: row.response.0,
                }))
            }
        }
    };
}
pub(crate) use impl_idempotency;
