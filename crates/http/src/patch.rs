//! JSON Merge Patch (RFC 7396) onto a typed document.

use crate::error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Merges `patch` into `base` and reads the result back, reporting fields by name.
pub fn apply<T: Serialize + DeserializeOwned>(base: &T, patch: &serde_json::Value) -> ApiResult<T> {
    if !patch.is_object() {
        return Err(ApiError::field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let mut document = serde_json::to_value(base).map_err(|_| ApiError::internal())?;
    json_patch::merge(&mut document, patch);
    let bytes = serde_json::to_vec(&document).map_err(|_| ApiError::internal())?;
    crate::extract::parse_json(&bytes)
}
