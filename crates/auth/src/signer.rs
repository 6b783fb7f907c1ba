//! Issues access tokens (EdDSA JWTs with `kid`) and opaque refresh tokens.

use crate::keyring::KeyRing;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::auth::{AccessClaims, AuthError, TokenSigner};
use jsonwebtoken::{Algorithm, Header};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct JwtSigner {
    keyring: Arc<KeyRing>,
}

impl JwtSigner {
    pub fn new(keyring: Arc<KeyRing>) -> Self {
        Self { keyring }
    }
}

#[async_trait]
impl TokenSigner for JwtSigner {
    async fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        // Signing is rare (sign-in, refresh): read the keys again so a rotation made by any
        // process signs from the next token on.
        if let Err(err) = self.keyring.reload().await {
            tracing::warn!(error = %err, "could not reload signing keys; using the loaded ones");
        }
        let (kid, key) = self
            .keyring
            .signing_key()
            .ok_or_else(|| AuthError::Crypto("no signing key".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| AuthError::Crypto(e.to_string()))
    }

    fn new_refresh_token(&self) -> Result<String, AuthError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AuthError::Crypto("system randomness unavailable".into()))?;
        Ok(format!("rt_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn hash_refresh_token(&self, token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
