//! The exporter, from the standard variables: OTLP over HTTP/protobuf through a batch span
//! processor, whose queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048 spans by default) and
//! fed without waiting: a span that does not fit is dropped, so a slow or dead collector never
//! holds a request up. Its outage is logged once when it begins and once when it ends.

use crate::statements;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Config, SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thiserror::Error;
use tracing::Subscriber;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// How long the last spans may take to leave at exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The samplers the SDK knows (`OTEL_TRACES_SAMPLER`).
const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("{variable}={value} is not supported: {hint}")]
    Unsupported {
        variable: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error("OTEL_TRACES_SAMPLER_ARG={0} is not a ratio between 0 and 1")]
    SamplerArg(String),
    #[error("cannot set up the OTLP trace exporter: {0}")]
    Exporter(String),
}

/// The database behind the store, as `db.system` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbSystem {
    Postgresql,
    Sqlite,
}

impl DbSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// The installed exporter: [`Traces::layer`] feeds it, [`Traces::shutdown`] flushes it.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    db: DbSystem,
    /// Where spans go, for the log.
    pub endpoint: String,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Whether the variables ask for trace export: an OTLP endpoint (or `OTEL_TRACES_EXPORTER=otlp`)
/// and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`.
fn wanted(env: Env<'_>) -> Result<bool, TelemetryError> {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match env("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
        Some(exporter) if exporter == "none" => return Ok(false),
        Some(exporter) if exporter == "otlp" => return Ok(true),
        Some(exporter) => {
            return Err(TelemetryError::Unsupported {
                variable: "OTEL_TRACES_EXPORTER",
                value: exporter,
                hint: "only otlp (or none) is built in",
            })
        }
        None => {}
    }
    Ok(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some())
}

/// Refuses what the SDK would otherwise ignore quietly (it would fall back to its defaults).
fn validate(env: Env<'_>) -> Result<(), TelemetryError> {
    for variable in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = env(variable) {
            if protocol.trim() != "http/protobuf" {
                return Err(TelemetryError::Unsupported {
                    variable,
                    value: protocol,
                    hint: "only http/protobuf is built in (the collector's port 4318)",
                });
            }
        }
    }
    if let Some(sampler) = env("OTEL_TRACES_SAMPLER") {
        let sampler = sampler.trim().to_owned();
        if !SAMPLERS.contains(&sampler.as_str()) {
            return Err(TelemetryError::Unsupported {
                variable: "OTEL_TRACES_SAMPLER",
                value: sampler,
                hint: "use always_on, always_off, traceidratio, parentbased_always_on, \
                       parentbased_always_off or parentbased_traceidratio",
            });
        }
        if sampler.ends_with("traceidratio") {
            if let Some(arg) = env("OTEL_TRACES_SAMPLER_ARG") {
                let ratio: Option<f64> = arg.trim().parse().ok();
                if !ratio.is_some_and(|r| (0.0..=1.0).contains(&r)) {
                    return Err(TelemetryError::SamplerArg(arg));
                }
            }
        }
    }
    Ok(())
}

/// Where the exporter sends (as it works it out itself): the traces endpoint as given, or
/// the base endpoint with `/v1/traces`, or the collector's default.
fn endpoint(env: Env<'_>) -> String {
    if let Some(url) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return url;
    }
    let base = env("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| "http://localhost:4318".into());
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// `service.name` is `bookstore` unless the variables name it.
fn names_service(env: Env<'_>) -> bool {
    env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
            attributes
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        })
}

impl Traces {
    /// The exporter the process's `OTEL_*` variables ask for, if any. The SDK reads the rest
    /// itself: `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`.
    pub fn from_env(version: &'static str, db: DbSystem) -> Result<Option<Self>, TelemetryError> {
        let env: Env<'_> = &process_env;
        if !wanted(env)? {
            return Ok(None);
        }
        validate(env)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
        let mut resource = Resource::builder()
            .with_attribute(opentelemetry::KeyValue::new("service.version", version));
        if !names_service(env) {
            resource = resource.with_service_name("bookstore");
        }
        // The SDK's default configuration reads the sampler from the variables.
        let sampler = crate::sampler::EntryPoints {
            inner: Config::default().sampler,
        };
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_resource(resource.build())
            .with_batch_exporter(Reporting {
                inner: exporter,
                failing: AtomicBool::new(false),
            })
            .build();
        let tracer = provider.tracer("bookstore");
        crate::ON.store(true, Ordering::Relaxed);
        Ok(Some(Self {
            provider,
            tracer,
            db,
            endpoint: endpoint(env),
        }))
    }

    /// The layers that make spans of the bookstore crates' trace spans and of each store
    /// statement; each filters what it sees itself, so that the log layer's filter (and its
    /// level) does not decide what is traced.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let spans = tracing_opentelemetry::layer()
            .with_tracer(self.tracer.clone())
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_filter(filter_fn(crate::for_traces));
        let statements = statements::Statements::new(self.tracer.clone(), self.db)
            .with_filter(filter_fn(statements::is_statement_event));
        spans.and_then(statements)
    }

    /// Sends what is queued, for a few seconds at most.
    pub fn shutdown(&self) {
        if let Err(err) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(error = %err, "the last spans could not be exported");
        }
    }
}

/// The OTLP exporter, which says when the collector stops and starts taking spans (the SDK's
/// own logs are compiled out: they would say it once per batch).
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the trace collector takes spans again");
                }
            }
            Err(err) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %err,
                        "the trace collector does not take spans; they are dropped until it \
                         does (requests are not held up)"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn exports_only_when_an_endpoint_or_the_exporter_is_named() {
        assert!(!wanted(&env(&[])).expect("ok"));
        assert!(!wanted(&env(&[("OTEL_SERVICE_NAME", "shop")])).expect("ok"));
        assert!(wanted(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])).expect("ok"));
        assert!(wanted(&env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c/t"
        )]))
        .expect("ok"));
        assert!(wanted(&env(&[("OTEL_TRACES_EXPORTER", "otlp")])).expect("ok"));
        let off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert!(!wanted(&env(&off)).expect("ok"));
        let none = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        assert!(!wanted(&env(&none)).expect("ok"));
        let err = wanted(&env(&[("OTEL_TRACES_EXPORTER", "zipkin")])).expect_err("zipkin");
        assert!(
            err.to_string().contains("OTEL_TRACES_EXPORTER=zipkin"),
            "{err}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        assert!(validate(&env(&[])).is_ok());
        let ok = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ];
        assert!(validate(&env(&ok)).is_ok());
        let grpc = validate(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).expect_err("grpc");
        assert!(
            grpc.to_string()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
            "{grpc}"
        );
        let sampler = validate(&env(&[("OTEL_TRACES_SAMPLER", "sometimes")])).expect_err("x");
        assert!(sampler.to_string().contains("sometimes"), "{sampler}");
        for arg in ["1.5", "-0.1", "half"] {
            let bad = [
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ];
            assert!(validate(&env(&bad)).is_err(), "{arg}");
        }
    }

    #[test]
    fn works_out_the_endpoint_and_the_service_name() {
        assert_eq!(endpoint(&env(&[])), "http://localhost:4318/v1/traces");
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        assert_eq!(endpoint(&env(&base)), "http://collector:4318/v1/traces");
        let both = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/in",
            ),
        ];
        assert_eq!(endpoint(&env(&both)), "https://traces.example/in");
        assert!(!names_service(&env(&[])));
        assert!(names_service(&env(&[("OTEL_SERVICE_NAME", "shop")])));
        let attributes = [("OTEL_RESOURCE_ATTRIBUTES", "team=a, service.name=shop")];
        assert!(names_service(&env(&attributes)));
    }
}
