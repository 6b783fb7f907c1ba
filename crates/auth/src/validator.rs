//! Access-token validation: the algorithm is pinned, every claim is required and checked,
//! header parameters that point elsewhere (`jku`, `x5u`, `jwk`) are refused without fetching
//! anything, and a token issued before its user's last role, password or status change is
//! refused. The user's epoch is cached briefly so that the hot path costs no query.

use crate::external::ExternalIssuers;
use crate::keyring::{KeyRing, LEEWAY_SECS};
use async_trait::async_trait;
use bookstore_core::auth::{AccessClaims, AuthError, TokenVerifier, UserId, UserStore};
use bookstore_core::{Principal, Role};
use jsonwebtoken::{Algorithm, Validation};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct JwtValidator {
    keyring: Arc<KeyRing>,
    users: Arc<dyn UserStore>,
    validation: Validation,
    epoch_ttl: Duration,
    epochs: Mutex<HashMap<UserId, (i64, bool, Instant)>>,
    /// Tokens already verified, by their text. A client sends the same token on every request
    /// for its whole life, and the Ed25519 verification costs more than the rest of a cached
    /// read; what a token says cannot change, so it is verified once. Expiry, the signing
    /// key's validity and revocation (the epoch) are still checked on every request.
    verified: Mutex<HashMap<String, Verified>>,
    external: Option<Arc<ExternalIssuers>>,
}

#[derive(Clone)]
struct Verified {
    principal: Principal,
    user: UserId,
    epoch: i64,
    expires: i64,
    kid: String,
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(reason.into())
}

/// Bounds the cache under a flood of distinct valid users; it refills on demand.
const MAX_CACHED_USERS: usize = 100_000;
/// Bounds the verified-token cache (a few MiB at most); it refills on demand.
const MAX_CACHED_TOKENS: usize = 10_000;

impl JwtValidator {
    /// `epoch_ttl` is how long another replica's revocation may take to be seen here; a
    /// revocation made through this process is seen at once (see `forget`).
    pub fn new(
        keyring: Arc<KeyRing>,
        users: Arc<dyn UserStore>,
        issuer: &str,
        audience: &str,
        epoch_ttl: Duration,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            keyring,
            users,
            validation,
            epoch_ttl,
            epochs: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            external: None,
        }
    }

    /// Also accepts tokens of these outside issuers.
    pub fn with_external(mut self, external: Arc<ExternalIssuers>) -> Self {
        self.external = (!external.is_empty()).then_some(external);
        self
    }

    async fn current_epoch(&self, user: UserId) -> Result<Option<(i64, bool)>, AuthError> {
        if let Ok(cache) = self.epochs.lock() {
            if let Some((epoch, disabled, at)) = cache.get(&user) {
                if at.elapsed() < self.epoch_ttl {
                    return Ok(Some((*epoch, *disabled)));
                }
            }
        }
        let fresh = self.users.token_epoch(user).await?;
        if let (Some((epoch, disabled)), Ok(mut cache)) = (fresh, self.epochs.lock()) {
            if cache.len() >= MAX_CACHED_USERS {
                cache.clear();
            }
            cache.insert(user, (epoch, disabled, Instant::now()));
        }
        Ok(fresh)
    }

    fn already_verified(&self, token: &str) -> Option<Verified> {
        let hit = self.verified.lock().ok()?.get(token).cloned()?;
        let now = chrono::Utc::now().timestamp();
        let live = hit.expires + LEEWAY_SECS > now && self.keyring.accepts(&hit.kid);
        live.then_some(hit)
    }

    fn verify_signature_and_claims(&self, token: &str) -> Result<Verified, AuthError> {
        let (header, kid) = crate::header::checked(token)?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("unsupported algorithm"));
        }
        let key = self
            .keyring
            .verifying_key(&kid)
            .ok_or_else(|| invalid("unknown signing key"))?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|e| invalid(e.to_string()))?
            .claims;
        let role = Role::parse(&claims.role).ok_or_else(|| invalid("unknown role"))?;
        let user = Uuid::parse_str(&claims.sub)
            .map(UserId::from_uuid)
            .map_err(|_| invalid("bad subject"))?;
        let verified = Verified {
            principal: Principal {
                subject: claims.sub,
                username: claims.name,
                role,
            },
            user,
            epoch: claims.tep,
            expires: claims.exp,
            kid,
        };
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= MAX_CACHED_TOKENS {
                cache.clear();
            }
            cache.insert(token.to_owned(), verified.clone());
        }
        Ok(verified)
    }
}

#[async_trait]
impl TokenVerifier for JwtValidator {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(external) = &self.external {
            if external.claims_trusted_issuer(token) {
                return external.verify(token).await;
            }
        }
        let verified = match self.already_verified(token) {
            Some(hit) => hit,
            None => self.verify_signature_and_claims(token)?,
        };
        match self.current_epoch(verified.user).await? {
            Some((epoch, false)) if verified.epoch >= epoch => Ok(verified.principal),
            _ => Err(invalid("the token has been revoked")),
        }
    }

    fn forget(&self, user: UserId) {
        if let Ok(mut cache) = self.epochs.lock() {
            cache.remove(&user);
        }
    }

    fn jwks(&self) -> serde_json::Value {
        self.keyring.jwks()
    }
}
