//! Liveness and readiness, for load balancers and orchestrators.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` (serving, but not as configured: rate limits counted by this replica
    /// alone while Redis is unreachable, events waiting in the outbox while the event bus is)
    /// or `unavailable`.
    pub status: String,
    /// The names of the dependencies that failed (`store`, `redis`, `nats`); their errors are
    /// in the log, never here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Those of `failed` that the service works around, so that it stays ready: `redis`,
    /// `nats` (the event bus; writes still succeed and their events are published when it is
    /// back).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// What the status means for the service, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Response {
    crate::response::json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            failed: Vec::new(),
            degraded: Vec::new(),
            detail: None,
        },
    )
}

/// The store is reachable and migrated: safe to send traffic. A degraded service (rate-limit
/// counters not shared because Redis is unreachable, events held back because the event bus
/// is) is still ready.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready (`ok` or `degraded`)", body = Health),
        (status = 503, description = "Not ready", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.is_draining() {
        return unavailable(
            Vec::new(),
            "Shutting down: finishing the requests in flight.",
        );
    }
    let (degraded, details) = degraded_dependencies(&state).await;
    match state.catalog.store().ready().await {
        Ok(()) => crate::response::json(
            StatusCode::OK,
            &Health {
                status: if degraded.is_empty() {
                    "ok"
                } else {
                    "degraded"
                }
                .into(),
                failed: degraded.clone(),
                degraded,
                detail: (!details.is_empty()).then(|| details.join(" ")),
            },
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let mut failed = vec!["store".to_owned()];
            failed.extend(degraded.iter().cloned());
            let mut response = crate::response::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &Health {
                    status: "unavailable".into(),
                    failed,
                    degraded,
                    detail: Some("The store is not reachable or not migrated.".into()),
                },
            );
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            response.into_response()
        }
    }
}

/// 503 with `Retry-After`, for a process that is not (or no longer) ready.
fn unavailable(failed: Vec<String>, detail: &str) -> Response {
    let mut response = crate::response::json(
        StatusCode::SERVICE_UNAVAILABLE,
        &Health {
            status: "unavailable".into(),
            failed,
            degraded: Vec::new(),
            detail: Some(detail.to_owned()),
        },
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    response
}

/// What a process serves while it waits for its store at start: alive, not ready, and 503
/// for everything else, so that probes and load balancers see it wait instead of refused
/// connections.
pub fn starting() -> axum::Router {
    async fn not_ready() -> Response {
        unavailable(
            vec!["store".to_owned()],
            "Starting: waiting for the store to be reachable.",
        )
    }
    async fn not_yet() -> Response {
        crate::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "The service is starting: it waits for its store. Try again shortly.",
        )
        .with_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        )
        .into_response()
    }
    // Each answer closes its connection: the stand-in stops when the services are up, and a
    // client reusing one of its idle connections then would lose its request in the handover
    // (hyper's IncompleteMessage); a fresh connection reaches the real server.
    async fn close(mut response: Response) -> Response {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        response
    }
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(not_ready))
        .fallback(not_yet)
        .layer(axum::middleware::map_response(close))
}

/// The names of the dependencies the service is working around, and what each outage means.
/// Each logs its own outage, once; their texts name hosts and errors, so none is shown here.
async fn degraded_dependencies(state: &AppState) -> (Vec<String>, Vec<String>) {
    let mut names = Vec::new();
    let mut details = Vec::new();
    let mut without_redis = Vec::new();
    if state.limiter.degraded().is_some() {
        without_redis.push("rate limits are counted by this replica alone");
    }
    if state
        .book_cache
        .as_ref()
        .and_then(|c| c.degraded())
        .is_some()
    {
        without_redis.push("books missing from this replica's memory are read from the store");
    }
    if !without_redis.is_empty() {
        names.push("redis".to_owned());
        details.push(format!(
            "Redis is unreachable; {}.",
            without_redis.join("; ")
        ));
    }
    for dependency in &state.dependencies {
        if let Some(detail) = dependency.degraded().await {
            names.push(dependency.name().to_owned());
            details.push(detail);
        }
    }
    (names, details)
}

/// The service's metrics in the Prometheus text format (admins; anyone on the metrics
/// listener, `BOOKSTORE_METRICS_LISTEN`). 404 when metrics are off (`BOOKSTORE_METRICS=off`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Every series, in the text exposition format 0.0.4",
            body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 403, description = "Admins only", body = crate::error::Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "Metrics are off in this process", body = crate::error::Problem,
            content_type = "application/problem+json")))]
pub async fn metrics() -> Response {
    crate::metrics::response()
}
