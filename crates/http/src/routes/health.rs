//! Liveness and readiness, for load balancers and orchestrators.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` (serving, but not as configured: for one, rate limits counted by this
    /// replica alone while Redis is unreachable) or `unavailable`.
    pub status: String,
    /// The names of the dependencies that failed (`store`, `redis`); their errors are in
    /// the log, never here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
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
            detail: None,
        },
    )
}

/// The store is reachable and migrated: safe to send traffic. A degraded service (rate-limit
/// counters not shared because Redis is unreachable) is still ready.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready (`ok` or `degraded`)", body = Health),
        (status = 503, description = "Not ready", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.catalog.store().ready().await {
        Ok(()) => {
            // The limiter logs the outage itself, once; its text names hosts and errors.
            let degraded = state.limiter.degraded().is_some();
            crate::response::json(
                StatusCode::OK,
                &Health {
                    status: if degraded { "degraded" } else { "ok" }.into(),
                    failed: if degraded {
                        vec!["redis".into()]
                    } else {
                        Vec::new()
                    },
                    detail: degraded.then(|| {
                        "Redis is unreachable; rate limits are counted by this replica alone."
                            .into()
                    }),
                },
            )
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let mut response = crate::response::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &Health {
                    status: "unavailable".into(),
                    failed: vec!["store".into()],
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
