//! `/auth`: sign in, refresh, sign out, and the caller's own account.

use crate::auth::CurrentSession;
use crate::caller::{Caller, ClientAddr};
use crate::dto::user::{ChangePasswordInput, LoginInput, RefreshInput, TokenResponse, UserDto};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::refresh_cookie;
use crate::response;
use crate::routes::audit::{anonymous_origin, origin};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::auth::{AuthError, TokenPair};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

/// Where the refresh token of an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Body,
    /// The `HttpOnly` cookie of [`refresh_cookie`], for the web UI.
    Cookie,
}

fn tokens(pair: TokenPair, delivery: Delivery) -> Response {
    let cookie = match delivery {
        Delivery::Cookie => refresh_cookie::set(&pair.refresh_token, pair.refresh_expires_in),
        Delivery::Body => None,
    };
    let mut response = response::json(
        StatusCode::OK,
        &TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer".into(),
            expires_in: pair.expires_in,
            refresh_token: (delivery == Delivery::Body).then_some(pair.refresh_token),
            refresh_expires_in: pair.refresh_expires_in,
            device_token: pair.device_token,
        },
    );
    let headers = response.headers_mut();
    // Tokens must never sit in a cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The refresh token of a refresh or sign-out: the body's, or (`refresh_cookie: true`) the
/// cookie's, `None` when the cookie is not there. `csrf_checked`: the cookie counts only with
/// the `X-Requested-With` header.
fn presented_token(
    input: RefreshInput,
    headers: &HeaderMap,
    csrf_checked: bool,
) -> Result<(Option<String>, Delivery), ApiError> {
    match (input.refresh_token, input.refresh_cookie) {
        (_, Some(None)) => Err(ApiError::field(
            "refresh_cookie",
            "must be true when given (or left out), not null",
        )),
        (Some(token), None) => Ok((Some(token), Delivery::Body)),
        (None, Some(Some(true))) => {
            if csrf_checked && !refresh_cookie::has_csrf_header(headers) {
                return Err(crate::auth::unauthorized(
                    "The refresh cookie counts only with an X-Requested-With header.",
                    None,
                ));
            }
            Ok((refresh_cookie::read(headers), Delivery::Cookie))
        }
        (Some(_), Some(_)) => Err(ApiError::field(
            "refresh_cookie",
            "give either refresh_token or refresh_cookie, not both",
        )),
        (None, _) => Err(ApiError::field(
            "refresh_token",
            "is required (or refresh_cookie: true, for the cookie of a sign-in with refresh_cookie)",
        )),
    }
}

/// Sign in with a username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()),
    request_body = LoginInput,
    responses(
        (status = 200, description = "Signed in. With `refresh_cookie`, the refresh token is in the `bookstore_refresh` cookie (`HttpOnly; Secure; SameSite=Strict; Path=/auth`), not the body", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "With `refresh_cookie` only: the refresh token's cookie"))),
        (status = 401, description = "Wrong username or password (the same answer for both, and for a password over 1024 bytes)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = Problem, content_type = PROBLEM)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    body: ApiJson<LoginInput>,
) -> ApiResult<Response> {
    let input = body.value;
    let outcome = state
        .accounts
        .login(
            &input.username,
            &input.password,
            input.device_token.as_deref(),
            &anonymous_origin(&client),
        )
        .await;
    crate::metrics::auth::sign_in(&outcome);
    let client = client.0;
    // The name given is logged only once it has proven to be an account's: anything else may
    // be a password typed into the wrong field. The audit log has every attempt, naming the
    // account when the name is an existing user's.
    match &outcome {
        Ok(_) => {
            tracing::info!(username = %input.username.trim().to_lowercase(), %client, "sign-in succeeded")
        }
        Err(AuthError::Throttled { retry_after_secs }) => {
            tracing::warn!(%client, retry_after_secs, "sign-in throttled (see the audit log)")
        }
        Err(AuthError::InvalidCredentials) => {
            tracing::warn!(%client, "sign-in failed (see the audit log)")
        }
        Err(other) => {
            tracing::error!(%client, error = %other, "sign-in error")
        }
    }
    let delivery = if input.refresh_cookie {
        Delivery::Cookie
    } else {
        Delivery::Body
    };
    Ok(tokens(outcome?, delivery))
}

/// Trade a refresh token for a new pair; the old refresh token is spent.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", security(()),
    request_body = RefreshInput,
    params(("X-Requested-With" = Option<String>, Header,
        description = "Needed (any value) with `refresh_cookie: true`, when the refresh token comes from the `bookstore_refresh` cookie")),
    responses(
        (status = 200, description = "A new token pair; in cookie mode the new refresh token replaces the cookie's and is not in the body", body = TokenResponse,
            headers(("Set-Cookie" = String, description = "In cookie mode only: the new refresh token's cookie"))),
        (status = 401, description = "Invalid, expired, revoked or already used; in cookie mode: no cookie, or no X-Requested-With", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Neither refresh_token nor refresh_cookie, or both", body = Problem, content_type = PROBLEM)))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: ApiJson<RefreshInput>,
) -> ApiResult<Response> {
    let (token, delivery) = presented_token(body.value, &headers, true)?;
    let Some(token) = token else {
        return Err(AuthError::InvalidRefreshToken.into());
    };
    let outcome = state
        .accounts
        .refresh(&token, &anonymous_origin(&client))
        .await;
    let client = client.0;
    // A cookie that no longer refreshes anything is removed with the refusal.
    let refused = |error: ApiError| match delivery {
        Delivery::Cookie => error.with_header(header::SET_COOKIE, refresh_cookie::clear()),
        Delivery::Body => error,
    };
    match outcome {
        Ok(pair) => Ok(tokens(pair, delivery)),
        Err(AuthError::RefreshTokenReused { user_id, family_id }) => {
            state.verifier.forget_session(family_id);
            crate::metrics::auth::refresh_token_reused();
            tracing::warn!(
                security_event = "refresh_token_reuse",
                %user_id, %family_id, %client,
                "a spent refresh token was presented again; its whole family is revoked"
            );
            Err(refused(AuthError::InvalidRefreshToken.into()))
        }
        Err(other) => Err(refused(other.into())),
    }
}

/// Sign out: the refresh token's whole family is revoked, and with it the access tokens of
/// that sign-in. A refresh token of someone else's sign-in ends nothing. With
/// `refresh_cookie: true`, the `bookstore_refresh` cookie's is taken, and the cookie removed.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshInput,
    responses((status = 204, description = "Signed out",
            headers(("Set-Cookie" = String, description = "With `refresh_cookie: true`: removes the cookie"))),
        (status = 401, description = "No valid access token", body = Problem, content_type = PROBLEM)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: ApiJson<RefreshInput>,
) -> ApiResult<Response> {
    // Signing out needs the access token; the cookie only names which sign-in to end (no
    // X-Requested-With needed).
    let (token, delivery) = presented_token(body.value, &headers, false)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if delivery == Delivery::Cookie {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, refresh_cookie::clear());
    }
    // Cookie mode without the cookie: no sign-in is named, none ends.
    let Some(token) = token else {
        return Ok(response);
    };
    match state.accounts.logout(&caller.0, &token).await? {
        Some(session) => state.verifier.forget_session(session),
        None => tracing::info!(
            user = %caller.0.username, %client,
            "sign-out with a refresh token that is not the caller's (or unknown): nothing ended"
        ),
    }
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = UserDto),
        (status = 401, description = "No valid access token", body = Problem, content_type = PROBLEM)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let user = state.accounts.me(&caller.0).await?;
    Ok(response::json(StatusCode::OK, &UserDto::from(user)))
}

/// Change one's own password; every other sign-in of the user ends, this one goes on.
#[utoipa::path(put, path = "/auth/me/password", tag = "auth", request_body = ChangePasswordInput,
    responses((status = 204, description = "Changed"),
        (status = 401, description = "No valid access token", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Current password wrong or over 1024 bytes, or new one refused", body = Problem, content_type = PROBLEM)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    CurrentSession(session): CurrentSession,
    client: ClientAddr,
    body: ApiJson<ChangePasswordInput>,
) -> ApiResult<Response> {
    let input = body.value;
    let user = state
        .accounts
        .change_own_password(
            &caller.0,
            session,
            &input.current_password,
            input.new_password,
            &origin(&caller.0, &client),
        )
        .await?;
    state.verifier.forget(user.id);
    tracing::info!(user = %user.username, "password changed; the user's other sign-ins ended");
    Ok(StatusCode::NO_CONTENT.into_response())
}
