//! The Vault client the settings describe, and the task that keeps its token alive.

use super::{file_version, Loaded, Source};
use crate::config::secret::read_secret_file;
use crate::config::SecretArgs;
use anyhow::Context;
use bookstore_vault::{Auth, TokenInfo, VaultClient};
use std::sync::Arc;
use std::time::Duration;

/// The client, signed in; with the AppRole files it loaded, as secrets loaded.
pub async fn connect(args: &SecretArgs) -> anyhow::Result<Option<(Arc<VaultClient>, Vec<Loaded>)>> {
    let Some(addr) = &args.vault_addr else {
        return Ok(None);
    };
    let mut loaded = Vec::new();
    let auth = match (&args.vault_role_id_file, &args.vault_secret_id_file) {
        (Some(role_file), Some(secret_file)) => {
            let role_id = read_secret_file(role_file, "BOOKSTORE_VAULT_ROLE_ID")?;
            let secret_id = read_secret_file(secret_file, "BOOKSTORE_VAULT_SECRET_ID")?;
            for (name, path) in [
                ("BOOKSTORE_VAULT_ROLE_ID", role_file),
                ("BOOKSTORE_VAULT_SECRET_ID", secret_file),
            ] {
                loaded.push(Loaded {
                    id: name.to_ascii_lowercase(),
                    name: name.to_owned(),
                    source: Source::File(path.clone()),
                    version: file_version(path),
                });
            }
            Auth::AppRole { role_id, secret_id }
        }
        _ => Auth::Token(
            args.vault_token
                .clone()
                .context("BOOKSTORE_VAULT_ADDR is set without credentials")?,
        ),
    };
    let ca = match &args.vault_cacert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading BOOKSTORE_VAULT_CACERT {}", path.display()))?,
        ),
        None => None,
    };
    let client = VaultClient::connect(addr, auth, ca.as_deref())
        .await
        .with_context(|| format!("signing in to Vault at {addr}"))?;
    let info = client
        .lookup_self()
        .await
        .with_context(|| format!("looking up the Vault token at {addr}"))?;
    tracing::info!(
        vault = %addr,
        ttl_secs = info.ttl.as_secs(),
        renewable = info.renewable,
        "signed in to Vault"
    );
    Ok(Some((Arc::new(client), loaded)))
}

/// When to renew a token with `ttl` left: at two thirds of it, so that a failed attempt has
/// time for a retry before it expires.
fn renew_after(ttl: Duration) -> Duration {
    (ttl * 2 / 3).max(Duration::from_secs(1))
}

/// Renews the token before it expires, for as long as the process runs; with AppRole,
/// signs in again when it can no longer be renewed (refused, or at its maximum lifetime). A
/// token without expiry (a root token) needs nothing.
pub fn keep_alive(client: Arc<VaultClient>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut info = match client.lookup_self().await {
            Ok(info) => info,
            Err(err) => {
                tracing::warn!(error = %err, "cannot look up the Vault token");
                TokenInfo {
                    ttl: Duration::from_secs(60),
                    renewable: true,
                }
            }
        };
        if info.ttl.is_zero() {
            tracing::info!("the Vault token does not expire: no renewal needed");
            return;
        }
        loop {
            let wait = renew_after(info.ttl);
            tokio::time::sleep(wait).await;
            let left = info.ttl.saturating_sub(wait);
            let renewed = if info.renewable {
                match client.renew_self().await {
                    Ok(next) if next.ttl > left => Some(next),
                    Ok(_) => None,
                    Err(err) => {
                        tracing::warn!(error = %err, "could not renew the Vault token");
                        None
                    }
                }
            } else {
                None
            };
            info = match renewed {
                Some(next) => {
                    tracing::info!(ttl_secs = next.ttl.as_secs(), "renewed the Vault token");
                    next
                }
                None => match client.login().await {
                    Ok(next) if next.ttl > left => {
                        tracing::info!(ttl_secs = next.ttl.as_secs(), "signed in to Vault again");
                        next
                    }
                    outcome => {
                        let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
                        tracing::warn!(
                            left_secs = left.as_secs(),
                            error,
                            "the Vault token cannot be renewed and will expire: give the \
                             service a new one (or use AppRole)"
                        );
                        TokenInfo {
                            ttl: Duration::from_secs(30),
                            renewable: info.renewable,
                        }
                    }
                },
            };
        }
    })
}
