use bookstore_core::auth::User;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub username: String,
    /// `admin` or `staff`.
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            username: u.username.to_string(),
            role: u.role.as_str().to_owned(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
    /// The `device_token` of an earlier sign-in to this account from this client: failed
    /// sign-ins from elsewhere then cannot lock this client out.
    #[serde(default)]
    pub device_token: Option<String>,
    /// For a browser (the web UI): `true` puts the refresh token in an `HttpOnly; Secure;
    /// SameSite=Strict` cookie scoped to `/auth` instead of the body, out of scripts' reach.
    /// `POST /auth/refresh` then reads it from there.
    #[serde(default)]
    pub refresh_cookie: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshInput {
    /// The refresh token (body mode).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `true` instead of `refresh_token` (cookie mode, for the web UI): the refresh token is
    /// read from the `bookstore_refresh` cookie, which `POST /auth/refresh` takes only with an
    /// `X-Requested-With` header, so that a cookie a browser sends along never authorises
    /// anything alone; the new refresh token goes back into the cookie, not the body.
    /// `Some(None)` is an explicit `null`, which is refused: the field is `true` or absent.
    #[serde(default, deserialize_with = "given")]
    #[schema(value_type = Option<bool>)]
    pub refresh_cookie: Option<Option<bool>>,
}

/// A field that is present (`Some`, its value possibly `null`), as opposed to absent (`None`,
/// through `#[serde(default)]`).
fn given<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    <Option<bool> as serde::Deserialize>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Absent when the sign-in asked for the refresh token in a cookie (`refresh_cookie`):
    /// it is then in the `bookstore_refresh` cookie that `Set-Cookie` sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the sign-in ends, however often it is refreshed.
    pub refresh_expires_in: i64,
    /// On sign-in: a token naming this client as one that has signed in to this account.
    /// Keep it (it lasts 90 days) and send it with the next sign-in, replacing it with the
    /// new one each time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordInput {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserInput {
    pub username: String,
    /// 12 to 128 characters; common passwords are refused.
    pub password: String,
    /// `admin` or `staff`.
    pub role: String,
}

/// Fields an admin may change; others (`id`, `username`, `password_hash`) are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserInput {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    /// A new password (a reset): ends the user's sign-ins. Your own needs
    /// `current_password` too, and ends only your other sign-ins.
    pub password: Option<String>,
    /// Your current password, when `password` changes your own.
    pub current_password: Option<String>,
}
