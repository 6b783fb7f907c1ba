//! A webhook as an admin asks for it, parsed: once a [`WebhookDraft`] exists its URL, event
//! types and description are valid.

use super::address::refused_reason;
use crate::validation::ValidationErrors;
use regex::Regex;
use std::net::IpAddr;
use std::sync::LazyLock;
use url::{Host, Url};

/// The event types a webhook can subscribe to.
pub const EVENT_TYPES: [&str; 4] = [
    "bookstore.book.created",
    "bookstore.book.updated",
    "bookstore.book.deleted",
    "bookstore.book.stock_adjusted",
];

/// What [`super::Webhooks::ping`] sends; every webhook gets it, whatever it subscribed to.
pub const PING_EVENT_TYPE: &str = "bookstore.webhook.ping";

pub const MAX_URL_LEN: usize = 2048;

/// The URLs a webhook may have, as the OpenAPI document states them (one text, so that the
/// document and the server agree on every URL): `http` or `https`; a host that is a DNS name
/// (letters, digits and inner single hyphens; the last label starts with a letter) or a
/// dotted IPv4 address; a port of at most 65535; a path and query of RFC 3986 characters,
/// with `%` only as a percent-escape. Nothing else: no credentials, no fragment, no
/// characters a URL parser would silently rewrite or escape.
pub const URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    r"(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*",
    r"(\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
);

static URL_SYNTAX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(URL_PATTERN).expect("URL_PATTERN is a valid regex"));
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// The fields of a webhook as received; `None` is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawWebhook {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Absent means active.
    pub active: Option<bool>,
}

/// An `http` or `https` URL without credentials or fragment, whose host (if it is an IP
/// literal) is a public address unless private targets are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub fn parse(text: &str, allow_private: bool) -> Result<Self, String> {
        if text.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces (percent-encode the rest)".into());
        }
        let url = Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials (user:password@)".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment (#…)".into());
        }
        let ip = match url.host() {
            None => return Err("must name a host".into()),
            Some(Host::Domain(_)) => None,
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        if !URL_SYNTAX.is_match(text) {
            return Err(
                "must be http(s)://host[:port][/path][?query], where the host is a \
                 DNS name (letters, digits, single inner hyphens) or an IPv4 address, and the \
                 path and query keep to RFC 3986 characters and %-escapes"
                    .into(),
            );
        }
        if let Some(reason) = ip.filter(|_| !allow_private).and_then(refused_reason) {
            return Err(format!(
                "points to {reason}; only public addresses are allowed \
                 (BOOKSTORE_WEBHOOK_ALLOW_PRIVATE)"
            ));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A valid webhook: where to, for which events, and whether it is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDraft {
    pub url: WebhookUrl,
    /// Known types, each once, in the order given.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub active: bool,
}

fn event_types(raw: Vec<String>) -> Result<Vec<String>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if raw.is_empty() {
        errors.add(
            "event_types",
            format!("must name at least one of: {}", EVENT_TYPES.join(", ")),
        );
    }
    let mut types: Vec<String> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            errors.add(
                format!("event_types[{i}]"),
                format!("is not one of: {}", EVENT_TYPES.join(", ")),
            );
        } else if types.contains(&t) {
            errors.add(format!("event_types[{i}]"), "is listed twice");
        } else {
            types.push(t);
        }
    }
    errors.into_result().map(|()| types)
}

fn description(raw: Option<String>) -> Result<Option<String>, String> {
    crate::text::optional(raw.as_deref(), MAX_DESCRIPTION_LEN, false).map_err(|e| e.to_string())
}

impl WebhookDraft {
    /// Every problem of `raw` at once, by field. `allow_private` lets the URL name a
    /// loopback or private IP address.
    pub fn parse(raw: RawWebhook, allow_private: bool) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let url = match raw.url {
            None => {
                errors.add("url", "is required");
                None
            }
            Some(text) => errors.check("url", WebhookUrl::parse(&text, allow_private)),
        };
        let types = match raw.event_types {
            None => {
                errors.add("event_types", "is required");
                None
            }
            Some(types) => errors.check_all(event_types(types)),
        };
        let description = errors.check("description", description(raw.description));
        match (url, types, description) {
            (Some(url), Some(event_types), Some(description)) if errors.is_empty() => Ok(Self {
                url,
                event_types,
                description,
                active: raw.active.unwrap_or(true),
            }),
            _ => Err(errors),
        }
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawWebhook {
        RawWebhook {
            url: Some(url.into()),
            event_types: Some(vec!["bookstore.book.created".into()]),
            description: None,
            active: None,
        }
    }

    fn url_error(url: &str) -> Option<String> {
        WebhookDraft::parse(raw(url), false)
            .err()
            .and_then(|e| e.errors().iter().find(|e| e.field == "url").cloned())
            .map(|e| e.message)
    }

    #[test]
    fn every_book_event_type_can_be_subscribed_to() {
        use crate::event::BookEventKind;
        for kind in [
            BookEventKind::Created,
            BookEventKind::Updated,
            BookEventKind::Deleted,
            BookEventKind::StockAdjusted,
        ] {
            assert!(EVENT_TYPES.contains(&kind.event_type()));
        }
    }

    #[test]
    fn a_public_https_url_with_known_types_is_a_draft() {
        let draft =
            WebhookDraft::parse(raw("https://hooks.example.com/in?x=1"), false).expect("valid");
        assert!(draft.active);
        assert!(draft.wants("bookstore.book.created"));
        assert!(!draft.wants("bookstore.book.deleted"));
    }

    #[test]
    fn credentials_other_schemes_and_internal_ip_literals_are_refused() {
        for url in [
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "https://example.com/#frag",
            "http://127.0.0.1:9000/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
            "not a url",
        ] {
            assert!(url_error(url).is_some(), "{url} must be refused");
        }
        assert!(
            url_error("http://localhost:9000/").is_none(),
            "names are checked at delivery"
        );
        assert!(WebhookDraft::parse(raw("http://127.0.0.1:9000/"), true).is_ok());
    }

    #[test]
    fn urls_outside_the_documented_syntax_are_refused() {
        // The first one a fuzzer sent: the URL parser takes `*` in a host name.
        for url in [
            "https://xn61t0tq.mrtwl.com*",
            "https://a--b.example.com/",
            "https://-a.example.com/",
            "https://example.com-/",
            "https://example.123/",
            "https://example.com:65536/",
            "https://example.com:080/",
            "https://example.com/%zz",
            "https://example.com/a\\b",
            "https://example.com/{x}",
            "http://[2001:db8::1]/",
            "http://01.2.3.4/",
        ] {
            assert!(url_error(url).is_some(), "{url} must be refused");
        }
        for url in [
            "https://hooks.example.com/in?x=1",
            "https://1password.com/a/b?c=d&e=%2F",
            "http://8.8.8.8:8080/x",
            "https://Example.COM:443",
            "https://example.com/a(b)/c;d=e?f=/g?h",
        ] {
            assert_eq!(url_error(url), None, "{url} must be taken");
        }
    }

    #[test]
    fn unknown_or_missing_event_types_are_field_errors() {
        let mut r = raw("https://example.com/");
        r.event_types = Some(vec!["bookstore.book.created".into(), "nope".into()]);
        let errors = WebhookDraft::parse(r, false).expect_err("unknown type");
        assert_eq!(errors.errors()[0].field, "event_types[1]");
        let mut r = raw("https://example.com/");
        r.event_types = Some(vec!["bookstore.book.created".into(); 2]);
        let errors = WebhookDraft::parse(r, false).expect_err("twice");
        assert_eq!(errors.errors()[0].field, "event_types[1]");
        let mut r = raw("https://example.com/");
        r.event_types = Some(vec![]);
        assert!(WebhookDraft::parse(r, false).is_err());
        let mut r = raw("https://example.com/");
        r.description = Some("x".repeat(MAX_DESCRIPTION_LEN + 1));
        let errors = WebhookDraft::parse(r, false).expect_err("too long");
        assert_eq!(errors.errors()[0].field, "description");
    }
}
