//! One error type for every response that is not a success: RFC 9457 problem details.
//! Client errors say what is wrong; server errors say nothing of the cause, which is logged.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::audit::AuditError;
use bookstore_core::auth::AuthError;
use bookstore_core::webhook::WebhookError;
use bookstore_core::{CatalogError, FieldError, StoreError, ValidationErrors};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemFieldError {
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemFieldError>,
    pub request_id: Option<String>,
    /// Extra members for some problems (the media types supported, the conflicting book...).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: String,
    errors: Vec<ProblemFieldError>,
    extensions: serde_json::Map<String, serde_json::Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn validation(errors: &ValidationErrors) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request has invalid fields; see errors.",
        )
        .with_errors(errors.errors())
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(&ValidationErrors::single(field, message.into()))
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side. The request id identifies it in the logs.",
        )
    }

    pub fn with_errors(mut self, errors: &[FieldError]) -> Self {
        self.errors = errors
            .iter()
            .map(|e| ProblemFieldError {
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect();
        self
    }

    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("https://bookstore.dev/problems/{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self
                .errors
                .iter()
                .map(|e| ProblemFieldError {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            request_id: crate::request_id::current(),
            extensions: self.extensions.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// Logs a server-side failure with its whole cause chain; the client sees none of it.
fn log_internal(err: &(dyn std::error::Error + 'static)) {
    let mut chain = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain.join(": "), "request failed");
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let detail = err.to_string();
        match err {
            StoreError::NotFound { .. } => Self::not_found(detail),
            StoreError::VersionMismatch { current } => {
                Self::new(StatusCode::PRECONDITION_FAILED, "version-mismatch", detail)
                    .with_extension("current_version", current.into())
                    .with_header(
                        header::ETAG,
                        HeaderValue::from_str(&crate::etag::format(current))
                            .unwrap_or(HeaderValue::from_static("\"0\"")),
                    )
            }
            StoreError::DuplicateIsbn { existing, .. } => {
                let err = Self::new(StatusCode::CONFLICT, "duplicate-isbn", detail);
                match existing {
                    Some(id) => err.with_extension("existing_id", id.to_string().into()),
                    None => err,
                }
            }
            StoreError::DuplicateName { .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate-name", detail)
            }
            StoreError::InsufficientStock { available, .. } => {
                Self::new(StatusCode::CONFLICT, "insufficient-stock", detail)
                    .with_extension("available", available.into())
            }
            StoreError::InUse { .. } | StoreError::HasChildren { .. } => {
                Self::new(StatusCode::CONFLICT, "in-use", detail)
            }
            StoreError::Conflict { problem, .. } => {
                Self::new(StatusCode::CONFLICT, problem, detail)
            }
            StoreError::UnknownReference { field, .. } => Self::field(&field, detail),
            StoreError::GenreCycle => Self::field("parent_id", detail),
            StoreError::IdempotencyKeyTaken => {
                Self::new(StatusCode::CONFLICT, "idempotency-in-progress", detail)
            }
            StoreError::InvalidCursor => Self::field("cursor", detail),
            StoreError::Invalid(errors) => Self::validation(&errors),
            StoreError::Backend(_) => {
                log_internal(&err);
                Self::internal()
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Validation(errors) => Self::validation(&errors),
            CatalogError::Forbidden(action) => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("Your role is not allowed to {action}."),
            ),
            CatalogError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                err.to_string(),
            ),
            CatalogError::Store(store) => store.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let detail = err.to_string();
        match err {
            AuthError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid-credentials", detail)
            }
            AuthError::Throttled { retry_after_secs } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-sign-ins", detail)
                    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
            }
            AuthError::InvalidRefreshToken | AuthError::RefreshTokenReused { .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid-refresh-token", detail)
            }
            AuthError::InvalidToken(reason) => {
                tracing::info!(%reason, "access token refused");
                crate::auth::invalid_token()
            }
            AuthError::WrongCurrentPassword => Self::field("current_password", "is wrong"),
            AuthError::Validation(errors) => Self::validation(&errors),
            AuthError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            AuthError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            AuthError::UserNotFound => Self::not_found(detail),
            AuthError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                detail,
            ),
            AuthError::Store(store) => store.into(),
            AuthError::Crypto(_) => {
                log_internal(&err);
                Self::internal()
            }
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let detail = err.to_string();
        match err {
            WebhookError::Validation(errors) => Self::validation(&errors),
            WebhookError::Forbidden(action) => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("Your role is not allowed to {action}."),
            ),
            WebhookError::NotFound(_) => Self::not_found(detail),
            WebhookError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                detail,
            ),
            WebhookError::Crypto(_) => {
                log_internal(&err);
                Self::internal()
            }
            WebhookError::Store(store) => store.into(),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", err.to_string()),
            AuditError::Store(store) => store.into(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(&errors)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
