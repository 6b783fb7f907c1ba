//! The `Consistency-Token` header: read-your-writes across read replicas and caches.
//!
//! A successful write answers with the token of its commit (when the store hands tokens out:
//! with read replicas, or a cache kept by several processes); a read that sends it back is
//! served only from data that includes that commit. Reads (`GET`, `HEAD`) run in a replica
//! scope, everything else on the primary, reads included: a write's checks see the newest
//! data.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bookstore_core::consistency::{ConsistencyToken, ReadScope};
use std::future::Future;

pub static CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("consistency-token");

/// The token a read request carries, for the handlers (the book cache) to compare with.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequiredToken(pub Option<ConsistencyToken>);

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    scope(&state, request, |request| next.run(request)).await
}

/// [`layer`] around `next`, for a layer that runs several steps in one.
pub async fn scope<N, F>(state: &AppState, mut request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F + Send,
    F: Future<Output = Response> + Send,
{
    let read = is_read(request.method());
    // A write runs on the primary, whatever token it brings.
    let token = if read {
        match required(request.headers()) {
            Ok(token) => token,
            Err(refusal) => return refusal.into_response(),
        }
    } else {
        None
    };
    let scope = if read {
        ReadScope::Replica { at_least: token }
    } else {
        ReadScope::Primary
    };
    request.extensions_mut().insert(RequiredToken(token));
    let change = (!read)
        .then(|| {
            let route = request.extensions().get::<MatchedPath>()?;
            local_change(request.method(), route.as_str(), request.uri().path())
        })
        .flatten();
    let creates_book = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|route| route.as_str() == "/books");
    let mut response = None;
    state
        .reads
        .scoped(
            scope,
            Box::pin(async {
                response = Some(next(request).await);
            }),
        )
        .await;
    let Some(mut response) = response else {
        return ApiError::internal().into_response();
    };
    // The search index: this process's searches wait briefly for this write to reach it
    // (a new book too, which no cache holds yet: its id is in `Location`).
    let created = (creates_book && response.status().is_success())
        .then(|| {
            let location = response.headers().get(axum::http::header::LOCATION)?;
            let id = location.to_str().ok()?.rsplit('/').next()?;
            uuid::Uuid::parse_str(id).ok().map(LocalChange::Book)
        })
        .flatten();
    if let (Some(change), Some(model), true) = (
        change.or(created),
        state.catalog.search_model(),
        response.status().is_success(),
    ) {
        match change {
            LocalChange::Book(id) => model.wrote(id, crate::etag::version_of(&response), false),
            LocalChange::Deleted(id) => model.wrote(id, None, true),
            // Renames, stocktakes, imports: their books reach the index as events.
            LocalChange::Unnamed => {}
        }
    }
    if let (Some(change), Some(cache), true) =
        (change, &state.book_cache, response.status().is_success())
    {
        match change {
            LocalChange::Book(id) => cache.changed(id, crate::etag::version_of(&response)).await,
            LocalChange::Deleted(id) => cache.changed(id, Some(i64::MAX)).await,
            LocalChange::Unnamed => cache.changed_unnamed().await,
        }
    }
    if !read && response.status().is_success() && state.reads.issues_tokens() {
        match state.reads.token_now().await {
            Ok(Some(token)) => {
                if let Ok(value) = HeaderValue::from_str(&token.to_string()) {
                    response
                        .headers_mut()
                        .insert(CONSISTENCY_TOKEN.clone(), value);
                }
            }
            Ok(None) => {}
            // The write committed: answer it, without a token (the client's next read may
            // then see a replica's older state).
            Err(error) => {
                tracing::warn!(%error, "could not read the log position for a consistency token")
            }
        }
    }
    response
}

/// The token a read request sends (`None` when it sends none), or the 400 of one that is not
/// a token.
pub fn required(headers: &HeaderMap) -> Result<Option<ConsistencyToken>, ApiError> {
    // An empty value is no token (the document's pattern says so): what a client sends that
    // has no token yet, from a variable that holds none.
    let Some(value) = headers
        .get(&CONSISTENCY_TOKEN)
        .filter(|value| !value.is_empty())
    else {
        return Ok(None);
    };
    match value.to_str().map(ConsistencyToken::parse) {
        Ok(Ok(token)) => Ok(Some(token)),
        _ => Err(ApiError::bad_request(format!(
            "Consistency-Token {}",
            bookstore_core::consistency::InvalidToken
        ))),
    }
}

/// What a write request changes of the books a cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalChange {
    /// The book in the path (its new version is in the answer's `ETag`, when there is one).
    Book(uuid::Uuid),
    Deleted(uuid::Uuid),
    /// Books the route does not name (renames, stocktake commits, anything not listed).
    Unnamed,
}

/// The books that a successful `method` on `route` (at `path`) changes; `None` for routes
/// that change none (sign-in, users, webhooks, creates of new things, imports, whose rows
/// change later and reach the cache as events).
fn local_change(method: &Method, route: &str, path: &str) -> Option<LocalChange> {
    let unchanged = [
        "/auth/",
        "/users",
        "/webhooks",
        "/imports",
        "/events",
        "/audit",
    ];
    if unchanged.iter().any(|prefix| route.starts_with(prefix)) {
        return None;
    }
    let id = || {
        path.split('/')
            .nth(2)
            .and_then(|segment| uuid::Uuid::parse_str(segment).ok())
    };
    match (method.as_str(), route) {
        ("POST", "/books" | "/authors" | "/genres" | "/locations" | "/stocktakes") => None,
        ("POST", "/stocktakes/{id}/counts") => None,
        ("DELETE", "/stocktakes/{id}") => None,
        ("DELETE", "/books/{id}") => id().map(LocalChange::Deleted),
        (_, "/books/{id}" | "/books/{id}/stock-movements") => id().map(LocalChange::Book),
        _ => Some(LocalChange::Unnamed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_name_the_books_they_change() {
        let id = uuid::Uuid::now_v7();
        let path = format!("/books/{id}");
        assert_eq!(
            local_change(&Method::PUT, "/books/{id}", &path),
            Some(LocalChange::Book(id))
        );
        assert_eq!(
            local_change(&Method::DELETE, "/books/{id}", &path),
            Some(LocalChange::Deleted(id))
        );
        assert_eq!(
            local_change(
                &Method::POST,
                "/books/{id}/stock-movements",
                &format!("{path}/stock-movements")
            ),
            Some(LocalChange::Book(id))
        );
        assert_eq!(local_change(&Method::POST, "/books", "/books"), None);
        assert_eq!(
            local_change(&Method::POST, "/auth/login", "/auth/login"),
            None
        );
        assert_eq!(
            local_change(&Method::PATCH, "/authors/{id}", &format!("/authors/{id}")),
            Some(LocalChange::Unnamed)
        );
        assert_eq!(
            local_change(
                &Method::POST,
                "/stocktakes/{id}/commit",
                &format!("/stocktakes/{id}/commit")
            ),
            Some(LocalChange::Unnamed)
        );
    }
}
