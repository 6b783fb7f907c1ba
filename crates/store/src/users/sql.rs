//! SQL text of the user store, shared by both databases (`$n` placeholders serve both; see
//! `crate::sql`). What differs is behind [`super::UserDialect`].

/// The columns of [`crate::users::rows::UserRow`]: everything but the password hash.
macro_rules! user_columns {
    () => {
        "id, username, role, disabled, token_epoch, created_at, updated_at"
    };
}

pub(crate) const USER_COUNT: &str = "SELECT count(*) FROM users";
pub(crate) const USER_INSERT: &str = "INSERT INTO users (id, username, role, password_hash, \
    disabled, token_epoch, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)";
/// The first page of users in username order; `$1` is the limit.
pub(crate) const USER_PAGE: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users ORDER BY username, id LIMIT $1"
);
/// A later page: `$1`, `$2` are the username and id of the last user before it, `$3` the
/// limit.
pub(crate) const USER_PAGE_AFTER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE (username, id) > ($1, $2) ORDER BY username, id LIMIT $3"
);
pub(crate) const RECORD_BY_ID: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE id = $1"
);
pub(crate) const RECORD_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE username = $1"
);
/// The values an update is compared with, read under the row lock.
pub(crate) const USER_CHANGEABLE: &str = "SELECT role, disabled FROM users WHERE id = $1";
pub(crate) const USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
/// `$2` role, `$3` disabled, `$4` password hash: NULL leaves the column as it is. `$6` is
/// what the token epoch moves on by: 1 to end every access token of the user, 0 when only
/// some sign-ins end (their access tokens end with their session).
pub(crate) const USER_UPDATE: &str = concat!(
    "UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled), \
     password_hash = coalesce($4, password_hash), token_epoch = token_epoch + $6, \
     updated_at = $5 WHERE id = $1 RETURNING ",
    user_columns!()
);
pub(crate) const USER_TOKEN_EPOCH: &str = "SELECT token_epoch, disabled FROM users WHERE id = $1";
/// A sign-in is live while one of its refresh tokens is neither revoked nor past the session's
/// end (spent ones count: the family's newest token may be spent and its successor in flight).
/// Every token of a family shares `expires_at`, and a revocation revokes them all.
pub(crate) const SESSION_STATE: &str = "SELECT token_epoch, disabled, EXISTS (SELECT 1 \
    FROM refresh_tokens WHERE family_id = $2 AND user_id = $1 AND revoked_at IS NULL \
    AND expires_at > $3) AS live FROM users WHERE id = $1";

/// `$6` is the revocation time: set when the token joins a family that is already revoked.
pub(crate) const REFRESH_INSERT: &str = "INSERT INTO refresh_tokens (token_hash, user_id, \
    family_id, family_started_at, expires_at, used_at, revoked_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)";
/// The user's tokens that can no longer be used by anyone: forgotten at the next sign-in.
pub(crate) const REFRESH_PRUNE_EXPIRED: &str =
    "DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at <= $2";
pub(crate) const FAMILY_REVOKED_COUNT: &str =
    "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL";
/// Spends a live token in one statement: of two concurrent uses, one updates the row and the
/// other finds `used_at` set (PostgreSQL re-checks the condition after waiting for the row lock;
/// SQLite has one writer).
pub(crate) const REFRESH_USE: &str = "UPDATE refresh_tokens SET used_at = $2 \
    WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
    RETURNING user_id, family_id, family_started_at";
pub(crate) const REFRESH_LOOKUP: &str =
    "SELECT user_id, family_id, used_at FROM refresh_tokens WHERE token_hash = $1";
pub(crate) const FAMILY_REVOKE: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
pub(crate) const USER_TOKENS_REVOKE: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
/// Every sign-in of the user but `$3`.
pub(crate) const USER_OTHER_TOKENS_REVOKE: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
    WHERE user_id = $1 AND family_id <> $3 AND revoked_at IS NULL";

pub(crate) const DEVICE_USER: &str =
    "SELECT user_id FROM trusted_devices WHERE token_hash = $1 AND expires_at > $2";
pub(crate) const DEVICE_PRUNE_EXPIRED: &str =
    "DELETE FROM trusted_devices WHERE user_id = $1 AND expires_at <= $2";
pub(crate) const DEVICE_DELETE: &str =
    "DELETE FROM trusted_devices WHERE token_hash = $1 AND user_id = $2";
pub(crate) const DEVICE_INSERT: &str = "INSERT INTO trusted_devices (token_hash, user_id, \
    created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const USER_DEVICES_DELETE: &str = "DELETE FROM trusted_devices WHERE user_id = $1";

pub(crate) const LOGIN_FAILURE_INSERT: &str =
    "INSERT INTO login_failures (key, at) VALUES ($1, $2)";
pub(crate) const LOGIN_FAILURE_COUNT: &str =
    "SELECT count(*), max(at) FROM login_failures WHERE key = $1 AND at >= $2";
pub(crate) const LOGIN_FAILURES_CLEAR: &str = "DELETE FROM login_failures WHERE key = $1";

pub(crate) const SIGNING_KEYS_SELECT: &str = "SELECT kid, algorithm, public_key, \
    sealed_private_key, created_at, retired_at FROM signing_keys \
    ORDER BY created_at DESC, kid DESC";
/// No key signs past `$1`: the current key retires then, and so does a key whose retirement
/// was further ahead (an emergency rotation stops every older key at once).
pub(crate) const SIGNING_KEYS_RETIRE: &str =
    "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > $1";
/// Keys created at or after `$1`: a scheduled rotation is not due while there is one.
pub(crate) const SIGNING_KEYS_CREATED_SINCE: &str =
    "SELECT count(*) FROM signing_keys WHERE created_at >= $1";
pub(crate) const SIGNING_KEY_INSERT: &str = "INSERT INTO signing_keys (kid, algorithm, \
    public_key, sealed_private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)";
