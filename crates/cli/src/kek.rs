//! `bookstore kek rotate`: every signing key and webhook secret re-sealed under a new
//! key-encryption key in one transaction; the old key opens nothing from then on, so a
//! server started with it is refused (with a message that says so).

use crate::config::Settings;
use crate::wiring;
use anyhow::Context;
use bookstore_auth::Kek;
use bookstore_core::audit::{details, AuditAction, AuditContext};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Re-seal every signing key and webhook secret under a new key-encryption key, in one
    /// transaction. The new key is BOOKSTORE_NEW_KEK (or BOOKSTORE_NEW_KEK_FILE, or a Vault
    /// entry); when the current key is the data directory's file and none is given, one is
    /// generated into that file. Then give every server the new key as BOOKSTORE_KEK: running
    /// servers take it from their file or Vault entry at the next check (or SIGHUP).
    Rotate,
}

/// Where the new key comes from, and the file it replaces once the store is re-sealed.
struct NewKey {
    kek: Kek,
    source: &'static str,
    /// The new key written beside the data directory's key file, and that file: the current
    /// key is the file's, so the new one takes its place.
    replaces: Option<(PathBuf, PathBuf)>,
}

fn new_key(settings: &Settings, data_dir_file: Option<&Path>) -> anyhow::Result<NewKey> {
    let (text, source) = match &settings.keys.new_kek {
        Some(text) => {
            let same = settings
                .auth
                .kek
                .as_ref()
                .is_some_and(|old| old.expose_secret().trim() == text.expose_secret().trim());
            anyhow::ensure!(!same, "BOOKSTORE_NEW_KEK is the current BOOKSTORE_KEK");
            (
                SecretString::from(text.expose_secret().trim().to_owned()),
                "BOOKSTORE_NEW_KEK",
            )
        }
        None if data_dir_file.is_some() => (SecretString::from(Kek::generate_text()?), "generated"),
        None => anyhow::bail!(
            "give the new key-encryption key in BOOKSTORE_NEW_KEK_FILE (or BOOKSTORE_NEW_KEK, \
             or a Vault entry): base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`"
        ),
    };
    let kek = Kek::from_base64(text.expose_secret()).context(source)?;
    let replaces = match data_dir_file {
        Some(file) => {
            let next = file.with_extension("new");
            // A leftover of a rotation that failed before the store changed: the store is
            // still sealed under the current key, so the leftover protects nothing.
            if next.exists() {
                std::fs::remove_file(&next)
                    .with_context(|| format!("removing {}", next.display()))?;
            }
            wiring::write_key_file(&next, text.expose_secret())?;
            Some((next, file.to_owned()))
        }
        None => None,
    };
    Ok(NewKey {
        kek,
        source,
        replaces,
    })
}

pub async fn run(settings: Settings, command: KekCommand) -> anyhow::Result<()> {
    let KekCommand::Rotate = command;
    let store = wiring::open_store(&settings).await?;
    let (old, kek_file) = wiring::load_kek(&settings, store.backend()).await?;
    wiring::record_secrets(&*store.audit(), &settings, kek_file.as_deref()).await?;
    let new = new_key(&settings, kek_file.as_deref())?;
    let resealed = store
        .sealed()
        .reseal_all(&|sealed: &[u8], context: &str| old.reseal(&new.kek, sealed, context))
        .await;
    let resealed = match resealed {
        Ok(resealed) => resealed,
        Err(err) => {
            if let Some((next, _)) = &new.replaces {
                let _ = std::fs::remove_file(next);
            }
            return Err(anyhow::Error::new(err)
                .context("re-sealing under the new key-encryption key (nothing was changed)"));
        }
    };
    if let Some((next, file)) = &new.replaces {
        std::fs::rename(next, file).with_context(|| {
            format!(
                "the store is re-sealed under the key in {}, but it could not replace {}: \
                 move it there by hand",
                next.display(),
                file.display()
            )
        })?;
    }
    let entry = AuditContext::system().entry(
        AuditAction::KekRotated,
        Some("BOOKSTORE_KEK".to_owned()),
        details([
            ("signing_keys", (resealed.signing_keys as u64).into()),
            ("webhook_secrets", (resealed.webhook_secrets as u64).into()),
            ("new_key", new.source.into()),
        ]),
    );
    store
        .audit()
        .record_audit(&entry)
        .await
        .context("writing the audit log")?;
    tracing::info!(
        signing_keys = resealed.signing_keys,
        webhook_secrets = resealed.webhook_secrets,
        "key-encryption key rotated"
    );
    store.close().await;
    match &new.replaces {
        Some((_, file)) => println!(
            "re-sealed {} signing keys and {} webhook secrets under a new key-encryption key, \
             now in {}; the old key opens nothing any more",
            resealed.signing_keys,
            resealed.webhook_secrets,
            file.display()
        ),
        _ => println!(
            "re-sealed {} signing keys and {} webhook secrets under the new key-encryption \
             key. Give it to every server as BOOKSTORE_KEK now (running servers take it from \
             their file or Vault entry at the next check, or on SIGHUP); the old key is \
             refused from now on",
            resealed.signing_keys, resealed.webhook_secrets
        ),
    }
    Ok(())
}
