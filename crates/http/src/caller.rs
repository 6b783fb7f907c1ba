//! Who is calling. Authentication plugs in here: the router is built with an
//! [`Authenticator`], and every handler that acts for someone takes a [`Caller`].

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use bookstore_core::{Principal, Role, WriteContext};
use std::sync::Arc;

pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(&self, parts: &Parts) -> Result<Principal, ApiError>;
}

/// Until token authentication lands, every caller acts as the local administrator. The
/// service listens on loopback by default, which is what makes this acceptable for now.
pub struct LocalAdmin;

impl Authenticator for LocalAdmin {
    fn authenticate(&self, _: &Parts) -> Result<Principal, ApiError> {
        Ok(Principal {
            subject: "local-admin".into(),
            username: "admin".into(),
            role: Role::Admin,
        })
    }
}

pub struct Caller(pub Principal);

impl Caller {
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            principal: self.0.clone(),
            request_id: crate::request_id::current(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authenticator: &Arc<dyn Authenticator> = &state.authenticator;
        authenticator.authenticate(parts).map(Caller)
    }
}
