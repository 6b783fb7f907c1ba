//! `Idempotency-Key` on creating `POST`s: the key, scoped to the caller, and a fingerprint of
//! the request (its path and body), so that a key reused for another request is refused.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use bookstore_core::IdempotencyRequest;
use sha2::{Digest, Sha256};

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The idempotency of a create at `path` with `body`, if the request carries a key.
pub fn request(
    headers: &HeaderMap,
    caller: &Caller,
    path: &str,
    body: &[u8],
) -> ApiResult<Option<IdempotencyRequest>> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| is_valid_key(k))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, \
                 visible at both ends."
            ))
        })?;
    // The path is part of the request: one key sent to two routes (or for two books) is
    // two requests, and the second is refused like a changed body.
    let mut digest = Sha256::new();
    digest.update(path.as_bytes());
    digest.update([0]);
    digest.update(body);
    Ok(Some(IdempotencyRequest {
        scope: caller.0.subject.clone(),
        key: key.to_owned(),
        fingerprint: digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }))
}

/// 1 to 255 printable ASCII characters, visible at both ends (as the document's pattern says):
/// a tab, which a header value may carry, is no part of a key.
fn is_valid_key(key: &str) -> bool {
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    let bytes = key.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= MAX_IDEMPOTENCY_KEY
                && visible(first)
                && visible(last)
                && bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        }
        _ => false,
    }
}

/// Marks an answer that replays the first request's (`Idempotent-Replayed: true`).
pub fn mark_replayed(response: &mut Response, replayed: bool) {
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
}
