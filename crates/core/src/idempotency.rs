//! Idempotent creates: a request retried with the same `Idempotency-Key` and body is answered
//! with what the first one created, and one with another body is refused. The store keeps the
//! record in the transaction of the create, so a write and its record exist together or not
//! at all.

use crate::error::StoreError;
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use serde::de::DeserializeOwned;
use std::future::Future;

/// The result of a create: `replayed` when an `Idempotency-Key` retry returned the first
/// request's value instead of creating another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Created<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }
}

/// An `Idempotency-Key` came back with another request than its first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

/// What the first request with this key created, if the key was used (and not forgotten).
pub async fn replay<T, E>(
    store: &dyn IdempotencyStore,
    request: &IdempotencyRequest,
) -> Result<Option<Created<T>>, E>
where
    T: DeserializeOwned,
    E: From<StoreError> + From<KeyReused>,
{
    let Some(record) = store
        .find_idempotency_record(&request.scope, &request.key)
        .await?
    else {
        return Ok(None);
    };
    if record.fingerprint != request.fingerprint {
        return Err(KeyReused.into());
    }
    let value = serde_json::from_value(record.response).map_err(StoreError::backend)?;
    Ok(Some(Created {
        value,
        replayed: true,
    }))
}

/// Creates with `create` (which stores the record of `request` with what it creates), unless
/// the key was used already; a concurrent request with the same key that wins the race is
/// answered as it was.
pub async fn create_once<T, E, F, Fut>(
    store: &dyn IdempotencyStore,
    request: Option<&IdempotencyRequest>,
    create: F,
) -> Result<Created<T>, E>
where
    T: DeserializeOwned,
    E: From<StoreError> + From<KeyReused>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    if let Some(request) = request {
        if let Some(first) = replay::<T, E>(store, request).await? {
            return Ok(first);
        }
    }
    match create().await {
        Ok(value) => Ok(Created::new(value)),
        Err(StoreError::IdempotencyKeyTaken) => match request {
            Some(request) => replay::<T, E>(store, request)
                .await?
                .ok_or(StoreError::IdempotencyKeyTaken.into()),
            None => Err(StoreError::IdempotencyKeyTaken.into()),
        },
        Err(other) => Err(other.into()),
    }
}
