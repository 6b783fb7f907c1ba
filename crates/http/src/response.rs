//! Building success responses: JSON bodies, ETags, `Location` and pagination `Link`s.

use crate::dto::page::PageDto;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a response");
            crate::error::ApiError::internal().into_response()
        }
    }
}

pub fn set_etag(response: &mut Response, version: i64) {
    if let Ok(value) = HeaderValue::from_str(&crate::etag::format(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

pub fn set_location(response: &mut Response, path: &str) {
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

/// The same request with `cursor` set to the next page's.
fn next_link(uri: &Uri, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if name != "cursor" {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair("cursor", cursor);
    format!("<{}?{}>; rel=\"next\"", uri.path(), query.finish())
}

pub fn page<T: Serialize>(uri: &Uri, page: &PageDto<T>) -> Response {
    list(uri, page, page.next_cursor.as_deref())
}

/// A list body with the `Link` to its next page, if there is one.
pub fn list<B: Serialize>(uri: &Uri, body: &B, next_cursor: Option<&str>) -> Response {
    let mut response = json(StatusCode::OK, body);
    if let Some(cursor) = next_cursor {
        if let Ok(value) = HeaderValue::from_str(&next_link(uri, cursor)) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_keeps_other_parameters() {
        let uri: Uri = "/books?limit=5&cursor=old&sort=title".parse().expect("uri");
        assert_eq!(
            next_link(&uri, "abc"),
            "</books?limit=5&sort=title&cursor=abc>; rel=\"next\""
        );
    }
}
