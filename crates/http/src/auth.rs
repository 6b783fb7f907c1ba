//! Authentication at the edge: a layer in front of every route that decides, from an explicit
//! table, whether the route is public, open to any signed-in role, or for admins only. A route
//! missing from the table is for admins: new routes are protected unless someone decides
//! otherwise.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bookstore_core::{Principal, Role};
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any signed-in role (reads, and one's own account).
    SignedIn,
    Admin,
}

/// Routes anyone may call, signed in or not.
const PUBLIC: &[(&str, &str)] = &[
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/"),
    ("GET", "/docs/{*rest}"),
    // The web UI's page and files: it signs in like any client.
    ("GET", "/"),
    ("GET", crate::ui::ASSETS_ROUTE),
];

/// Routes every signed-in role may call. Catalog reads are listed by prefix below.
const SIGNED_IN: &[(&str, &str)] = &[
    ("GET", "/auth/me"),
    ("PUT", "/auth/me/password"),
    ("POST", "/auth/logout"),
    ("GET", "/events"),
    ("GET", "/reorder-suggestions"),
];

const CATALOG_PREFIXES: &[&str] = &["/books", "/authors", "/genres", "/locations", "/stocktakes"];

pub fn access(method: &Method, route: Option<&str>) -> Access {
    let Some(route) = route else {
        // No route matched: the fallback answers 404 to everyone.
        return Access::Public;
    };
    // HEAD is GET without the body: whoever may GET a route may HEAD it.
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let listed = |table: &[(&str, &str)]| {
        table
            .iter()
            .any(|(m, p)| *m == method.as_str() && *p == route)
    };
    if listed(PUBLIC) {
        return Access::Public;
    }
    if listed(SIGNED_IN) {
        return Access::SignedIn;
    }
    let catalog = CATALOG_PREFIXES.iter().any(|prefix| {
        route
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if catalog && (method == Method::GET || method == Method::HEAD) {
        return Access::SignedIn;
    }
    Access::Admin
}

fn challenge(error: Option<(&str, &str)>) -> HeaderValue {
    let value = match error {
        None => "Bearer realm=\"bookstore\"".to_owned(),
        Some((code, description)) => {
            let description: String = description
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            format!(
                "Bearer realm=\"bookstore\", error=\"{code}\", error_description=\"{description}\""
            )
        }
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
}

/// The one answer to a token that does not verify, whatever the reason (RFC 6750 §3.1).
pub fn invalid_token() -> ApiError {
    unauthorized(
        INVALID_TOKEN_DETAIL,
        Some(("invalid_token", INVALID_TOKEN_DETAIL)),
    )
}

const INVALID_TOKEN_DETAIL: &str = "The access token is invalid, expired or revoked.";

pub fn unauthorized(detail: &str, error: Option<(&str, &str)>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        .with_header(header::WWW_AUTHENTICATE, challenge(error))
}

pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        unauthorized(
            "The Authorization header is not valid.",
            Some(("invalid_request", "malformed Authorization header")),
        )
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(unauthorized(
            "Use Authorization: Bearer <access token>.",
            Some(("invalid_request", "expected a Bearer token")),
        )),
    }
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    authenticate(&state, request, |request| next.run(request)).await
}

/// [`layer`] around `next`, for a layer that runs several steps in one.
pub async fn authenticate<N, F>(state: &AppState, mut request: Request, next: N) -> Response
where
    N: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    // A clone of the matched path is a reference count, not a copy of the text.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map(MatchedPath::as_str);
    let needed = access(request.method(), route);
    if needed == Access::Public {
        return next(request).await;
    }
    let verified = match bearer(request.headers()) {
        Ok(Some(token)) => state.verifier.verify(token).await,
        Ok(None) => {
            return unauthorized("Sign in and send the access token as a Bearer token.", None)
                .into_response()
        }
        Err(err) => return err.into_response(),
    };
    crate::metrics::auth::token_validated(&verified);
    let (principal, session) = match verified {
        Ok(verified) => (verified.principal, verified.session),
        Err(bookstore_core::auth::AuthError::InvalidToken(reason)) => {
            // The reason helps an operator and an attacker alike: it stays in the log.
            tracing::info!(%reason, "access token refused");
            return invalid_token().into_response();
        }
        Err(other) => return ApiError::from(other).into_response(),
    };
    if needed == Access::Admin && principal.role != Role::Admin {
        let entry = access_denied(&request, route, &principal);
        if let Err(err) = state.audit.record(&entry).await {
            tracing::warn!(error = %err, "could not write the audit entry of a refusal");
        }
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role is not allowed to do this.",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            challenge(Some(("insufficient_scope", "admin role required"))),
        )
        .into_response();
    }
    note_user(&principal);
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(CurrentSession(session));
    next(request).await
}

/// What [`authenticate`] notes of a caller it lets in: the user, on the request's span.
pub(crate) fn note_user(principal: &Principal) {
    tracing::Span::current().record("user", principal.username.as_str());
}

/// The `access_denied` entry of a request refused for the caller's role (403). The refusal
/// stands if the entry cannot be written; the failure is logged.
///
/// A 401 (no token, or one that does not verify) is not recorded: every client meets one
/// when its access token expires, and anyone could fill the log with them at no cost. Failed
/// sign-ins, the 401s that matter, are recorded by the sign-in itself (`sign_in_failed`).
fn access_denied(
    request: &Request,
    route: Option<&str>,
    principal: &Principal,
) -> bookstore_core::audit::NewAuditEntry {
    let origin = crate::routes::audit::origin(
        principal,
        &crate::caller::ClientAddr::of(request.extensions()),
    );
    origin.entry(
        bookstore_core::audit::AuditAction::AccessDenied,
        Some(format!("{} {}", request.method(), route.unwrap_or("?"))),
        bookstore_core::audit::details([("role", principal.role.as_str().into())]),
    )
}

/// The sign-in the caller's access token belongs to (`None` for an outside issuer's token),
/// put there by [`layer`] next to the principal.
#[derive(Debug, Clone, Copy)]
pub struct CurrentSession(pub Option<uuid::Uuid>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CurrentSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CurrentSession>()
            .copied()
            .unwrap_or(CurrentSession(None)))
    }
}

/// The signed-in caller, put there by [`layer`].
pub fn principal(request_extensions: &axum::http::Extensions) -> Option<&Principal> {
    request_extensions.get::<Principal>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_table() {
        let get = Method::GET;
        assert_eq!(access(&Method::POST, Some("/auth/login")), Access::Public);
        assert_eq!(access(&get, Some("/books")), Access::SignedIn);
        assert_eq!(access(&get, Some("/books/{id}/history")), Access::SignedIn);
        assert_eq!(access(&get, Some("/books/export")), Access::SignedIn);
        assert_eq!(access(&get, Some("/reorder-suggestions")), Access::SignedIn);
        assert_eq!(access(&Method::POST, Some("/books")), Access::Admin);
        assert_eq!(
            access(&Method::DELETE, Some("/authors/{id}")),
            Access::Admin
        );
        assert_eq!(access(&get, Some("/users")), Access::Admin);
        assert_eq!(access(&get, Some("/auth/me")), Access::SignedIn);
        // Unlisted routes are for admins.
        assert_eq!(access(&get, Some("/something/new")), Access::Admin);
        assert_eq!(access(&get, Some("/bookshelf")), Access::Admin);
        assert_eq!(access(&get, None), Access::Public);
        for public in [
            "/healthz",
            "/readyz",
            "/openapi.json",
            "/.well-known/jwks.json",
        ] {
            assert_eq!(
                access(&Method::HEAD, Some(public)),
                Access::Public,
                "{public}"
            );
        }
        assert_eq!(access(&Method::HEAD, Some("/books")), Access::SignedIn);
        assert_eq!(access(&Method::HEAD, Some("/users")), Access::Admin);
    }
}
