//! Discovery for outside gateways: the JWKS and an OpenID Connect discovery document.

use crate::response;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// Public keys that verify our access tokens (current, and retired ones still in use).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", security(()),
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = response::json(StatusCode::OK, &state.verifier.jwks());
    // A rotated key is published this long before it signs (bookstore_auth::keyring).
    let max_age = format!(
        "public, max-age={}",
        bookstore_core::auth::JWKS_MAX_AGE_SECS
    );
    if let Ok(value) = HeaderValue::from_str(&max_age) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// OpenID Connect discovery: issuer, JWKS location and algorithms.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "auth", security(()),
    responses((status = 200, description = "Discovery document", body = Object)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = state.public_url.trim_end_matches('/');
    let config = state.accounts.config();
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "issuer": config.issuer,
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "token_endpoint": format!("{base}/auth/login"),
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["password", "refresh_token"],
            "claims_supported": ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "role", "name"],
        }),
    )
}
