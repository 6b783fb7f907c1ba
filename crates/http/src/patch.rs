//! JSON Merge Patch (RFC 7396) onto a typed document.

use crate::error::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Merges `patch` into `base` and reads the result back, reporting fields by name.
pub fn apply<T: Serialize + DeserializeOwned>(base: &T, patch: &Value) -> ApiResult<T> {
    if !patch.is_object() {
        return Err(ApiError::field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let document = serde_json::to_value(base).map_err(|_| ApiError::internal())?;
    merge(document, patch)
}

/// Merges `patch` into `document` and reads the result as a `T`. A `null` in a merge patch
/// removes a member, so an unknown field set to `null` would vanish without a word: the
/// patch's names are checked against `T` (unknown ones refused whatever their value) before
/// the merged document is read.
pub fn merge<T: DeserializeOwned>(mut document: Value, patch: &Value) -> ApiResult<T> {
    json_patch::merge(&mut document, patch);
    let mut probe = document.clone();
    put_back_nulls(&mut probe, patch);
    if probe != document {
        crate::extract::read_value::<T>(probe)?;
    }
    crate::extract::read_value(document)
}

/// Sets every member the patch removed back to `null`, so that reading the result names
/// members `T` does not have.
fn put_back_nulls(target: &mut Value, patch: &Value) {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.entry(key.clone()).or_insert(Value::Null);
        } else if let Some(child) = target.get_mut(key) {
            put_back_nulls(child, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Input {
        name: Option<String>,
        bio: Option<String>,
        price: Option<Price>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Price {
        amount: Option<String>,
    }

    fn base() -> Input {
        Input {
            name: Some("Ann".into()),
            bio: Some("b".into()),
            price: Some(Price {
                amount: Some("1".into()),
            }),
        }
    }

    #[test]
    fn unknown_fields_are_refused_whatever_their_value() {
        for patch in [
            serde_json::json!({"foo": null}),
            serde_json::json!({"": null}),
            serde_json::json!({"foo": 1}),
            serde_json::json!({"name": "x", "foo": null}),
            serde_json::json!({"price": {"foo": null}}),
        ] {
            let err = apply(&base(), &patch).expect_err("unknown field");
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
            assert!(
                err.problem().errors[0].message.contains("unknown field"),
                "{patch}: {:?}",
                err.problem()
            );
        }
    }

    #[test]
    fn known_fields_merge() {
        let merged = apply(&base(), &serde_json::json!({"bio": null, "name": "Bo"})).expect("ok");
        assert_eq!(merged.bio, None);
        assert_eq!(merged.name.as_deref(), Some("Bo"));
        let merged = apply(&base(), &serde_json::json!({"price": {"amount": null}})).expect("ok");
        assert_eq!(merged.price, Some(Price { amount: None }));
        assert_eq!(apply(&base(), &serde_json::json!({})).expect("ok"), base());
    }
}
