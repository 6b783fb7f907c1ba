//! Who may do what. The HTTP adapter also requires roles per route; this is the second,
//! authoritative check, made by every use case.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Staff,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadCatalog,
    WriteCatalog,
    ManageWebhooks,
    /// Follow the published events (`GET /events`).
    WatchEvents,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReadCatalog => "read the catalog",
            Self::WriteCatalog => "change the catalog",
            Self::ManageWebhooks => "manage webhooks",
            Self::WatchEvents => "watch the events",
        })
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable subject identifier (the user id).
    pub subject: String,
    pub username: String,
    pub role: Role,
}

impl Principal {
    pub fn may(&self, action: Action) -> bool {
        match (self.role, action) {
            (Role::Admin, _) => true,
            (Role::Staff, Action::ReadCatalog) => true,
            (Role::Staff, Action::WriteCatalog | Action::ManageWebhooks) => false,
            (Role::Staff, Action::WatchEvents) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            subject: "u".into(),
            username: "u".into(),
            role,
        }
    }

    #[test]
    fn admin_writes_staff_reads() {
        assert!(principal(Role::Admin).may(Action::WriteCatalog));
        assert!(principal(Role::Admin).may(Action::ReadCatalog));
        assert!(principal(Role::Staff).may(Action::ReadCatalog));
        assert!(!principal(Role::Staff).may(Action::WriteCatalog));
    }

    #[test]
    fn staff_and_admins_watch_events() {
        assert!(principal(Role::Admin).may(Action::WatchEvents));
        assert!(principal(Role::Staff).may(Action::WatchEvents));
    }
}
