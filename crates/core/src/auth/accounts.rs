//! The sign-in and user-management use cases.

use super::password::{self, Password};
use super::ports::{
    AccessClaims, NewRefreshToken, PasswordHasher, RefreshOutcome, TokenSigner, UserStore,
};
use super::throttle::{Throttle, WINDOW};
use super::user::{NewUser, User, UserChange, UserId, Username};
use super::AuthError;
use crate::audit::{details, AuditAction, AuditContext};
use crate::error::StoreError;
use crate::idempotency::{create_once, replay, Created};
use crate::paging::{Page, PageRequest};
use crate::policy::{Principal, Role};
use crate::ports::{IdempotencyRequest, IdempotencyStore};
use crate::validation::ValidationErrors;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    /// After this long a sign-in ends, however often it was refreshed.
    pub session_lifetime: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "bookstore".into(),
            audience: "bookstore-api".into(),
            access_ttl: Duration::minutes(15),
            session_lifetime: Duration::hours(12),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    /// A new trusted-device token, on sign-in only (see [`Accounts::login`]).
    pub device_token: Option<String>,
}

/// What an admin asks to change about a user ([`Accounts::update_user`]); `None` leaves a
/// field as it is. Deliberately not `Debug`: it holds passwords.
#[derive(Default)]
pub struct UserEdit {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new password: a reset, or for one's own account a change.
    pub password: Option<String>,
    /// One's own current password, needed when `password` changes one's own.
    pub current_password: Option<String>,
}

/// The result of a sign-in attempt, with what the caller should log.
pub type LoginOutcome = Result<TokenPair, AuthError>;

#[derive(Clone)]
pub struct Accounts {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: Arc<dyn PasswordHasher>,
    pub(super) signer: Arc<dyn TokenSigner>,
    pub(super) config: AuthConfig,
}

/// The throttle key of an account: only ever made from a name that parses, so that what a
/// user typed into the wrong field is never stored.
pub(super) fn account_key(username: &Username) -> String {
    format!("user:{username}")
}

fn manage_users(who: &Principal) -> Result<(), AuthError> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(AuthError::Forbidden)
    }
}

fn user_id_of(who: &Principal) -> Result<UserId, AuthError> {
    Uuid::parse_str(&who.subject)
        .map(UserId::from_uuid)
        .map_err(|_| AuthError::UserNotFound)
}

fn new_password(raw: String, username: &Username, field: &str) -> Result<Password, AuthError> {
    Password::new(raw, &[username.as_str()])
        .map_err(|e| AuthError::Validation(ValidationErrors::single(field, e)))
}

impl Accounts {
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        signer: Arc<dyn TokenSigner>,
        config: AuthConfig,
    ) -> Self {
        Self {
            users,
            hasher,
            signer,
            config,
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    pub(super) async fn issue(
        &self,
        user: &User,
        family_id: Uuid,
        family_started_at: DateTime<Utc>,
    ) -> LoginOutcome {
        let now = Utc::now();
        let expires = now + self.config.access_ttl;
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: user.id.to_string(),
            exp: expires.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::now_v7().to_string(),
            role: user.role.as_str().to_owned(),
            name: user.username.to_string(),
            tep: user.token_epoch,
            sid: family_id.to_string(),
        };
        let access_token = self.signer.sign(&claims).await?;
        let refresh_token = self.signer.new_refresh_token()?;
        let refresh_expires = family_started_at + self.config.session_lifetime;
        self.users
            .insert_refresh_token(&NewRefreshToken {
                token_hash: self.signer.hash_refresh_token(&refresh_token),
                user_id: user.id,
                family_id,
                family_started_at,
                expires_at: refresh_expires,
            })
            .await?;
        Ok(TokenPair {
            access_token,
            expires_in: self.config.access_ttl.num_seconds(),
            refresh_token,
            refresh_expires_in: (refresh_expires - now).num_seconds().max(0),
            device_token: None,
        })
    }

    /// Trades a refresh token for a new pair. A spent token presented again revokes its whole
    /// family: whoever holds the newer token loses it too, and must sign in again.
    /// The reuse of a spent token is recorded (`refresh_reuse`) with `origin`.
    #[tracing::instrument(name = "accounts.refresh", skip_all)]
    pub async fn refresh(&self, refresh_token: &str, origin: &AuditContext) -> LoginOutcome {
        let now = Utc::now();
        let hash = self.signer.hash_refresh_token(refresh_token);
        match self.users.use_refresh_token(&hash, now).await? {
            RefreshOutcome::Valid {
                user_id,
                family_id,
                family_started_at,
            } => {
                if family_started_at + self.config.session_lifetime <= now {
                    return Err(AuthError::InvalidRefreshToken);
                }
                let Some(record) = self.users.get_user(user_id).await? else {
                    return Err(AuthError::InvalidRefreshToken);
                };
                if record.user.disabled {
                    return Err(AuthError::InvalidRefreshToken);
                }
                self.issue(&record.user, family_id, family_started_at).await
            }
            RefreshOutcome::Reused { user_id, family_id } => {
                let target = self
                    .users
                    .get_user(user_id)
                    .await?
                    .map(|r| r.user.username.to_string());
                self.users
                    .record_audit(&origin.entry(
                        AuditAction::RefreshReuse,
                        target,
                        details([
                            ("user_id", user_id.to_string().into()),
                            ("family_id", family_id.to_string().into()),
                        ]),
                    ))
                    .await?;
                Err(AuthError::RefreshTokenReused { user_id, family_id })
            }
            RefreshOutcome::Invalid => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// Ends the caller's sign-in the refresh token belongs to, and returns it. Someone else's
    /// refresh token (or an unknown one) ends nothing: holding a token is no right to end that
    /// session.
    #[tracing::instrument(name = "accounts.logout", skip_all)]
    pub async fn logout(
        &self,
        who: &Principal,
        refresh_token: &str,
    ) -> Result<Option<Uuid>, AuthError> {
        let Ok(owner) = user_id_of(who) else {
            return Ok(None);
        };
        let hash = self.signer.hash_refresh_token(refresh_token);
        Ok(self.users.revoke_refresh_family(&hash, owner).await?)
    }

    #[tracing::instrument(name = "accounts.me", skip_all)]
    pub async fn me(&self, who: &Principal) -> Result<User, AuthError> {
        let id = user_id_of(who)?;
        self.users
            .get_user(id)
            .await?
            .map(|r| r.user)
            .ok_or(AuthError::UserNotFound)
    }

    /// Changes the caller's password after checking the current one. Every other sign-in of
    /// theirs ends; `session`, the one that made the change, goes on.
    #[tracing::instrument(name = "accounts.change_own_password", skip_all)]
    pub async fn change_own_password(
        &self,
        who: &Principal,
        session: Option<Uuid>,
        current: &str,
        new: String,
        origin: &AuditContext,
    ) -> Result<User, AuthError> {
        let id = user_id_of(who)?;
        // Before any work: argon2 would hash every byte of it.
        if !password::checkable(current) {
            return Err(AuthError::Validation(ValidationErrors::single(
                "current_password",
                password::TOO_MANY_BYTES,
            )));
        }
        let record = self
            .users
            .get_user(id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if !self.hasher.verify(current, &record.password_hash).await? {
            return Err(AuthError::WrongCurrentPassword);
        }
        let password = new_password(new, &record.user.username, "new_password")?;
        let hash = self.hasher.hash(password.expose()).await?;
        Ok(self
            .users
            .update_user(
                id,
                &UserChange {
                    password_hash: Some(hash),
                    keep_session: session,
                    ..UserChange::default()
                },
                origin,
            )
            .await?)
    }

    /// Creates a user without a caller check: for the CLI and the first-start bootstrap, which
    /// the audit log records as the `system`'s doing.
    #[tracing::instrument(name = "accounts.create_user_unchecked", skip_all)]
    pub async fn create_user_unchecked(
        &self,
        username: Username,
        password: Password,
        role: Role,
    ) -> Result<User, AuthError> {
        let password_hash = self.hasher.hash(password.expose()).await?;
        self.users
            .create_user(
                &NewUser {
                    username,
                    role,
                    password_hash,
                },
                None,
                &AuditContext::system(),
            )
            .await
            .map_err(|err| match err {
                StoreError::DuplicateName { .. } => {
                    AuthError::Conflict("a user with this username exists".into())
                }
                other => other.into(),
            })
    }

    /// Creates a user; with an `Idempotency-Key`, a retry is answered with the first user.
    #[tracing::instrument(name = "accounts.create_user", skip_all)]
    pub async fn create_user(
        &self,
        who: &Principal,
        username: &str,
        password: String,
        role: Role,
        idempotency: Option<&IdempotencyRequest>,
        origin: &AuditContext,
    ) -> Result<Created<User>, AuthError> {
        manage_users(who)?;
        let username = Username::parse(username)
            .map_err(|e| AuthError::Validation(ValidationErrors::single("username", e)))?;
        let password = new_password(password, &username, "password")?;
        let keys: &dyn IdempotencyStore = &*self.users;
        // Before hashing: a retry costs no argon2 run.
        if let Some(request) = idempotency {
            if let Some(first) = replay::<User, AuthError>(keys, request).await? {
                return Ok(first);
            }
        }
        let password_hash = self.hasher.hash(password.expose()).await?;
        let user = NewUser {
            username,
            role,
            password_hash,
        };
        create_once(keys, idempotency, || {
            self.users.create_user(&user, idempotency, origin)
        })
        .await
        .map_err(|err| match err {
            AuthError::Store(StoreError::DuplicateName { .. }) => {
                AuthError::Conflict("a user with this username exists".into())
            }
            other => other,
        })
    }

    #[tracing::instrument(name = "accounts.list_users", skip_all)]
    pub async fn list_users(
        &self,
        who: &Principal,
        page: &PageRequest,
    ) -> Result<Page<User>, AuthError> {
        manage_users(who)?;
        Ok(self.users.list_users(page).await?)
    }

    #[tracing::instrument(name = "accounts.get_user", skip_all)]
    pub async fn get_user(&self, who: &Principal, id: UserId) -> Result<User, AuthError> {
        manage_users(who)?;
        self.users
            .get_user(id)
            .await?
            .map(|r| r.user)
            .ok_or(AuthError::UserNotFound)
    }

    /// Changes a user's role, disabled flag or password (a reset). A change that matters ends
    /// the user's sign-ins at once; the same values again change nothing. Admins changing
    /// their own password go through [`Accounts::change_own_password`]: the current password
    /// is needed whichever way they ask, or a stolen token would take the account over.
    #[tracing::instrument(name = "accounts.update_user", skip_all)]
    pub async fn update_user(
        &self,
        who: &Principal,
        session: Option<Uuid>,
        id: UserId,
        edit: UserEdit,
        origin: &AuditContext,
    ) -> Result<User, AuthError> {
        manage_users(who)?;
        let UserEdit {
            role,
            disabled,
            password,
            current_password,
        } = edit;
        let own = user_id_of(who).is_ok_and(|me| me == id);
        if own {
            if let Some(new) = password {
                let Some(current) = current_password.as_deref() else {
                    return Err(AuthError::Validation(ValidationErrors::single(
                        "current_password",
                        "is needed to change your own password",
                    )));
                };
                // Checked (and the password changed) before anything else changes, so that a
                // wrong current password changes nothing.
                self.change_own_password(who, session, current, new, origin)
                    .await?;
                if role.is_none() && disabled.is_none() {
                    return self.get_user(who, id).await;
                }
                return self
                    .update_user_unchecked(id, role, disabled, None, origin)
                    .await;
            }
        }
        self.update_user_unchecked(id, role, disabled, password, origin)
            .await
    }

    /// Changes a user without a caller check (the CLI's, with [`AuditContext::system`]).
    #[tracing::instrument(name = "accounts.update_user_unchecked", skip_all)]
    pub async fn update_user_unchecked(
        &self,
        id: UserId,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<String>,
        origin: &AuditContext,
    ) -> Result<User, AuthError> {
        let record = self
            .users
            .get_user(id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        let password_hash = match password {
            None => None,
            Some(raw) => {
                let password = new_password(raw, &record.user.username, "password")?;
                Some(self.hasher.hash(password.expose()).await?)
            }
        };
        let user = self
            .users
            .update_user(
                id,
                &UserChange {
                    role,
                    disabled,
                    password_hash,
                    keep_session: None,
                },
                origin,
            )
            .await?;
        if disabled == Some(false) {
            // Re-enabling also lifts a lock-out.
            self.users
                .clear_login_failures(&account_key(&user.username))
                .await?;
        }
        Ok(user)
    }

    /// Lifts the sign-in lock-out of an account.
    #[tracing::instrument(name = "accounts.unlock", skip_all)]
    pub async fn unlock(&self, who: &Principal, id: UserId) -> Result<(), AuthError> {
        manage_users(who)?;
        let user = self.get_user(who, id).await?;
        Ok(self
            .users
            .clear_login_failures(&account_key(&user.username))
            .await?)
    }

    /// Creates the first administrator when there are no users at all. Returns whether it did.
    #[tracing::instrument(name = "accounts.bootstrap_admin", skip_all)]
    pub async fn bootstrap_admin(&self, password: Password) -> Result<bool, AuthError> {
        if self.users.count_users().await? > 0 {
            return Ok(false);
        }
        let username = Username::parse("admin").map_err(|e| AuthError::Crypto(e.to_string()))?;
        match self
            .create_user_unchecked(username, password, Role::Admin)
            .await
        {
            Ok(_) => Ok(true),
            // Another replica bootstrapped at the same moment.
            Err(AuthError::Conflict(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Current throttle of an account, for operators.
    #[tracing::instrument(name = "accounts.account_throttle", skip_all)]
    pub async fn account_throttle(&self, username: &Username) -> Result<Throttle, AuthError> {
        let now = Utc::now();
        Ok(self
            .users
            .login_failures(&account_key(username), now - WINDOW)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::MAX_BYTES;
    use crate::fakes::{self, FakeStore};
    use futures_executor::block_on;

    const CURRENT: &str = "saffron lighthouse kettle";

    static SYSTEM: std::sync::LazyLock<AuditContext> =
        std::sync::LazyLock::new(AuditContext::system);

    fn sys() -> &'static AuditContext {
        &SYSTEM
    }
    const NEW: &str = "velvet tram orbit quinoa";

    /// Accounts over the fake store, and a signed-in admin with its id.
    fn admin() -> (Accounts, Arc<FakeStore>, Principal, UserId) {
        let (accounts, store) = fakes::accounts();
        let name = Username::parse("boss").expect("name");
        let password = Password::new(CURRENT.into(), &[]).expect("password");
        let user =
            block_on(accounts.create_user_unchecked(name, password, Role::Admin)).expect("created");
        let who = Principal {
            subject: user.id.to_string(),
            username: "boss".into(),
            role: Role::Admin,
        };
        (accounts, store, who, user.id)
    }

    /// The one field a refusal names.
    fn refused_field<T>(result: Result<T, AuthError>) -> String {
        match result {
            Err(AuthError::Validation(errors)) if errors.errors().len() == 1 => {
                errors.errors()[0].field.clone()
            }
            Err(other) => panic!("not one field refused: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn an_over_long_current_password_is_refused_before_any_hashing() {
        let (accounts, store, who, own) = admin();
        let huge = "x".repeat(MAX_BYTES + 1);
        store.hashed.lock().unwrap().clear();
        let change = accounts.change_own_password(&who, None, &huge, NEW.into(), sys());
        assert_eq!(refused_field(block_on(change)), "current_password");
        let patch = UserEdit {
            password: Some(NEW.into()),
            current_password: Some(huge),
            ..UserEdit::default()
        };
        let through_patch = accounts.update_user(&who, None, own, patch, sys());
        assert_eq!(refused_field(block_on(through_patch)), "current_password");
        assert_eq!(store.hashed.lock().unwrap().clone(), Vec::<usize>::new());
        assert_eq!(store.count("update_user"), 0);
    }

    #[test]
    fn an_over_long_new_password_is_refused_before_any_hashing() {
        let (accounts, store, who, _) = admin();
        let huge = "x".repeat(1024 * 1024);
        let clerk =
            block_on(accounts.create_user(&who, "clerk", CURRENT.into(), Role::Staff, None, sys()))
                .expect("clerk")
                .value;
        store.hashed.lock().unwrap().clear();
        let create = accounts.create_user(&who, "clerk2", huge.clone(), Role::Staff, None, sys());
        assert_eq!(refused_field(block_on(create)), "password");
        let change = accounts.change_own_password(&who, None, CURRENT, huge.clone(), sys());
        assert_eq!(refused_field(block_on(change)), "new_password");
        let reset = UserEdit {
            password: Some(huge),
            ..UserEdit::default()
        };
        let reset = accounts.update_user(&who, None, clerk.id, reset, sys());
        assert_eq!(refused_field(block_on(reset)), "password");
        // Only the current password was hashed (checked, for the change).
        let hashed = store.hashed.lock().unwrap().clone();
        assert_eq!(hashed, vec![CURRENT.len()]);
    }
}
