//! The cookie mode of `/auth/login`, `/auth/refresh` and `/auth/logout`, for the web UI: the
//! refresh token lives in an `HttpOnly; Secure; SameSite=Strict` cookie scoped to `/auth`, out
//! of reach of any script on the page, while the access token stays in the page's memory.
//!
//! The cookie alone never authorises anything: `/auth/refresh` reads it only when the request
//! also carries an `X-Requested-With` header, which a cross-site form cannot send and a
//! cross-origin script cannot send without a CORS preflight that the server refuses (on top of
//! `SameSite=Strict`, which keeps the cookie off cross-site requests in the first place). The
//! access token it yields goes into the answer's body, readable only by a same-origin script.
//! Every other route ignores cookies: they need the bearer token.
//!
//! `Secure` holds on plain HTTP too when the host is loopback (`localhost`, `127.0.0.1`):
//! browsers treat those origins as potentially trustworthy and keep the cookie (checked in
//! Chromium by the UI tests, which run over `http://127.0.0.1`).

use axum::http::{header, HeaderMap, HeaderValue};

/// The cookie's name. Not `__Host-` (that prefix needs `Path=/`, and the cookie is sent to
/// `/auth` only).
pub const NAME: &str = "bookstore_refresh";

/// The header that must come with the cookie for `/auth/refresh` to read it.
pub const CSRF_HEADER: &str = "x-requested-with";

const ATTRIBUTES: &str = "Path=/auth; HttpOnly; Secure; SameSite=Strict";

/// `Set-Cookie` for a refresh token that lasts `max_age_secs`.
pub fn set(token: &str, max_age_secs: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{NAME}={token}; Max-Age={}; {ATTRIBUTES}",
        max_age_secs.max(0)
    ))
    .ok()
}

/// `Set-Cookie` that removes the cookie.
pub fn clear() -> HeaderValue {
    HeaderValue::from_static(
        "bookstore_refresh=; Max-Age=0; Path=/auth; HttpOnly; Secure; SameSite=Strict",
    )
}

/// The refresh token in the request's cookies, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Whether the request carries the header that a cross-site form cannot send.
pub fn has_csrf_header(headers: &HeaderMap) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|value| !value.as_bytes().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_secure_strict_and_scoped_to_auth() {
        let value = set("rt_abc", 3600).expect("ascii");
        let text = value.to_str().expect("ascii");
        assert_eq!(
            text,
            "bookstore_refresh=rt_abc; Max-Age=3600; Path=/auth; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(clear().to_str().expect("ascii").contains("Max-Age=0"));
    }

    #[test]
    fn reads_the_cookie_among_others_and_needs_the_header_for_csrf() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(read(&headers), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x=1; bookstore_refresh=rt_xyz; y=2"),
        );
        assert_eq!(read(&headers).as_deref(), Some("rt_xyz"));
        assert!(!has_csrf_header(&headers));
        headers.insert(CSRF_HEADER, HeaderValue::from_static("bookstore-ui"));
        assert!(has_csrf_header(&headers));

        let mut empty = HeaderMap::new();
        empty.insert(
            header::COOKIE,
            HeaderValue::from_static("bookstore_refresh="),
        );
        assert_eq!(read(&empty), None);
    }
}
