//! Strong entity tags from resource versions, and the `If-Match` / `If-None-Match` rules.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use bookstore_core::Precondition;

pub fn format(version: i64) -> String {
    format!("\"{version}\"")
}

/// The versions named by strong tags in a header value; weak or foreign tags never match.
fn listed_versions(value: &str) -> Vec<i64> {
    value
        .split(',')
        .map(str::trim)
        .filter_map(|tag| tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok())
        .collect()
}

/// The version a response's strong `ETag` names, if it has one.
pub fn version_of(response: &axum::response::Response) -> Option<i64> {
    let value = response.headers().get(header::ETAG)?.to_str().ok()?;
    listed_versions(value).first().copied()
}

/// `If-Match` is required on writes so that nobody overwrites a change they have not seen.
pub fn require_if_match(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "This request needs an If-Match header with the ETag of the version you read \
             (or If-Match: * to skip the check).",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not valid ASCII."))?;
    if value.trim() == "*" {
        return Ok(Precondition::Any);
    }
    Ok(Precondition::Versions(listed_versions(value)))
}

/// True when the client's cached copy (`If-None-Match`) is the current version.
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    none_match(headers.get(header::IF_NONE_MATCH), version)
}

/// The request's `If-None-Match`, alone: what a conditional read needs of the headers,
/// without a copy of all of them.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// [`not_modified`] of an `If-None-Match` value.
pub fn none_match(value: Option<&HeaderValue>, version: i64) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim() == "*"
                || v.split(',')
                    .map(|t| t.trim().trim_start_matches("W/"))
                    .any(|t| t == format(version))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("ascii"));
        h
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(
            require_if_match(&HeaderMap::new())
                .map_err(|e| e.status())
                .err(),
            Some(StatusCode::PRECONDITION_REQUIRED)
        );
        assert_eq!(
            require_if_match(&headers(header::IF_MATCH, "*")).ok(),
            Some(Precondition::Any)
        );
        assert_eq!(
            require_if_match(&headers(header::IF_MATCH, "\"3\", \"4\"")).ok(),
            Some(Precondition::Versions(vec![3, 4]))
        );
        // Weak tags and garbage never match.
        assert_eq!(
            require_if_match(&headers(header::IF_MATCH, "W/\"3\", abc")).ok(),
            Some(Precondition::Versions(vec![]))
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(not_modified(&headers(header::IF_NONE_MATCH, "\"2\""), 2));
        assert!(not_modified(&headers(header::IF_NONE_MATCH, "W/\"2\""), 2));
        assert!(!not_modified(&headers(header::IF_NONE_MATCH, "\"1\""), 2));
        assert!(!not_modified(&HeaderMap::new(), 2));
    }
}
