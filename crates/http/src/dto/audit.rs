//! The audit log's wire shapes (`GET /audit`).

use bookstore_core::audit::{AuditActor, AuditEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Who did it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActorDto {
    /// `user` (a signed-in user, or the user a sign-in was for), `system` (the service itself,
    /// or an operator at the command line) or `anonymous` (a client that had not signed in).
    #[serde(rename = "type")]
    #[schema(pattern = "^(user|system|anonymous)$")]
    pub kind: String,
    /// The user's id (`sub`); null unless `type` is `user`.
    pub id: Option<String>,
    /// The username; null unless `type` is `user`.
    pub name: Option<String>,
}

impl From<AuditActor> for AuditActorDto {
    fn from(actor: AuditActor) -> Self {
        Self {
            kind: actor.kind().to_owned(),
            id: actor.id().map(str::to_owned),
            name: actor.name().map(str::to_owned),
        }
    }
}

/// One security or administration event. Never holds a password, token or secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `sign_in`, `sign_in_failed`, `locked_out`, `refresh_reuse`, `password_changed`,
    /// `user_created`, `role_changed`, `user_disabled`, `user_enabled`, `keys_rotated`,
    /// `kek_rotated`, `webhook_created`, `webhook_deleted`, `secret_loaded` or
    /// `access_denied`.
    pub action: String,
    pub actor: AuditActorDto,
    /// What the action was done to: a username, a webhook id, a key id, a secret's name, or
    /// `METHOD /route`. Null for a sign-in with a name that is no user's (it may have been a
    /// password typed into the wrong field).
    pub target: Option<String>,
    /// The client's address (through trusted proxies); null for what the service did itself.
    pub client_ip: Option<String>,
    /// The `X-Request-Id` of the request that did it.
    pub request_id: Option<String>,
    /// More about the event, by action (the reason of a failed sign-in, the roles of a role
    /// change, a webhook's host...).
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            action: e.action.as_str().to_owned(),
            actor: e.actor.into(),
            target: e.target,
            client_ip: e.client_ip,
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// The query of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (of the same filters).
    pub cursor: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Only entries of this actor: `system`, `anonymous`, a user id or a username.
    pub actor: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    pub until: Option<String>,
}
