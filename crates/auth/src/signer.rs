//! Issues access tokens (EdDSA JWTs with `kid`) and opaque refresh tokens. A token is signed
//! here with a key of ours, or by the remote key (a Vault transit key) that holds the private
//! half: then only the signing input leaves the process, and the signature that comes back is
//! checked against the version's public key before the token is handed out.

use crate::keyring::{KeyRing, Signer};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::auth::{AccessClaims, AuthError, TokenSigner};
use jsonwebtoken::{Algorithm, Header};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{UnparsedPublicKey, ED25519};
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

fn crypto(what: impl std::fmt::Display) -> AuthError {
    AuthError::Crypto(what.to_string())
}

fn header(kid: String) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    header.typ = Some("JWT".into());
    header
}

#[async_trait]
impl TokenSigner for JwtSigner {
    async fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        // Signing is rare (sign-in, refresh): read the keys again so a rotation made by any
        // process (or in Vault) signs from the next token on.
        if let Err(err) = self.keyring.reload().await {
            tracing::warn!(error = %err, "could not reload signing keys; using the loaded ones");
        }
        match self
            .keyring
            .signer()
            .ok_or_else(|| crypto("no signing key"))?
        {
            Signer::Local { kid, key } => {
                jsonwebtoken::encode(&header(kid), claims, &key).map_err(crypto)
            }
            Signer::Remote {
                kid,
                version,
                key,
                public_key,
            } => {
                let header = serde_json::to_vec(&header(kid)).map_err(crypto)?;
                let payload = serde_json::to_vec(claims).map_err(crypto)?;
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(payload)
                );
                let signature = key.sign(version, input.as_bytes()).await?;
                // A token that would not verify is never handed out (a version whose public
                // key we hold changed under us, a wrong key type).
                UnparsedPublicKey::new(&ED25519, &public_key)
                    .verify(input.as_bytes(), &signature)
                    .map_err(|_| {
                        crypto(format!(
                            "the signature of {} (version {version}) does not verify",
                            key.describe()
                        ))
                    })?;
                Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
            }
        }
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
