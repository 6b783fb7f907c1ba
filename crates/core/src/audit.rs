//! The security audit log (API.md, "Audit"): who signed in or failed to, who was locked out,
//! who changed a role, created a webhook, rotated the keys. Entries that record a change are
//! written by the store in the change's own transaction (the user and webhook writes take an
//! [`AuditContext`]); the others (sign-in outcomes, token reuse, refusals, what the process
//! does at start) are written at once through [`AuditLog`].
//!
//! Nothing secret ever goes into an entry: no password, token or secret, whatever a client
//! typed. A sign-in names its target only when the name it was given is an existing user's
//! (people type passwords into the username field); a webhook is described by its host, not
//! its URL (many receivers put a token in the path).

use crate::error::StoreError;
use crate::paging::{Page, PageRequest};
use crate::policy::{Principal, Role};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;
use uuid::Uuid;

/// Default of `BOOKSTORE_AUDIT_RETENTION`: how long entries are kept, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    LockedOut,
    RefreshReuse,
    PasswordChanged,
    UserCreated,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    KeysRotated,
    KekRotated,
    WebhookCreated,
    WebhookDeleted,
    SecretLoaded,
    AccessDenied,
}

impl AuditAction {
    pub const ALL: [AuditAction; 15] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::LockedOut,
        Self::RefreshReuse,
        Self::PasswordChanged,
        Self::UserCreated,
        Self::RoleChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::KeysRotated,
        Self::KekRotated,
        Self::WebhookCreated,
        Self::WebhookDeleted,
        Self::SecretLoaded,
        Self::AccessDenied,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::LockedOut => "locked_out",
            Self::RefreshReuse => "refresh_reuse",
            Self::PasswordChanged => "password_changed",
            Self::UserCreated => "user_created",
            Self::RoleChanged => "role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::KeysRotated => "keys_rotated",
            Self::KekRotated => "kek_rotated",
            Self::WebhookCreated => "webhook_created",
            Self::WebhookDeleted => "webhook_deleted",
            Self::SecretLoaded => "secret_loaded",
            Self::AccessDenied => "access_denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it: a user (by id and name), the service itself (at start, or an operator at the
/// command line), or a client that has not proven who it is (a failed sign-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditActor {
    User { id: String, name: String },
    System,
    Anonymous,
}

impl AuditActor {
    pub fn user(principal: &Principal) -> Self {
        Self::User {
            id: principal.subject.clone(),
            name: principal.username.clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Self::User { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Self::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Back from the columns the store keeps.
    pub fn from_parts(
        kind: &str,
        id: Option<String>,
        name: Option<String>,
    ) -> Result<Self, String> {
        match (kind, id, name) {
            ("user", Some(id), Some(name)) => Ok(Self::User { id, name }),
            ("system", _, _) => Ok(Self::System),
            ("anonymous", _, _) => Ok(Self::Anonymous),
            (other, _, _) => Err(format!("unknown audit actor kind {other:?}")),
        }
    }
}

/// Where a change comes from: the actor, and the client address and request id when it came
/// over HTTP. Every audited write takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: AuditActor,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl AuditContext {
    /// The service itself, or an operator at the command line.
    pub fn system() -> Self {
        Self {
            actor: AuditActor::System,
            client_ip: None,
            request_id: None,
        }
    }

    /// A signed-in caller.
    pub fn of(
        principal: &Principal,
        client_ip: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            actor: AuditActor::user(principal),
            client_ip,
            request_id,
        }
    }

    /// A client that has not signed in.
    pub fn anonymous(client_ip: Option<String>, request_id: Option<String>) -> Self {
        Self {
            actor: AuditActor::Anonymous,
            client_ip,
            request_id,
        }
    }

    /// The same origin, acting as `actor` (a sign-in is the user's once the password checked).
    pub fn as_actor(&self, actor: AuditActor) -> Self {
        Self {
            actor,
            ..self.clone()
        }
    }

    /// An entry of this origin.
    pub fn entry(
        &self,
        action: AuditAction,
        target: Option<String>,
        details: Map<String, Value>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            action,
            actor: self.actor.clone(),
            target,
            client_ip: self.client_ip.clone(),
            request_id: self.request_id.clone(),
            details,
        }
    }
}

/// Builds the `details` object of an entry: `details([("role", "staff".into())])`.
pub fn details<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// An entry to write; the store gives it its id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub action: AuditAction,
    pub actor: AuditActor,
    /// What the action was done to: a username, a webhook id, a key id, a secret's name, a
    /// route. `None` when naming it could leak what a client typed.
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Map<String, Value>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    pub actor: AuditActor,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Map<String, Value>,
}

/// Whose entries a query wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    /// The service's own (`system`) or unauthenticated clients' (`anonymous`).
    Kind(&'static str),
    /// A user's, by id.
    Id(String),
    /// A user's, by name.
    Name(String),
}

impl ActorFilter {
    /// `system`, `anonymous`, a user id (a UUID) or a username.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text {
            "system" => return Ok(Self::Kind("system")),
            "anonymous" => return Ok(Self::Kind("anonymous")),
            _ => {}
        }
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(Self::Id(id.to_string()));
        }
        crate::auth::Username::parse(text)
            .map(|name| Self::Name(name.as_str().to_owned()))
            .map_err(|_| "must be system, anonymous, a user id or a username".to_owned())
    }
}

/// A page of entries, newest first, with optional filters; `since` is inclusive, `until`
/// exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub page: PageRequest,
    pub action: Option<AuditAction>,
    pub actor: Option<ActorFilter>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl AuditQuery {
    /// The filters as text, so that a cursor of one filtered list is refused by another.
    pub fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.action.map(|a| a.as_str()),
            self.actor,
            self.since.map(|t| t.timestamp_micros()),
            self.until.map(|t| t.timestamp_micros()),
        )
    }
}

/// Where entries are written right away, and read.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, StoreError>;
}

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("only admins may read the audit log")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The audit use cases: reading the log (admins only), and writing entries that record no
/// change of their own.
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn AuditLog>,
}

impl Audit {
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    #[tracing::instrument(name = "audit.list", skip_all)]
    pub async fn list(
        &self,
        who: &Principal,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntry>, AuditError> {
        if who.role != Role::Admin {
            return Err(AuditError::Forbidden);
        }
        Ok(self.log.audit_entries(query).await?)
    }

    #[tracing::instrument(name = "audit.record", skip_all)]
    pub async fn record(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        self.log.record_audit(entry).await
    }
}

/// The host of a webhook URL: what an entry says of it (the rest may hold a token).
pub fn url_host(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("sign-in"), None);
    }

    #[test]
    fn actor_filters() {
        assert_eq!(
            ActorFilter::parse("system"),
            Ok(ActorFilter::Kind("system"))
        );
        assert_eq!(
            ActorFilter::parse("Clerk"),
            Ok(ActorFilter::Name("clerk".into()))
        );
        let id = Uuid::now_v7();
        assert_eq!(
            ActorFilter::parse(&id.to_string()),
            Ok(ActorFilter::Id(id.to_string()))
        );
        assert!(ActorFilter::parse("not a name!").is_err());
    }

    #[test]
    fn only_admins_read_the_log() {
        let audit = Audit::new(Arc::new(crate::fakes::FakeStore::default()));
        let staff = Principal {
            subject: "s".into(),
            username: "clerk".into(),
            role: Role::Staff,
        };
        let refused = futures_executor::block_on(audit.list(&staff, &AuditQuery::default()));
        assert!(matches!(refused, Err(AuditError::Forbidden)));
    }

    #[test]
    fn webhook_urls_are_reduced_to_their_host() {
        assert_eq!(
            url_host("https://hooks.example.com/services/T0/B0/secret-token?x=1").as_deref(),
            Some("hooks.example.com")
        );
        assert_eq!(url_host("not a url"), None);
    }
}
