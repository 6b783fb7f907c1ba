//! `/webhooks`: subscriptions to events, their secrets and their delivery log, for admins.

use crate::caller::{Caller, ClientAddr};
use crate::dto::page::{PageDto, PageParams};
use crate::dto::webhook::{DeliveryDto, WebhookDto, WebhookInput, WebhookWithSecretDto};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::response;
use crate::routes::audit::origin;
use crate::routes::page_request;
use crate::state::AppState;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::{DeliveryId, WebhookId};
use uuid::Uuid;

const PROBLEM: &str = crate::error::PROBLEM_JSON;

fn uuid(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::bad_request(format!("'{shown}' is not a valid id (a UUID)."))
    })
}

/// List webhooks, oldest first.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageParams),
    responses((status = 200, description = "A page of webhooks", body = PageDto<WebhookDto>),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = PROBLEM)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state.webhooks.list(&caller.0, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(WebhookDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Subscribe a URL to event types. The answer carries the signing secret, shown this once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = WebhookInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried create return the first response (with the same secret) instead of creating twice")),
    responses((status = 201, description = "Created; `secret` is shown only here", body = WebhookWithSecretDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid URL, event types or description, or Idempotency-Key reused with another body", body = Problem, content_type = PROBLEM)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddr,
    headers: HeaderMap,
    body: ApiJson<WebhookInput>,
) -> ApiResult<Response> {
    let idempotency = crate::idempotency::request(&headers, &caller, "/webhooks", &body.raw)?;
    let created = state
        .webhooks
        .create(
            &caller.0,
            body.value.into(),
            idempotency.as_ref(),
            &origin(&caller.0, &client),
        )
        .await?;
    let (webhook, secret) = created.value;
    if !created.replayed {
        // The host only: receivers often put a token in the URL's path or query.
        let host = bookstore_core::audit::url_host(&webhook.url).unwrap_or_default();
        tracing::info!(actor = %caller.0.username, webhook = %webhook.id, %host, "webhook created");
    }
    let id = webhook.id;
    let mut response = response::json(
        StatusCode::CREATED,
        &WebhookWithSecretDto::new(webhook, &secret),
    );
    response::set_location(&mut response, &format!("/webhooks/{id}"));
    crate::idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Get one webhook (never its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook", body = WebhookDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let webhook = state
        .webhooks
        .get(&caller.0, WebhookId::from_uuid(id))
        .await?;
    Ok(response::json(StatusCode::OK, &WebhookDto::from(webhook)))
}

/// Change a webhook with a JSON Merge Patch (RFC 7396): `url`, `event_types`,
/// `description` (null removes it), `active`.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    request_body(content = WebhookInput, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "The changed webhook", body = WebhookDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let id = WebhookId::from_uuid(id);
    let current = state.webhooks.get(&caller.0, id).await?;
    let merged: WebhookInput = crate::patch::apply(&WebhookInput::from(&current), &body.value)?;
    let webhook = state.webhooks.update(&caller.0, id, merged.into()).await?;
    tracing::info!(actor = %caller.0.username, webhook = %webhook.id, "webhook changed");
    Ok(response::json(StatusCode::OK, &WebhookDto::from(webhook)))
}

/// Delete a webhook and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddr,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let id = WebhookId::from_uuid(id);
    state
        .webhooks
        .delete(&caller.0, id, &origin(&caller.0, &client))
        .await?;
    tracing::info!(actor = %caller.0.username, webhook = %id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A new signing secret, shown in this answer only. The previous one goes on signing for
/// 24 hours: deliveries carry both signatures meanwhile.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "The webhook with its new secret", body = WebhookWithSecretDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let (webhook, secret) = state
        .webhooks
        .rotate_secret(&caller.0, WebhookId::from_uuid(id))
        .await?;
    tracing::info!(actor = %caller.0.username, webhook = %webhook.id, "webhook secret rotated");
    Ok(response::json(
        StatusCode::OK,
        &WebhookWithSecretDto::new(webhook, &secret),
    ))
}

/// The delivery log: one entry per event sent (or being sent), newest first, with the
/// outcome of its latest attempt and its next one.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id"), PageParams),
    responses((status = 200, description = "A page of deliveries", body = PageDto<DeliveryDto>),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = PROBLEM)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state
        .webhooks
        .deliveries(&caller.0, WebhookId::from_uuid(id), &page)
        .await?;
    let dto = PageDto {
        items: result.items.into_iter().map(DeliveryDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Queue a delivery's event again (same event id, so a receiver can tell it has seen it).
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id"),
        ("delivery_id" = uuid::Uuid, Path, description = "Delivery id")),
    responses((status = 202, description = "Queued: the new delivery", body = DeliveryDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = PROBLEM)))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (id, delivery) = (uuid(&id)?, uuid(&delivery)?);
    let queued = state
        .webhooks
        .redeliver(
            &caller.0,
            WebhookId::from_uuid(id),
            DeliveryId::from_uuid(delivery),
        )
        .await?;
    Ok(response::json(
        StatusCode::ACCEPTED,
        &DeliveryDto::from(queued),
    ))
}

/// Send a `bookstore.webhook.ping` event now; the answer is its delivery after the attempt
/// (a failed ping is retried like any delivery).
#[utoipa::path(post, path = "/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, description = "The ping's delivery after its attempt", body = DeliveryDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such webhook", body = Problem, content_type = PROBLEM)))]
pub async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let delivery = state
        .webhooks
        .ping(&caller.0, WebhookId::from_uuid(id))
        .await?;
    Ok(response::json(StatusCode::OK, &DeliveryDto::from(delivery)))
}
