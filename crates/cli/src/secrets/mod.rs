//! Secrets as the process holds them: where each came from, which version it has, and the
//! Vault client when one is configured. Loaded once after parsing (Vault entries are read
//! then), re-read while serving (`watch`), and each load is a log line and an audit entry,
//! by name, source and version, never by value.

#[cfg(feature = "aws")]
mod aws;
mod transit;
mod vault;
mod watch;

pub use transit::TransitKey;
pub use vault::keep_alive;
pub use watch::{Applier, Watcher};

use crate::config::secret::{read_secret_file, Origin};
use crate::config::Settings;
use anyhow::Context;
use bookstore_core::audit::{details, AuditAction, AuditContext, AuditLog};
use bookstore_vault::{KvRef, VaultClient};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a loaded secret's value is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A value given in a layer (the command line, the environment, the config file).
    Layer(&'static str),
    /// A file: re-read when its modification time changes, and on SIGHUP.
    File(PathBuf),
    /// A field of a Vault KV v2 entry: re-read when the entry's version changes, and on
    /// SIGHUP.
    Vault(KvRef),
    /// The key file the service keeps in its data directory.
    DataDir(PathBuf),
    /// A Secrets Manager secret or an SSM parameter: re-read when its current version
    /// changes, and on SIGHUP.
    #[cfg(feature = "aws")]
    Aws(bookstore_aws::AwsSecretRef),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Layer(layer) => f.write_str(layer),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Vault(reference) => write!(f, "{reference}"),
            #[cfg(feature = "aws")]
            Self::Aws(reference) => write!(f, "{reference}"),
            Self::DataDir(path) => {
                write!(f, "the key file {} in the data directory", path.display())
            }
        }
    }
}

/// A secret the process has loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The setting's id (`database_url`).
    pub id: String,
    /// Its environment variable (`DATABASE_URL`).
    pub name: String,
    pub source: Source,
    /// The Vault entry's version, or a file's modification time; none for a value.
    pub version: Option<String>,
}

impl Loaded {
    /// The log line of a load (`reloaded`: found changed while running).
    pub fn log(&self, reloaded: bool) {
        tracing::info!(
            secret = %self.name,
            source = %self.source,
            version = self.version.as_deref().unwrap_or("-"),
            reloaded,
            "secret loaded"
        );
    }

    /// Its `secret_loaded` audit entry.
    pub async fn record(&self, audit: &dyn AuditLog, reloaded: bool) -> anyhow::Result<()> {
        let entry = AuditContext::system().entry(
            AuditAction::SecretLoaded,
            Some(self.name.clone()),
            details([
                ("source", self.source.to_string().into()),
                ("version", self.version.clone().into()),
                ("reloaded", reloaded.into()),
            ]),
        );
        audit
            .record_audit(&entry)
            .await
            .context("writing the audit log")
    }
}

/// The secrets loaded at start, and the Vault client that served some of them.
#[derive(Debug, Default)]
pub struct LoadedSecrets {
    pub loaded: Vec<Loaded>,
    pub vault: Option<Arc<VaultClient>>,
    /// Secrets Manager and Parameter Store, when a setting names a secret there.
    #[cfg(feature = "aws")]
    pub aws: Option<Arc<bookstore_aws::AwsSecrets>>,
}

/// The clients that re-read secrets at their sources.
#[derive(Clone, Default)]
pub struct Clients {
    pub vault: Option<Arc<VaultClient>>,
    #[cfg(feature = "aws")]
    pub aws: Option<Arc<bookstore_aws::AwsSecrets>>,
}

impl LoadedSecrets {
    pub fn clients(&self) -> Clients {
        Clients {
            vault: self.vault.clone(),
            #[cfg(feature = "aws")]
            aws: self.aws.clone(),
        }
    }
}

/// Whether `value` names a Secrets Manager secret or an SSM parameter.
#[cfg(not(feature = "aws"))]
fn names_aws_secret(value: &str) -> bool {
    value.starts_with("aws-sm:") || value.starts_with("aws-ssm:")
}

/// A file's modification time as a version: it changes when the file is rewritten.
pub fn file_version(path: &Path) -> Option<String> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(
        chrono::DateTime::<chrono::Utc>::from(modified)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    )
}

/// Resolves the secret settings that name Vault entries (signing in to Vault first), and
/// logs each secret loaded.
pub async fn load(settings: &mut Settings) -> anyhow::Result<LoadedSecrets> {
    #[cfg(feature = "aws")]
    let (aws, aws_loaded) = aws::resolve(settings).await?;
    #[cfg(not(feature = "aws"))]
    for source in settings.secret_sources.clone() {
        let value = settings
            .secret_mut(&source.id)
            .and_then(|slot| slot.clone());
        if value.is_some_and(|v| names_aws_secret(v.expose_secret())) {
            anyhow::bail!(
                "{} names an AWS secret, but this build has no AWS support (build with \
                 --features aws)",
                source.name
            );
        }
    }
    // The references first: a mistake in one is reported before Vault is asked anything.
    let mut references = Vec::new();
    for source in settings.secret_sources.clone() {
        let Some(value) = settings
            .secret_mut(&source.id)
            .and_then(|slot| slot.clone())
        else {
            continue;
        };
        if !KvRef::is_reference(value.expose_secret()) {
            continue;
        }
        let reference = KvRef::parse(value.expose_secret())
            .with_context(|| format!("{} names a Vault entry", source.name))?;
        if source.id == "vault_token" {
            anyhow::bail!("VAULT_TOKEN cannot itself come from Vault");
        }
        if settings.secrets.vault_addr.is_none() {
            anyhow::bail!(
                "{} names a Vault entry ({reference}) but BOOKSTORE_VAULT_ADDR is not set",
                source.name
            );
        }
        references.push((source.id.clone(), reference));
    }
    let (vault, mut loaded) = match vault::connect(&settings.secrets).await? {
        Some((client, logins)) => (Some(client), logins),
        None => (None, Vec::new()),
    };
    #[cfg(feature = "aws")]
    loaded.extend(aws_loaded);
    for source in settings.secret_sources.clone() {
        if loaded.iter().any(|entry| entry.id == source.id) {
            // Read from AWS above.
            continue;
        }
        let reference = references
            .iter()
            .find(|(id, _)| *id == source.id)
            .map(|(_, reference)| reference.clone());
        let entry = match (reference, &vault) {
            (Some(reference), Some(client)) => {
                let kv = client
                    .read(&reference)
                    .await
                    .with_context(|| format!("reading {} from {reference}", source.name))?;
                if kv.value.expose_secret().trim().is_empty() {
                    anyhow::bail!("{} from {reference} is empty", source.name);
                }
                if let Some(slot) = settings.secret_mut(&source.id) {
                    *slot = Some(kv.value);
                }
                Loaded {
                    id: source.id.clone(),
                    name: source.name.clone(),
                    source: Source::Vault(reference),
                    version: Some(kv.version.to_string()),
                }
            }
            _ => {
                let (from, version) = match &source.origin {
                    Origin::Value { layer } => (Source::Layer(layer), None),
                    Origin::File { path, .. } => (Source::File(path.clone()), file_version(path)),
                };
                Loaded {
                    id: source.id.clone(),
                    name: source.name.clone(),
                    source: from,
                    version,
                }
            }
        };
        loaded.push(entry);
    }
    for entry in &loaded {
        entry.log(false);
    }
    Ok(LoadedSecrets {
        loaded,
        vault,
        #[cfg(feature = "aws")]
        aws,
    })
}

/// A secret as it is now at its source, with its version; `None` when its version is the
/// one loaded (unless `forced`) or it cannot change (a value).
pub async fn reread(
    entry: &Loaded,
    clients: &Clients,
    forced: bool,
) -> anyhow::Result<Option<(SecretString, Option<String>)>> {
    let vault = clients.vault.as_deref();
    match &entry.source {
        #[cfg(feature = "aws")]
        Source::Aws(reference) => {
            aws::reread(
                reference,
                entry.version.as_deref(),
                clients.aws.as_deref(),
                forced,
            )
            .await
        }
        Source::Layer(_) | Source::DataDir(_) => Ok(None),
        Source::File(path) => {
            let version = file_version(path);
            if !forced && version == entry.version {
                return Ok(None);
            }
            let value = read_secret_file(path, &entry.name)?;
            Ok(Some((value, version)))
        }
        Source::Vault(reference) => {
            let client = vault.context("no Vault client")?;
            if !forced {
                let current = client
                    .current_version(reference)
                    .await
                    .with_context(|| format!("checking {reference}"))?;
                if Some(current.to_string()) == entry.version {
                    return Ok(None);
                }
            }
            let kv = client
                .read(reference)
                .await
                .with_context(|| format!("reading {reference}"))?;
            Ok(Some((kv.value, Some(kv.version.to_string()))))
        }
    }
}
