//! Access-token validation: the algorithm is pinned, every claim is required and checked,
//! header parameters that point elsewhere (`jku`, `x5u`, `jwk`) are refused without fetching
//! anything, and a token issued before its user's last role, password or status change is
//! refused, and so is a token whose sign-in (refresh-token family) has ended: by logout, by the
//! reuse of a spent refresh token, or by a password change made in another sign-in. The user's
//! epoch and the sign-in's state are cached briefly so that the hot path costs no query.

use crate::external::ExternalIssuers;
use crate::keyring::{KeyRing, LEEWAY_SECS};
use async_trait::async_trait;
use bookstore_core::auth::{
    AccessClaims, AuthError, SessionState, TokenVerifier, UserId, UserStore, VerifiedToken,
};
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
    /// By user and sign-in: what the store said, and when.
    sessions: Mutex<HashMap<(UserId, Uuid), (SessionState, Instant)>>,
    /// Tokens already verified, by their text. A client sends the same token on every request
    /// for its whole life, and the Ed25519 verification costs more than the rest of a cached
    /// read; what a token says cannot change, so it is verified once. Expiry, the signing
    /// key's validity and revocation (the epoch) are still checked on every request.
    /// Hashed with foldhash, keyed per process: SipHash over a token of several hundred bytes
    /// was a visible part of a cached read; only verified tokens are ever stored.
    verified: Mutex<HashMap<String, Verified, foldhash::quality::RandomState>>,
    external: Option<Arc<ExternalIssuers>>,
}

#[derive(Clone)]
struct Verified {
    principal: Principal,
    user: UserId,
    session: Uuid,
    epoch: i64,
    expires: i64,
    kid: String,
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(reason.into())
}

/// Bounds the cache under a flood of distinct valid sign-ins; it refills on demand.
const MAX_CACHED_SESSIONS: usize = 100_000;
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
            sessions: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::default()),
            external: None,
        }
    }

    /// Also accepts tokens of these outside issuers.
    pub fn with_external(mut self, external: Arc<ExternalIssuers>) -> Self {
        self.external = (!external.is_empty()).then_some(external);
        self
    }

    async fn session_state(
        &self,
        user: UserId,
        session: Uuid,
    ) -> Result<Option<SessionState>, AuthError> {
        if let Ok(cache) = self.sessions.lock() {
            if let Some((state, at)) = cache.get(&(user, session)) {
                if at.elapsed() < self.epoch_ttl {
                    return Ok(Some(*state));
                }
            }
        }
        let fresh = self
            .users
            .session_state(user, session, chrono::Utc::now())
            .await?;
        if let (Some(state), Ok(mut cache)) = (fresh, self.sessions.lock()) {
            if cache.len() >= MAX_CACHED_SESSIONS {
                cache.clear();
            }
            cache.insert((user, session), (state, Instant::now()));
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
        let session = Uuid::parse_str(&claims.sid).map_err(|_| invalid("bad session id"))?;
        let verified = Verified {
            principal: Principal {
                subject: claims.sub,
                username: claims.name,
                role,
            },
            user,
            session,
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
    async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        if let Some(external) = &self.external {
            if external.claims_trusted_issuer(token) {
                return Ok(VerifiedToken {
                    principal: external.verify(token).await?,
                    session: None,
                });
            }
        }
        let verified = match self.already_verified(token) {
            Some(hit) => hit,
            None => self.verify_signature_and_claims(token)?,
        };
        match self.session_state(verified.user, verified.session).await? {
            Some(state) if !state.disabled && state.live && verified.epoch >= state.token_epoch => {
                Ok(VerifiedToken {
                    principal: verified.principal,
                    session: Some(verified.session),
                })
            }
            Some(state) if !state.live => Err(invalid("the token's sign-in has ended")),
            _ => Err(invalid("the token has been revoked")),
        }
    }

    fn forget(&self, user: UserId) {
        if let Ok(mut cache) = self.sessions.lock() {
            cache.retain(|(u, _), _| *u != user);
        }
    }

    fn forget_session(&self, session: Uuid) {
        if let Ok(mut cache) = self.sessions.lock() {
            cache.retain(|(_, s), _| *s != session);
        }
    }

    fn jwks(&self) -> serde_json::Value {
        self.keyring.jwks()
    }
}
