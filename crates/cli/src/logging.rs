//! Structured logs on stderr: JSON for machines, text for people at a terminal. Every line
//! written while serving a request carries its request id and trace id (the request span's
//! fields): the log layer sees only the log context spans (see `bookstore_telemetry`), so a
//! line written inside a use case or a store call still shows its request's span.
//!
//! With trace export on, the OpenTelemetry layers sit beside the log layer, each with a filter
//! of its own: what the logs show (`BOOKSTORE_LOG`) does not decide what is traced.

use crate::config::LogFormat;
use anyhow::Context;
use bookstore_telemetry::Traces;
use std::io::IsTerminal;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, Layer as _};

pub fn init(filter: &str, format: LogFormat, traces: Option<&Traces>) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter '{filter}'"))?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).boxed()
    }
    .with_filter(filter.and(filter_fn(bookstore_telemetry::for_logs)));
    let registry = tracing_subscriber::registry().with(logs);
    let result = match traces {
        Some(traces) => registry.with(traces.layer()).try_init(),
        None => registry.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("could not set up logging: {e}"))
}
