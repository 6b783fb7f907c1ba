//! Extractors whose rejections are problem documents, not axum's plain text: a JSON body that
//! is malformed is a 400, one with wrong or unknown fields is a 422 naming the field.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// A JSON request body.
pub struct ApiJson<T> {
    pub value: T,
    /// The body as received, for idempotency fingerprints.
    pub raw: Bytes,
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn syntax_error(err: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("The body is not valid JSON: {err}"))
}

/// Reads a request body, parsing it once: an object (serde would otherwise read a struct from
/// an array, `["u","pw","admin"]` as a user), without NUL characters, of the shape `T` asks
/// for. Malformed JSON is a 400; anything else a 422 naming the field.
pub fn parse_body<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let value = match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(value) => value,
        Err(err) => return Err(unparsed_body(raw, err)),
    };
    if !value.is_object() {
        return Err(not_an_object());
    }
    refuse_nul(&value)?;
    read_value(value)
}

fn not_an_object() -> ApiError {
    ApiError::field("body", "must be a JSON object")
}

/// Why a body that is not a JSON value is refused. One that does not begin like an object is
/// judged by the laxer reading that skips values (it takes numbers beyond `f64` and lone
/// surrogates): if that reads it, it is refused as not an object (422), as it always was.
fn unparsed_body(raw: &[u8], err: serde_json::Error) -> ApiError {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        // Empty, or an object that is malformed: the parser says what is wrong (400).
        None | Some(b'{') => syntax_error(err),
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
            Ok(_) => not_an_object(),
            Err(err) => syntax_error(err),
        },
    }
}

/// A string of the body cannot hold NUL, which PostgreSQL cannot store (and which no field of
/// ours has a use for). Reported by the field it is in.
fn refuse_nul(value: &serde_json::Value) -> Result<(), ApiError> {
    match nul_path(value, String::new()) {
        Some(path) => Err(ApiError::field(
            if path.is_empty() { "body" } else { &path },
            "must not contain NUL characters (U+0000)",
        )),
        None => Ok(()),
    }
}

fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(path.clone());
            }
            nul_path(item, child)
        }),
        _ => None,
    }
}

pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    // Trailing bytes after the document make the whole body malformed, as does bad syntax.
    let value: serde_json::Value = serde_json::from_slice(raw).map_err(syntax_error)?;
    read_value(value)
}

/// Reads `T` from a parsed body; a field of the wrong type or unknown is a 422 naming it.
pub(crate) fn read_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    integral_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::field(&field, err.into_inner().to_string())
    })
}

/// JSON does not tell 2 from 2.0, and JSON Schema counts both as integers: a number with no
/// fraction is read as the integer it is, so an integer field takes either spelling.
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                // The bounds are exact in f64 (powers of two); i64::MAX itself is not.
                if f.fract() == 0.0
                    && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
                {
                    *value = serde_json::Value::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(members) => members.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json_content_type(content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send the body as JSON, with Content-Type: application/json \
                 (or a versioned application/vnd.bookstore.vN+json).",
            ));
        }
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body-too-large",
                        "The request body is larger than this server accepts.",
                    )
                } else {
                    ApiError::bad_request(format!("Could not read the body: {rejection}"))
                }
            })?;
        let value = parse_body(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Query parameters; a value of the wrong type is a 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name.contains('\0') || value.contains('\0') {
                let shown: String = name.chars().filter(|c| *c != '\0').take(64).collect();
                return Err(ApiError::field(
                    &shown,
                    "must not contain NUL characters (%00)",
                ));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError::field(&field, err.into_inner().to_string())
            })
    }
}

/// A path id that must be a UUID.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Uuid::parse_str(&raw).map(PathId).map_err(|_| {
            let shown: String = raw.chars().take(64).collect();
            ApiError::bad_request(format!("'{shown}' is not a valid id (a UUID)."))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        count: i64,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: i64,
    }

    #[test]
    fn classifies_body_errors() {
        assert_eq!(
            parse_json::<Sample>(b"{").map_err(|e| e.status()).err(),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            parse_json::<Sample>(b"{\"count\": 1} trailing")
                .map_err(|e| e.status())
                .err(),
            Some(StatusCode::BAD_REQUEST)
        );
        let err = parse_json::<Sample>(br#"{"count": 1, "inner": {"n": "x"}}"#).expect_err("type");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.problem().errors[0].field, "inner.n");
        let err = parse_json::<Sample>(br#"{"count": 1, "extra": 2}"#).expect_err("unknown");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.problem().errors[0].message.contains("extra"));
        // An integer may be spelled with a zero fraction; a fraction is still refused.
        let read = parse_json::<Sample>(br#"{"count": 2.0, "inner": {"n": -7.0}}"#).expect("2.0");
        assert_eq!((read.count, read.inner.map(|i| i.n)), (2, Some(-7)));
        let err = parse_json::<Sample>(br#"{"count": 2.5}"#).expect_err("2.5");
        assert_eq!(err.problem().errors[0].field, "count");
        let err = parse_json::<Sample>(br#"{"count": 1e300}"#).expect_err("too big");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.problem().errors[0].field, "count");
    }

    #[test]
    fn bodies_must_be_objects() {
        for body in [
            &br#"["u", "pw", "admin"]"#[..],
            b"1",
            b"\"x\"",
            b" null",
            b"true",
        ] {
            let err = parse_body::<Sample>(body).expect_err("not an object");
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(err.problem().errors[0].field, "body");
        }
        let err = parse_body::<Sample>(b"[1,").expect_err("malformed");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = parse_body::<Sample>(b"").expect_err("empty");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        // JSON that only a value-skipping reader takes is still "not an object"; inside an
        // object, it cannot be read (400).
        for body in [&b"[1e400]"[..], br#"["\udc00"]"#] {
            let err = parse_body::<Sample>(body).expect_err("not an object");
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(err.problem().errors[0].field, "body");
        }
        let err = parse_body::<Sample>(br#"{"count": 1e400}"#).expect_err("out of range");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(parse_body::<Sample>(br#" {"count": 1}"#).is_ok());
    }

    #[test]
    fn nul_in_a_body_names_its_field() {
        let err = parse_body::<Sample>(br#"{"count": 1, "name": "a\u0000b"}"#).expect_err("nul");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.problem().errors[0].field, "name");
        let err = parse_body::<serde_json::Value>(br#"{"a": [{"b": "\u0000"}]}"#).expect_err("nul");
        assert_eq!(err.problem().errors[0].field, "a[0].b");
        let err = parse_body::<serde_json::Value>(br#"{"\u0000": 1}"#).expect_err("nul key");
        assert_eq!(err.problem().errors[0].field, "body");
        // An escaped backslash before "u0000" is no NUL.
        assert!(parse_body::<serde_json::Value>(br#"{"a": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.bookstore.v2+json"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }
}
