//! A Vault transit key as the token signing key (`BOOKSTORE_SIGNING=vault-transit:…`): Vault
//! signs and rotates; the process holds the versions' public keys only.

use async_trait::async_trait;
use bookstore_core::auth::{AuthError, RemoteKeyVersion, RemoteSigningKey};
use bookstore_vault::VaultClient;
use std::sync::Arc;

pub struct TransitKey {
    client: Arc<VaultClient>,
    mount: String,
    name: String,
}

impl TransitKey {
    pub fn new(client: Arc<VaultClient>, mount: &str, name: &str) -> Self {
        Self {
            client,
            mount: mount.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[async_trait]
impl RemoteSigningKey for TransitKey {
    async fn versions(&self) -> Result<Vec<RemoteKeyVersion>, AuthError> {
        let versions = self
            .client
            .transit_versions(&self.mount, &self.name)
            .await
            .map_err(|err| AuthError::Crypto(format!("{}: {err}", self.describe())))?;
        versions
            .into_iter()
            .map(|version| {
                let created_at = chrono::DateTime::parse_from_rfc3339(&version.creation_time)
                    .map_err(|_| {
                        AuthError::Crypto(format!(
                            "{}: version {} has no valid creation time",
                            self.describe(),
                            version.version
                        ))
                    })?
                    .with_timezone(&chrono::Utc);
                Ok(RemoteKeyVersion {
                    version: version.version,
                    created_at,
                    public_key: version.public_key,
                })
            })
            .collect()
    }

    async fn sign(&self, version: u64, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.client
            .transit_sign(&self.mount, &self.name, version, message)
            .await
            .map_err(|err| AuthError::Crypto(format!("{}: {err}", self.describe())))
    }

    fn describe(&self) -> String {
        format!(
            "{}{}/{}",
            crate::config::keys::TRANSIT_PREFIX,
            self.mount,
            self.name
        )
    }
}
