//! The settings of metrics: whether the service records them, and the listener that serves
//! them without authentication.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use std::net::SocketAddr;

#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Record Prometheus metrics and serve them at /metrics (on/off; off saves their small
    /// cost per request, and /metrics answers 404).
    #[arg(long, env = "BOOKSTORE_METRICS", value_name = "BOOL",
          action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "on", default_missing_value = "on",
          value_parser = BoolishValueParser::new())]
    pub metrics: bool,
    /// A second address that serves only /metrics, to anyone (for Prometheus; keep it off
    /// public networks); port 0 picks a free port [default: none].
    #[arg(long, env = "BOOKSTORE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Once listening, write the metrics listener's address to this file, as
    /// --address-file does for the main one [default: none].
    #[arg(long, env = "BOOKSTORE_METRICS_ADDRESS_FILE", value_name = "FILE")]
    pub metrics_address_file: Option<std::path::PathBuf>,
}
