//! Which roles this process runs (ARCHITECTURE.md, "Roles"), and the settings of the relay
//! and of the retention janitor that runs beside it.

use super::values;
use clap::Args;
use std::fmt;
use std::time::Duration;

/// A role of `bookstore serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API (catalog, sign-in, users).
    Api,
    /// Publishes committed outbox events to the bus; with it runs the retention janitor.
    Relay,
    /// The consumers of the events in this process (webhooks, the search read model).
    Subscribers,
}

impl Role {
    const ALL: [Role; 3] = [Role::Api, Role::Relay, Role::Subscribers];

    fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Relay => "relay",
            Role::Subscribers => "subscribers",
        }
    }
}

/// The roles a process runs: a non-empty set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Roles, comma-separated: `api`, `relay`, `subscribers`, or `all`.
pub fn roles(text: &str) -> Result<Roles, String> {
    let mut chosen = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let item = item.to_ascii_lowercase();
        if item == "all" {
            chosen.extend(Role::ALL);
            continue;
        }
        let role = Role::ALL
            .into_iter()
            .find(|r| r.name() == item)
            .ok_or_else(|| {
                format!("unknown role {item:?}: the roles are api, relay and subscribers")
            })?;
        chosen.push(role);
    }
    if chosen.is_empty() {
        return Err("name at least one role: api, relay, subscribers (or all)".to_owned());
    }
    // In a fixed order, once each.
    Ok(Roles(
        Role::ALL
            .into_iter()
            .filter(|r| chosen.contains(r))
            .collect(),
    ))
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Roles, relay and retention")]
pub struct RoleArgs {
    /// Which roles this process runs, comma-separated: api, relay, subscribers (or all).
    #[arg(long, env = "BOOKSTORE_ROLES", value_name = "ROLES",
          default_value = "api,relay,subscribers", value_parser = roles)]
    pub roles: Roles,
    /// How long published events stay in the outbox (and the event log), and settled webhook
    /// deliveries in the delivery log, before the janitor deletes them: a number and a unit, d, h, m or s (7d, 36h, 90m, 30s).
    #[arg(long, env = "BOOKSTORE_OUTBOX_RETENTION", value_name = "SPAN",
          default_value = "7d", value_parser = values::span)]
    pub outbox_retention: Duration,
    /// How long audit entries are kept before the janitor deletes them: days (365), or a
    /// number and a unit, d, h, m or s (90d, 36h).
    #[arg(long, env = "BOOKSTORE_AUDIT_RETENTION", value_name = "DAYS",
          default_value = "365", value_parser = values::days_or_span)]
    pub audit_retention: Duration,
    /// How often the relay looks at the outbox without being woken by a commit (7d, 36h,
    /// 90m, 30s, 500ms).
    #[arg(long, env = "BOOKSTORE_RELAY_POLL_INTERVAL", value_name = "SPAN",
          default_value = "5s", value_parser = values::span)]
    pub relay_poll_interval: Duration,
    /// How often the retention janitor sweeps (one replica at a time).
    #[arg(long, env = "BOOKSTORE_JANITOR_INTERVAL", value_name = "SPAN",
          default_value = "10m", value_parser = values::span)]
    pub janitor_interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_a_set_in_a_fixed_order() {
        assert_eq!(
            roles("relay,api").map(|r| r.to_string()),
            Ok("api,relay".into())
        );
        assert_eq!(
            roles(" API , relay,api").map(|r| r.to_string()),
            Ok("api,relay".into())
        );
        assert_eq!(
            roles("all").map(|r| r.to_string()),
            Ok("api,relay,subscribers".into())
        );
        assert!(roles("api,web").is_err_and(|e| e.contains("\"web\"")));
        assert!(roles("").is_err());
        assert!(roles(" , ").is_err());
        let relay_only = roles("relay").expect("valid");
        assert!(relay_only.has(Role::Relay) && !relay_only.has(Role::Api));
    }

    #[test]
    fn audit_retention_is_days_or_a_span() {
        let days = |t: &str| values::days_or_span(t);
        assert_eq!(days("365"), Ok(Duration::from_secs(365 * 24 * 3600)));
        assert_eq!(days(" 30 "), Ok(Duration::from_secs(30 * 24 * 3600)));
        assert_eq!(days("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert!(days("0").is_err());
        assert!(days("").is_err());
        assert!(days("-3").is_err());
    }

    #[test]
    fn spans_take_a_unit() {
        let span = |t: &str| values::span(t);
        assert_eq!(span("7d"), Ok(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(span("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(span("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(span(" 30s "), Ok(Duration::from_secs(30)));
        assert_eq!(span("250ms"), Ok(Duration::from_millis(250)));
        assert!(span("30").is_err_and(|e| e.contains("unit")));
        assert!(span("0s").is_err());
        assert!(span("5w").is_err_and(|e| e.contains("\"w\"")));
        assert!(span("d").is_err());
        assert!(span("-1h").is_err());
        assert!(span("99999999999999999d").is_err());
    }
}
