//! Who is calling: the principal the authentication layer verified, and the client address.

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use bookstore_core::{Principal, WriteContext};
use std::net::SocketAddr;

pub struct Caller(pub Principal);

impl Caller {
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            principal: self.0.clone(),
            request_id: crate::request_id::current(),
            traceparent: crate::request_id::current_traceparent(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        crate::auth::principal(&parts.extensions)
            .cloned()
            .map(Caller)
            .ok_or_else(|| crate::auth::unauthorized("Sign in first.", None))
    }
}

/// The client's address as [`crate::client_ip`] worked it out (through trusted proxies), else
/// the connection's peer, or "unknown" when served without one (in tests).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(&parts.extensions))
    }
}

impl ClientAddr {
    /// The client address of the request whose extensions these are.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        let resolved = extensions
            .get::<ClientIp>()
            .map(|ClientIp(ip)| ip.to_string());
        let peer = || {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string())
        };
        ClientAddr(
            resolved
                .or_else(peer)
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }
}
