//! NATS JetStream as the event bus: `bookstore_events::NatsConfig`.

use super::values;
use bookstore_events::nats::{DEFAULT_STREAM, DEFAULT_SUBJECTS};
use bookstore_events::NatsConfig;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// Subject filters, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects(pub Vec<String>);

pub fn subjects(text: &str) -> Result<Subjects, String> {
    let list: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err("name at least one subject (the default is bookstore.>)".into());
    }
    Ok(Subjects(list))
}

#[derive(Debug, Args)]
#[command(next_help_heading = "NATS JetStream (event bus)")]
pub struct NatsArgs {
    /// NATS server for the events: nats://[user:password@]host[:port] (tls://… for TLS;
    /// several comma-separated for a cluster) [default: none, the in-process bus].
    /// Prefer BOOKSTORE_NATS_URL_FILE for URLs with credentials.
    #[arg(long, env = "BOOKSTORE_NATS_URL", hide_env_values = true, value_name = "URL",
          value_parser = values::secret)]
    pub nats_url: Option<SecretString>,
    /// File whose content is the NATS URL.
    #[arg(long, env = "BOOKSTORE_NATS_URL_FILE", value_name = "FILE")]
    pub(super) nats_url_file: Option<PathBuf>,
    /// The JetStream stream the events go to; created at start when missing.
    #[arg(long, env = "BOOKSTORE_NATS_STREAM", value_name = "NAME",
          default_value = DEFAULT_STREAM)]
    pub nats_stream: String,
    /// The subjects the stream captures, comma-separated; each event's subject is its type
    /// (bookstore.book.created), which they must cover.
    #[arg(long, env = "BOOKSTORE_NATS_SUBJECTS", value_name = "SUBJECTS",
          default_value = DEFAULT_SUBJECTS, value_parser = subjects)]
    pub nats_subjects: Subjects,
    /// PEM file of the certificate authority of the NATS servers, when the system does not
    /// trust it; makes TLS required [default: the system's roots].
    #[arg(long, env = "BOOKSTORE_NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Longest wait for JetStream to acknowledge a wave of events, in milliseconds; what is
    /// not acknowledged by then is sent again.
    #[arg(long, env = "BOOKSTORE_NATS_TIMEOUT_MS", value_name = "MS",
          default_value = "5000", value_parser = values::millis)]
    pub nats_timeout_ms: Duration,
}

impl NatsArgs {
    /// The NATS bus's configuration, when NATS is configured.
    pub fn config(&self) -> Option<NatsConfig> {
        let url = self.nats_url.as_ref()?;
        Some(NatsConfig {
            url: url.expose_secret().to_owned(),
            stream: self.nats_stream.clone(),
            subjects: self.nats_subjects.0.clone(),
            ca_file: self.nats_ca.clone(),
            publish_timeout: self.nats_timeout_ms,
        })
    }

    /// Refuses, before anything starts, stream names and subjects that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        let config = NatsConfig {
            url: String::new(),
            stream: self.nats_stream.clone(),
            subjects: self.nats_subjects.0.clone(),
            ca_file: None,
            publish_timeout: self.nats_timeout_ms,
        };
        config.check().map_err(|err| anyhow::anyhow!("{err}"))
    }
}
