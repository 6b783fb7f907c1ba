//! What the NATS bus is configured with, checked before anything connects.

use super::stream::subject_matches;
use bookstore_core::event::BookEventKind;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

pub const DEFAULT_STREAM: &str = "BOOKSTORE_EVENTS";
pub const DEFAULT_SUBJECTS: &str = "bookstore.>";

/// Every event type the service publishes; each is its own subject.
pub const EVENT_TYPES: [BookEventKind; 4] = [
    BookEventKind::Created,
    BookEventKind::Updated,
    BookEventKind::Deleted,
    BookEventKind::StockAdjusted,
];

#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `nats://[user:password@]host[:port]` (or `tls://…`; `token@host` for a token), several
    /// comma-separated for a cluster. A secret: it may carry credentials.
    pub url: String,
    /// The JetStream stream's name.
    pub stream: String,
    /// The subjects the stream captures; every event type must fall under one of them.
    pub subjects: Vec<String>,
    /// PEM file of the certificate authority that signed the NATS servers' certificates, when
    /// it is not one the system trusts.
    pub ca_file: Option<PathBuf>,
    /// Longest wait for JetStream to acknowledge a wave of events (and for a JetStream API
    /// call); what is not acknowledged by then is retried by the relay.
    pub publish_timeout: Duration,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the NATS URL is invalid: {0}")]
    Url(String),
    #[error("the NATS stream name {0:?} is invalid: no spaces, dots, * or >")]
    StreamName(String),
    #[error("the NATS subjects are empty")]
    NoSubjects,
    #[error("the NATS subject {0:?} is invalid")]
    Subject(String),
    #[error("the NATS subjects ({subjects}) do not capture the event type {event_type}, which is its subject")]
    Uncaptured {
        subjects: String,
        event_type: &'static str,
    },
}

impl NatsConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        let name = &self.stream;
        if name.is_empty()
            || name
                .bytes()
                .any(|c| c.is_ascii_whitespace() || matches!(c, b'.' | b'*' | b'>'))
        {
            return Err(ConfigError::StreamName(name.clone()));
        }
        if self.subjects.is_empty() {
            return Err(ConfigError::NoSubjects);
        }
        for subject in &self.subjects {
            if !valid_filter(subject) {
                return Err(ConfigError::Subject(subject.clone()));
            }
        }
        for kind in EVENT_TYPES {
            let event_type = kind.event_type();
            if !self
                .subjects
                .iter()
                .any(|filter| subject_matches(filter, event_type))
            {
                return Err(ConfigError::Uncaptured {
                    subjects: self.subjects.join(", "),
                    event_type,
                });
            }
        }
        Ok(())
    }
}

/// A subject filter: dot-separated non-empty tokens without whitespace; `>` only last.
fn valid_filter(filter: &str) -> bool {
    let tokens: Vec<&str> = filter.split('.').collect();
    tokens.iter().enumerate().all(|(i, token)| {
        !token.is_empty()
            && !token.chars().any(char::is_whitespace)
            && (*token != ">" || i == tokens.len() - 1)
            && (token.len() == 1 || !token.contains(['*', '>']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(stream: &str, subjects: &[&str]) -> NatsConfig {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream: stream.into(),
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            ca_file: None,
            publish_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_defaults_capture_every_event_type() {
        assert_eq!(config(DEFAULT_STREAM, &[DEFAULT_SUBJECTS]).check(), Ok(()));
        assert_eq!(
            config("S", &["bookstore.book.*"]).check(),
            Ok(()),
            "one wildcard token"
        );
    }

    #[test]
    fn subjects_that_miss_an_event_type_are_refused_before_connecting() {
        assert!(matches!(
            config("S", &["bookstore.book.created", "bookstore.book.updated"]).check(),
            Err(ConfigError::Uncaptured {
                event_type: "bookstore.book.deleted",
                ..
            })
        ));
        assert_eq!(config("S", &[]).check(), Err(ConfigError::NoSubjects));
    }

    #[test]
    fn malformed_names_and_subjects_are_refused() {
        for name in ["", "a.b", "a b", "a*", "a>"] {
            assert!(
                matches!(
                    config(name, &[DEFAULT_SUBJECTS]).check(),
                    Err(ConfigError::StreamName(_))
                ),
                "{name:?}"
            );
        }
        for subject in [
            "bookstore..x",
            ">.bookstore",
            "book store.>",
            "bookstore.a>",
            "",
        ] {
            assert!(
                matches!(
                    config("S", &[subject]).check(),
                    Err(ConfigError::Subject(_))
                ),
                "{subject:?}"
            );
        }
    }
}
