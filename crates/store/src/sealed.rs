//! Re-sealing for a rotation of the key-encryption key: every signing key and webhook secret
//! read, sealed again under the new key and written back in one transaction, which holds off
//! the writes that add sealed values meanwhile (a key rotation, a new webhook), so that none
//! is left sealed under the old key.

use crate::error::backend;
use crate::users::{begin_write, Conn, UserDialect};
use bookstore_core::auth::{AuthError, Reseal, Resealed, SealedStore};
use bookstore_core::ids::WebhookId;
use bookstore_core::webhook::secret_context;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// What a database adds: how the webhooks' rows are read and held.
pub(crate) trait SealedDialect: UserDialect {
    /// Every webhook's id and sealed secrets, locked until the end of the transaction where
    /// the database has row locks.
    const WEBHOOK_SECRETS: &'static str;
}

const SIGNING_KEYS: &str = "SELECT kid, sealed_private_key FROM signing_keys";
const SIGNING_KEY_UPDATE: &str = "UPDATE signing_keys SET sealed_private_key = $1 WHERE kid = $2";
const WEBHOOK_UPDATE: &str =
    "UPDATE webhooks SET sealed_secret = $1, previous_sealed_secret = $2 WHERE id = $3";

async fn reseal_all<D: SealedDialect>(store: &D, reseal: &Reseal<'_>) -> Result<Resealed, AuthError>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (String, Vec<u8>): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (Uuid, Vec<u8>, Option<Vec<u8>>): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q [u8]>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut tx = begin_write(store).await?;
    if let Some(lock) = D::LOCK_SIGNING_KEYS {
        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
    }
    let keys: Vec<(String, Vec<u8>)> = sqlx::query_as(SIGNING_KEYS)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    let mut resealed = Resealed::default();
    for (kid, sealed) in &keys {
        let again = reseal(sealed, kid)?;
        sqlx::query(SIGNING_KEY_UPDATE)
            .bind(again.as_slice())
            .bind(kid.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        resealed.signing_keys += 1;
    }
    let webhooks: Vec<(Uuid, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(D::WEBHOOK_SECRETS)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    for (id, sealed, previous) in &webhooks {
        let context = secret_context(WebhookId::from_uuid(*id));
        let again = reseal(sealed, &context)?;
        let previous = previous
            .as_deref()
            .map(|previous| reseal(previous, &context))
            .transpose()?;
        sqlx::query(WEBHOOK_UPDATE)
            .bind(again.as_slice())
            .bind(previous.as_deref())
            .bind(*id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        resealed.webhook_secrets += 1 + usize::from(previous.is_some());
    }
    tx.commit().await.map_err(backend)?;
    Ok(resealed)
}

#[async_trait::async_trait]
impl SealedStore for crate::sqlite::SqliteStore {
    #[tracing::instrument(skip_all)]
    async fn reseal_all(&self, reseal: &Reseal<'_>) -> Result<Resealed, AuthError> {
        reseal_all(self, reseal).await
    }
}

#[async_trait::async_trait]
impl SealedStore for crate::postgres::PgStore {
    #[tracing::instrument(skip_all)]
    async fn reseal_all(&self, reseal: &Reseal<'_>) -> Result<Resealed, AuthError> {
        reseal_all(self, reseal).await
    }
}
