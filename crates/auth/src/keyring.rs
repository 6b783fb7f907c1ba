//! Signing keys: Ed25519 pairs generated here, stored sealed, loaded on start and reloaded so
//! that a rotation by any process takes effect everywhere. A retired key keeps verifying (and
//! stays in the JWKS) until every token it signed has expired.

use crate::kek::Kek;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::auth::{AuthError, StoredSigningKey, UserStore};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub const ALGORITHM: &str = "EdDSA";
/// Tokens are accepted this long past `exp`; a retired key must outlive them too.
pub const LEEWAY_SECS: i64 = 30;

#[derive(Clone)]
struct Verifying {
    decoding: DecodingKey,
    public_key: Vec<u8>,
    valid_until: Option<DateTime<Utc>>,
}

impl Verifying {
    /// A retired key verifies until its last tokens have expired.
    fn still_valid(&self) -> bool {
        self.valid_until.is_none_or(|until| until > Utc::now())
    }
}

#[derive(Default)]
struct Keys {
    current: Option<(String, EncodingKey)>,
    verifying: HashMap<String, Verifying>,
}

pub struct KeyRing {
    users: Arc<dyn UserStore>,
    kek: Kek,
    access_ttl: Duration,
    keys: RwLock<Keys>,
}

fn crypto(what: impl std::fmt::Display) -> AuthError {
    AuthError::Crypto(what.to_string())
}

/// RFC 7638 thumbprint of an Ed25519 public key: a stable, collision-free key id.
pub fn thumbprint(public_key: &[u8]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

impl KeyRing {
    /// Loads the stored keys, creating the first one on an empty store.
    pub async fn load(
        users: Arc<dyn UserStore>,
        kek: Kek,
        access_ttl: Duration,
    ) -> Result<Self, AuthError> {
        let ring = Self {
            users,
            kek,
            access_ttl,
            keys: RwLock::new(Keys::default()),
        };
        ring.reload().await?;
        if ring.current_kid().is_none() {
            ring.rotate().await?;
        }
        Ok(ring)
    }

    pub async fn reload(&self) -> Result<(), AuthError> {
        let stored = self.users.signing_keys().await?;
        let now = Utc::now();
        let mut keys = Keys::default();
        for key in stored {
            if key.algorithm != ALGORITHM {
                continue;
            }
            let valid_until = key
                .retired_at
                .map(|retired| retired + self.access_ttl + Duration::seconds(LEEWAY_SECS));
            if valid_until.is_some_and(|until| until <= now) {
                continue;
            }
            if key.retired_at.is_none() {
                let private = self.kek.open(&key.sealed_private_key, &key.kid)?;
                keys.current = Some((key.kid.clone(), EncodingKey::from_ed_der(&private)));
            }
            keys.verifying.insert(
                key.kid.clone(),
                Verifying {
                    decoding: DecodingKey::from_ed_der(&key.public_key),
                    public_key: key.public_key,
                    valid_until,
                },
            );
        }
        *self.keys.write().map_err(crypto)? = keys;
        Ok(())
    }

    /// Makes a new key the signing key at once; the previous one retires.
    pub async fn rotate(&self) -> Result<String, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(crypto)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(crypto)?;
        let public_key = pair.public_key().as_ref().to_vec();
        let kid = thumbprint(&public_key);
        let sealed_private_key = self.kek.seal(pkcs8.as_ref(), &kid)?;
        self.users
            .add_signing_key(&StoredSigningKey {
                kid: kid.clone(),
                algorithm: ALGORITHM.into(),
                public_key,
                sealed_private_key,
                created_at: Utc::now(),
                retired_at: None,
            })
            .await?;
        self.reload().await?;
        Ok(kid)
    }

    pub fn current_kid(&self) -> Option<String> {
        self.keys
            .read()
            .ok()
            .and_then(|k| k.current.as_ref().map(|(kid, _)| kid.clone()))
    }

    pub(crate) fn signing_key(&self) -> Option<(String, EncodingKey)> {
        self.keys.read().ok().and_then(|k| k.current.clone())
    }

    /// Whether tokens signed with `kid` are still accepted, without copying the key.
    pub(crate) fn accepts(&self, kid: &str) -> bool {
        self.keys
            .read()
            .ok()
            .is_some_and(|keys| keys.verifying.get(kid).is_some_and(Verifying::still_valid))
    }

    /// The key for `kid`, if it still verifies; no lookup anywhere for unknown ids.
    pub(crate) fn verifying_key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().ok()?;
        let key = keys.verifying.get(kid).filter(|key| key.still_valid())?;
        Some(key.decoding.clone())
    }

    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .read()
            .map(|k| {
                let mut entries: Vec<(&String, &Verifying)> = k
                    .verifying
                    .iter()
                    .filter(|(_, v)| v.still_valid())
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                entries
                    .into_iter()
                    .map(|(kid, v)| {
                        serde_json::json!({
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": URL_SAFE_NO_PAD.encode(&v.public_key),
                            "kid": kid,
                            "alg": ALGORITHM,
                            "use": "sig",
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        serde_json::json!({ "keys": keys })
    }
}
