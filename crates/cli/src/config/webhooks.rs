//! The settings of webhook delivery: `bookstore_events::webhooks::WebhookConfig`.

use super::values;
use bookstore_events::webhooks::{RetrySchedule, WebhookConfig};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use std::time::Duration;

#[derive(Debug, Args)]
#[command(next_help_heading = "Webhooks")]
pub struct WebhookArgs {
    /// Allow webhook targets on loopback, private, link-local and metadata addresses (for
    /// receivers on this machine or network; never where users you do not trust add webhooks).
    #[arg(long, env = "BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", value_name = "BOOL",
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// Milliseconds before the first retry of a failed delivery; each later one waits twice
    /// as long (at most 2 hours), ±20%.
    #[arg(long, env = "BOOKSTORE_WEBHOOK_RETRY_FIRST_MS", value_name = "MS",
          default_value = "5000", value_parser = values::millis)]
    pub webhook_retry_first_ms: Duration,
    /// Seconds a failed delivery is retried for before it is marked failed.
    #[arg(long, env = "BOOKSTORE_WEBHOOK_RETRY_WINDOW", value_name = "SECONDS",
          default_value = "86400", value_parser = values::seconds)]
    pub webhook_retry_window: Duration,
    /// Webhook delivery attempts in flight in this process, at most.
    #[arg(long, env = "BOOKSTORE_WEBHOOK_CONCURRENCY", value_name = "N", default_value = "32",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_concurrency: u32,
    /// Attempts in flight to one webhook in this process, at most: a slow endpoint holds
    /// this many slots and no more.
    #[arg(long, env = "BOOKSTORE_WEBHOOK_PER_ENDPOINT", value_name = "N", default_value = "4",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub webhook_per_endpoint: u32,
}

impl WebhookArgs {
    pub fn config(&self) -> WebhookConfig {
        WebhookConfig {
            allow_private: self.webhook_allow_private,
            retry: RetrySchedule {
                first: self.webhook_retry_first_ms,
                window: self.webhook_retry_window,
                ..RetrySchedule::default()
            },
            concurrency: self.webhook_concurrency,
            per_endpoint: self.webhook_per_endpoint,
            // Workers look for due retries at least as often as the first retry comes.
            poll: self
                .webhook_retry_first_ms
                .clamp(Duration::from_millis(100), Duration::from_secs(1)),
            ..WebhookConfig::default()
        }
    }
}
