//! `/users`: user management, for admins.

use crate::auth::CurrentSession;
use crate::caller::{Caller, ClientAddr};
use crate::dto::page::{PageDto, PageParams};
use crate::dto::user::{CreateUserInput, UpdateUserInput, UserDto};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::response;
use crate::routes::audit::origin;
use crate::routes::page_request;
use crate::state::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::auth::{UserEdit, UserId};
use bookstore_core::Role;

const PROBLEM: &str = crate::error::PROBLEM_JSON;

fn role(raw: &str) -> ApiResult<Role> {
    Role::parse(raw).ok_or_else(|| ApiError::field("role", "must be admin or staff"))
}

/// List users by username.
#[utoipa::path(get, path = "/users", tag = "users", params(PageParams),
    responses((status = 200, description = "A page of users", body = PageDto<UserDto>),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let page = page_request(params.limit, params.cursor)?;
    let result = state.accounts.list_users(&caller.0, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(UserDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUserInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retried create return the first response instead of creating twice")),
    responses((status = 201, description = "Created", body = UserDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Username taken", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid username, password or role, or Idempotency-Key reused with another body", body = Problem, content_type = PROBLEM)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddr,
    headers: HeaderMap,
    body: ApiJson<CreateUserInput>,
) -> ApiResult<Response> {
    let idempotency = crate::idempotency::request(&headers, &caller, "/users", &body.raw)?;
    let input = body.value;
    let role = role(&input.role)?;
    let created = state
        .accounts
        .create_user(
            &caller.0,
            &input.username,
            input.password,
            role,
            idempotency.as_ref(),
            &origin(&caller.0, &client),
        )
        .await?;
    let user = created.value;
    if !created.replayed {
        tracing::info!(actor = %caller.0.username, user = %user.username, role = role.as_str(), "user created");
    }
    let mut response = response::json(StatusCode::CREATED, &UserDto::from(user.clone()));
    response::set_location(&mut response, &format!("/users/{}", user.id));
    crate::idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// Get one user.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such user", body = Problem, content_type = PROBLEM)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let user = state
        .accounts
        .get_user(&caller.0, UserId::from_uuid(id))
        .await?;
    Ok(response::json(StatusCode::OK, &UserDto::from(user)))
}

/// Change a user's role, disable or enable them, or reset their password. A change that
/// matters ends the user's sign-ins at once; the same values again change nothing. Changing
/// your own password needs `current_password` and ends only your other sign-ins.
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = UpdateUserInput,
    responses((status = 200, description = "The changed user", body = UserDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such user", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Admins cannot demote or disable themselves", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid fields", body = Problem, content_type = PROBLEM)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    CurrentSession(session): CurrentSession,
    client: ClientAddr,
    PathId(id): PathId,
    body: ApiJson<UpdateUserInput>,
) -> ApiResult<Response> {
    let input = body.value;
    let role = input.role.as_deref().map(role).transpose()?;
    let own = caller.0.subject == id.to_string();
    if own && (input.disabled == Some(true) || role == Some(Role::Staff)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "self-lockout",
            "You cannot disable or demote yourself; ask another admin.",
        ));
    }
    let id = UserId::from_uuid(id);
    let user = state
        .accounts
        .update_user(
            &caller.0,
            session,
            id,
            UserEdit {
                role,
                disabled: input.disabled,
                password: input.password,
                current_password: input.current_password,
            },
            &origin(&caller.0, &client),
        )
        .await?;
    state.verifier.forget(id);
    tracing::info!(actor = %caller.0.username, user = %user.username, "user changed");
    Ok(response::json(StatusCode::OK, &UserDto::from(user)))
}

/// Disable a user (users are never erased: the audit history names them).
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "Disabled"),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such user", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Admins cannot disable themselves", body = Problem, content_type = PROBLEM)))]
pub async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddr,
    PathId(id): PathId,
) -> ApiResult<Response> {
    if caller.0.subject == id.to_string() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "self-lockout",
            "You cannot disable yourself; ask another admin.",
        ));
    }
    let id = UserId::from_uuid(id);
    state
        .accounts
        .update_user(
            &caller.0,
            None,
            id,
            UserEdit {
                disabled: Some(true),
                ..UserEdit::default()
            },
            &origin(&caller.0, &client),
        )
        .await?;
    state.verifier.forget(id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Lift a sign-in lock-out after too many failed attempts.
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "Unlocked"),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such user", body = Problem, content_type = PROBLEM)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    state
        .accounts
        .unlock(&caller.0, UserId::from_uuid(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
