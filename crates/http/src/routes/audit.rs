//! `/audit`: the security audit log, for admins.

use crate::caller::{Caller, ClientAddr};
use crate::dto::audit::{AuditEntryDto, AuditParams};
use crate::dto::page::PageDto;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::response;
use crate::routes::page_request;
use crate::state::AppState;
use axum::extract::{OriginalUri, State};
use axum::response::Response;
use bookstore_core::audit::{ActorFilter, AuditAction, AuditContext, AuditQuery};
use bookstore_core::{Principal, ValidationErrors};
use chrono::{DateTime, Utc};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

/// The origin of what `caller` does in this request, for the audit log.
pub fn origin(caller: &Principal, client: &ClientAddr) -> AuditContext {
    AuditContext::of(caller, Some(client.0.clone()), crate::request_id::current())
}

/// The origin of what a client that has not signed in does in this request.
pub fn anonymous_origin(client: &ClientAddr) -> AuditContext {
    AuditContext::anonymous(Some(client.0.clone()), crate::request_id::current())
}

/// What `actor` takes: exactly what the document's pattern says (a username's characters),
/// so that nothing the document refuses is taken.
fn actor_filter(raw: &str) -> Result<ActorFilter, String> {
    let plain = (3..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if !plain {
        return Err("must be system, anonymous, a user id or a username".into());
    }
    ActorFilter::parse(raw)
}

fn time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z".into())
}

fn action(raw: &str) -> Result<AuditAction, String> {
    AuditAction::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        format!("must be one of {}", known.join(", "))
    })
}

fn query(params: AuditParams) -> Result<AuditQuery, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let page = errors.check_all(page_request(params.limit, params.cursor));
    let action = params.action.as_deref().map(action);
    let action = action.and_then(|r| errors.check("action", r));
    let actor = params.actor.as_deref().map(actor_filter);
    let actor = actor.and_then(|r| errors.check("actor", r));
    let since = params.since.as_deref().map(time);
    let since = since.and_then(|r| errors.check("since", r));
    let until = params.until.as_deref().map(time);
    let until = until.and_then(|r| errors.check("until", r));
    errors.into_result()?;
    Ok(AuditQuery {
        page: page.unwrap_or_default(),
        action,
        actor,
        since,
        until,
    })
}

/// Security and administration events, newest first: sign-ins and their failures, lock-outs,
/// refresh-token reuse, password, role and account changes, webhooks created and deleted,
/// signing-key rotations, secrets loaded at start, and requests refused for their role (403).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of audit entries", body = PageDto<AuditEntryDto>),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid limit, cursor, action, actor, since or until", body = Problem, content_type = PROBLEM)))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let query = query(params).map_err(|errors| ApiError::validation(&errors))?;
    let result = state.audit.list(&caller.0, &query).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(AuditEntryDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}
