//! `bookstore backup FILE` and `bookstore restore FILE [--force]`: the SQLite store copied
//! while the server runs, and put back (see `bookstore_store::backup`). PostgreSQL has
//! `pg_dump` and `pg_restore` for this; both commands say so there.

use crate::config::Settings;
use anyhow::Context;
use bookstore_store::backup::{self, BackupError, BackupInfo};
use bookstore_store::Store;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file that `bookstore backup` wrote.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Replace a store that holds books or users.
    #[arg(long)]
    force: bool,
}

/// What to keep beside every backup: without it the restored signing keys and webhook
/// secrets cannot be unsealed.
fn kek_reminder(settings: &Settings) -> String {
    if settings.auth.kek.is_some() {
        "Keep the key-encryption key (BOOKSTORE_KEK) too, apart from the backup: the signing \
         keys and webhook secrets in it are sealed with it."
            .to_owned()
    } else {
        format!(
            "Keep the key-encryption key {} too, apart from the backup: the signing keys and \
             webhook secrets in it are sealed with it.",
            settings.store.data_dir.join("kek").display()
        )
    }
}

fn describe(info: &BackupInfo) -> String {
    format!(
        "{} books, {} users, migration {}, {} bytes",
        info.books, info.users, info.migration, info.bytes
    )
}

pub async fn backup(settings: Settings, args: BackupArgs) -> anyhow::Result<()> {
    let config = settings.store.config();
    let database = backup::sqlite_file(&config)?.ok_or(BackupError::Postgres)?;
    require_store(&database)?;
    let store = Store::open(&config).await.context("opening the store")?;
    let result = store.backup(&args.file).await;
    store.close().await;
    let info = result.with_context(|| format!("backing up to {}", args.file.display()))?;
    eprintln!(
        "Backed up {} to {} ({}).\n{}",
        database.display(),
        args.file.display(),
        describe(&info),
        kek_reminder(&settings)
    );
    Ok(())
}

pub async fn restore(settings: Settings, args: RestoreArgs) -> anyhow::Result<()> {
    let config = settings.store.config();
    let database = backup::sqlite_file(&config)?.ok_or(BackupError::Postgres)?;
    let info = backup::restore(&config, &args.file, args.force)
        .await
        .with_context(|| format!("restoring {}", args.file.display()))?;
    eprintln!(
        "Restored {} into {} ({}); the next start applies the migrations it lacks.\n{}",
        args.file.display(),
        database.display(),
        describe(&info),
        kek_reminder(&settings)
    );
    Ok(())
}

/// A backup of a store that is not there would create an empty one first.
fn require_store(database: &Path) -> anyhow::Result<()> {
    if database.is_file() {
        Ok(())
    } else {
        anyhow::bail!(
            "there is no store at {} (set BOOKSTORE_DATA_DIR or DATABASE_URL)",
            database.display()
        )
    }
}
