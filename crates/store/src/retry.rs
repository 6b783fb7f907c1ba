//! Write transactions that lost to a concurrent one: PostgreSQL aborts one of two deadlocked
//! transactions (`40P01`) and, at stricter isolation levels, one whose reads a concurrent
//! commit invalidated (`40001`). Neither says anything about the request: run it again, a
//! few times, after a short random pause so that the two do not collide again in step.

use bookstore_core::StoreError;
use std::future::Future;
use std::time::Duration;

/// Attempts of one write, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// Whether the error is a transaction that the database aborted only for a concurrent one.
pub(crate) fn is_transient(err: &StoreError) -> bool {
    let StoreError::Backend(source) = err else {
        return false;
    };
    match source.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

/// The pause before attempt `attempt + 1`: up to 10, 20, 40, 80 ms, uniformly at random
/// ("full jitter").
fn pause(attempt: u32) -> Duration {
    let ceiling_us = 10_000u64 << attempt.saturating_sub(1).min(6);
    let random = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    Duration::from_micros(1_000 + random % ceiling_us)
}

/// Runs `write` (one transaction each time) until it succeeds, fails for a reason of its
/// own, or has been tried [`MAX_ATTEMPTS`] times.
pub(crate) async fn retrying<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(err) if attempt < MAX_ATTEMPTS && is_transient(&err) => {
                tracing::info!(attempt, error = %err, "write transaction aborted by a concurrent one; retrying");
                tokio::time::sleep(pause(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn pauses_grow_and_stay_bounded() {
        for attempt in 1..=MAX_ATTEMPTS {
            let ceiling = Duration::from_micros(1_000 + (10_000u64 << (attempt - 1)));
            for _ in 0..50 {
                assert!(pause(attempt) < ceiling);
            }
        }
    }

    #[tokio::test]
    async fn errors_of_the_request_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), StoreError> = retrying(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::NotFound { entity: "book" })
        })
        .await;
        assert!(matches!(result, Err(StoreError::NotFound { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!is_transient(&StoreError::backend(
            sqlx::Error::PoolTimedOut
        )));
    }
}
