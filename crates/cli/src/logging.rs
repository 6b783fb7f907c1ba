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
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, Layer};

pub fn init(filter: &str, format: LogFormat, traces: Option<&Traces>) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter '{filter}'"))?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = filter_fn(bookstore_telemetry::for_logs);
    let result = match traces {
        // Global filters when the log layer is alone: a per-layer filter as the only one
        // would be wrong now and then (tracing-subscriber keeps the verdict of an `enabled`
        // check that nothing followed, such as `log::log_enabled!` in sqlx, and applies it
        // to the next span whose call site is always enabled: a request span lost its
        // fields on the log lines).
        None => tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .with(log_layer(json))
            .try_init(),
        // Each layer with its filter: what the logs show (`BOOKSTORE_LOG`) does not decide
        // what is traced. The layers' filters never all enable one call site, so every
        // span and event is checked afresh.
        Some(traces) => tracing_subscriber::registry()
            .with(log_layer(json).with_filter(filter.and(logs)))
            .with(traces.layer())
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("could not set up logging: {e}"))
}

fn log_layer<S>(json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if json {
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
}
