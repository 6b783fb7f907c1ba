//! argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane). Each hash takes tens
//! of milliseconds and 19 MiB, so it runs on the blocking pool and behind a semaphore: a login
//! flood queues instead of exhausting memory.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use bookstore_core::auth::{AuthError, PasswordHasher};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// OWASP: m=19456 KiB, t=2, p=1.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
    params: Params,
    dummy: OnceCell<String>,
}

fn crypto(err: impl std::fmt::Display) -> AuthError {
    AuthError::Crypto(err.to_string())
}

impl Argon2Hasher {
    /// `max_concurrent` bounds memory: each running hash holds `MEMORY_KIB`.
    pub fn new(max_concurrent: usize) -> Result<Self, AuthError> {
        Self::with_params(max_concurrent, MEMORY_KIB, ITERATIONS, PARALLELISM)
    }

    pub fn with_params(
        max_concurrent: usize,
        m_kib: u32,
        t: u32,
        p: u32,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            params: Params::new(m_kib, t, p, None).map_err(crypto)?,
            dummy: OnceCell::new(),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self.permits.acquire().await.map_err(crypto)?;
        tokio::task::spawn_blocking(work).await.map_err(crypto)
    }

    /// The hash's span covers the wait for a permit too: under a login flood, that wait is
    /// the cost.
    #[tracing::instrument(name = "password.hash", skip_all, fields(algorithm = "argon2id"))]
    async fn hash_owned(&self, password: String) -> Result<String, AuthError> {
        let params = self.params.clone();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(crypto)
        })
        .await?
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        self.hash_owned(password.to_owned()).await
    }

    #[tracing::instrument(name = "password.verify", skip_all, fields(algorithm = "argon2id"))]
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(crypto)?;
            // Parameters come from the stored hash, so older hashes keep verifying.
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await?
    }

    async fn verify_dummy(&self, password: &str) {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash_owned("dummy password for timing".to_owned()))
            .await;
        if let Ok(dummy) = dummy {
            let _ = self.verify(password, &dummy.clone()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = Argon2Hasher::new(2).expect("params");
        let hash = hasher.hash("a long passphrase here").await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify("a long passphrase here", &hash)
            .await
            .expect("verify"));
        assert!(!hasher
            .verify("a long passphrase HERE", &hash)
            .await
            .expect("verify"));
        assert!(hasher.verify("x", "not a hash").await.is_err());
        hasher.verify_dummy("anything").await;
    }
}
