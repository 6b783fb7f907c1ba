//! `Accept`-header API versions. v1 is the default; an explicitly versioned media type wins
//! over wildcards; a request that accepts none of our versions gets 406 with the list.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiVersion {
    V1,
    V2,
}

pub const V1_MEDIA_TYPE: &str = "application/vnd.bookstore.v1+json";
pub const V2_MEDIA_TYPE: &str = "application/vnd.bookstore.v2+json";
pub const SUPPORTED: [&str; 3] = [V1_MEDIA_TYPE, V2_MEDIA_TYPE, "application/json"];

impl ApiVersion {
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::V1 => V1_MEDIA_TYPE,
            Self::V2 => V2_MEDIA_TYPE,
        }
    }

    fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            V1_MEDIA_TYPE => Some(Self::V1),
            V2_MEDIA_TYPE => Some(Self::V2),
            _ => None,
        }
    }
}

/// How closely a media range names a version: an exact versioned type beats
/// `application/json`, which beats `application/*`, which beats `*/*`.
fn specificity(range: &str, version: ApiVersion) -> Option<u8> {
    if ApiVersion::from_media_type(range) == Some(version) {
        return Some(3);
    }
    // Unversioned forms all mean the default version.
    match (range, version) {
        ("application/json", ApiVersion::V1) => Some(2),
        ("application/*", ApiVersion::V1) => Some(1),
        ("*/*", ApiVersion::V1) => Some(0),
        _ => None,
    }
}

/// Chooses the version for an `Accept` header value; `None` when nothing acceptable.
pub fn negotiate(accept: Option<&str>) -> Option<ApiVersion> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(ApiVersion::V1);
    };
    let mut ranges: Vec<(String, f32)> = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if range.is_empty() {
            continue;
        }
        let mut quality = 1.0f32;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    // A malformed weight makes the range unusable rather than preferred.
                    quality = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        ranges.push((range, quality.clamp(0.0, 1.0)));
    }
    // For each version, the weight given by the most specific range that matches it.
    let weigh = |version: ApiVersion| {
        ranges
            .iter()
            .filter_map(|(range, q)| specificity(range, version).map(|s| (s, *q)))
            .max_by_key(|(s, _)| *s)
    };
    [ApiVersion::V1, ApiVersion::V2]
        .into_iter()
        .filter_map(|v| weigh(v).map(|(s, q)| (v, s, q)))
        .filter(|(_, _, q)| *q > 0.0)
        .max_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(a.1.cmp(&b.1))
                // On a full tie the default version wins.
                .then(b.0.cmp(&a.0))
        })
        .map(|(v, _, _)| v)
}

pub fn not_acceptable() -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-acceptable",
        "None of the media types in Accept is served here; see supported.",
    )
    .with_extension("supported", serde_json::json!(SUPPORTED))
}

/// The version that a request with these headers is served in; `None`: 406.
pub fn of_headers(headers: &axum::http::HeaderMap) -> Option<ApiVersion> {
    let accept = headers
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    negotiate(accept)
}

/// Negotiates the version before the handler runs and stamps it on the response.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let Some(version) = of_headers(request.headers()) else {
        let mut response = axum::response::IntoResponse::into_response(not_acceptable());
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        return response;
    };
    request.extensions_mut().insert(version);
    let mut response = next.run(request).await;
    stamp(response.headers_mut(), version);
    response
}

/// What [`layer`] does to the answer of a request served in `version`: plain JSON is labelled
/// with the version's media type, and caches are told that the answer depends on `Accept`.
pub fn stamp(headers: &mut axum::http::HeaderMap, version: ApiVersion) {
    let is_plain_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if is_plain_json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(version.media_type()),
        );
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion::V1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiVersion::*;

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Option<ApiVersion>)] = &[
            (None, Some(V1)),
            (Some(""), Some(V1)),
            (Some("*/*"), Some(V1)),
            (Some("application/json"), Some(V1)),
            (Some("application/*"), Some(V1)),
            (Some(V1_MEDIA_TYPE), Some(V1)),
            (Some(V2_MEDIA_TYPE), Some(V2)),
            (Some("application/vnd.bookstore.v2+json, */*;q=0.1"), Some(V2)),
            (Some("application/vnd.bookstore.v2+json;q=0.5, application/json"), Some(V1)),
            (Some("application/vnd.bookstore.v1+json;q=0.4, application/vnd.bookstore.v2+json;q=0.9"), Some(V2)),
            (Some("application/vnd.bookstore.v2+json, */*"), Some(V2)),
            (Some("application/vnd.bookstore.v3+json"), None),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
            (Some("application/vnd.bookstore.v1+json;q=0, */*"), None),
            (Some("application/vnd.bookstore.v1+json;q=0, application/vnd.bookstore.v2+json"), Some(V2)),
            (Some("garbage;;;,,"), None),
            (Some("application/json;q=abc"), None),
            (Some("APPLICATION/VND.BOOKSTORE.V2+JSON"), Some(V2)),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(*accept), *expected, "Accept: {accept:?}");
        }
    }
}
