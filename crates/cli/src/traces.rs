//! Traces of `bookstore serve`: the OTLP exporter the standard `OTEL_*` variables ask for.

use crate::config::Settings;
use anyhow::Context;
use bookstore_store::Backend;
use bookstore_telemetry::{DbSystem, Traces};

/// The exporter, if the variables ask for one; an error for settings it cannot honour.
pub fn from_env(settings: &Settings) -> anyhow::Result<Option<Traces>> {
    // A URL the store refuses fails later, with its own message; its statements are not
    // traced before then.
    let db = match settings.store.config().backend() {
        Some(Backend::Postgres) => DbSystem::Postgresql,
        _ => DbSystem::Sqlite,
    };
    Traces::from_env(env!("CARGO_PKG_VERSION"), db).context("trace export (OTEL_* variables)")
}
