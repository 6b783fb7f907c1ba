//! Secrets Manager and Parameter Store references (`aws-sm:NAME[#key]`, `aws-ssm:/path`),
//! with the `aws` feature: read after parsing, like Vault entries, and re-read when the
//! secret's `AWSCURRENT` version (or the parameter's version) changes.

use super::{Loaded, Source};
use crate::config::Settings;
use anyhow::Context;
use bookstore_aws::{AwsSecretRef, AwsSecrets};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Reads the secret settings that name AWS secrets into their slots; returns the client (when
/// there were any) and what was loaded.
pub async fn resolve(
    settings: &mut Settings,
) -> anyhow::Result<(Option<Arc<AwsSecrets>>, Vec<Loaded>)> {
    // The references first: a mistake in one is reported before AWS is asked anything.
    let mut references = Vec::new();
    for source in settings.secret_sources.clone() {
        let Some(value) = settings
            .secret_mut(&source.id)
            .and_then(|slot| slot.clone())
        else {
            continue;
        };
        if !AwsSecretRef::is_reference(value.expose_secret()) {
            continue;
        }
        let reference = AwsSecretRef::parse(value.expose_secret())
            .with_context(|| format!("{} names an AWS secret", source.name))?;
        references.push((source, reference));
    }
    if references.is_empty() {
        return Ok((None, Vec::new()));
    }
    let client = Arc::new(AwsSecrets::new(&crate::aws::sdk_config().await));
    let mut loaded = Vec::new();
    for (source, reference) in references {
        let read = client
            .read(&reference)
            .await
            .with_context(|| format!("reading {} from {reference}", source.name))?;
        if read.value.expose_secret().trim().is_empty() {
            anyhow::bail!("{} from {reference} is empty", source.name);
        }
        if let Some(slot) = settings.secret_mut(&source.id) {
            *slot = Some(read.value);
        }
        loaded.push(Loaded {
            id: source.id.clone(),
            name: source.name.clone(),
            source: Source::Aws(reference),
            version: Some(read.version),
        });
    }
    Ok((Some(client), loaded))
}

/// The secret as it is now when its version is not the one loaded (or `forced`).
pub async fn reread(
    reference: &AwsSecretRef,
    loaded_version: Option<&str>,
    client: Option<&AwsSecrets>,
    forced: bool,
) -> anyhow::Result<Option<(SecretString, Option<String>)>> {
    let client = client.context("no AWS client")?;
    let read = client
        .read(reference)
        .await
        .with_context(|| format!("reading {reference}"))?;
    if !forced && Some(read.version.as_str()) == loaded_version {
        return Ok(None);
    }
    Ok(Some((read.value, Some(read.version))))
}
