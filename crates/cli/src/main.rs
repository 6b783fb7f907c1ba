//! `bookstore`: the bookstore inventory service in one binary.

mod admin;
#[cfg(feature = "aws")]
mod aws;
mod backup;
mod cache;
mod config;
mod events;
mod import;
mod index;
mod kek;
mod keys;
mod logging;
mod pipeline;
mod reports;
mod secrets;
mod serve;
mod subscribers;
mod telemetry;
mod traces;
mod wiring;

use clap::{Parser, Subcommand};
use config::Settings;

/// Bookstore: catalog and stock for a bookshop or a chain.
///
/// With no settings it keeps everything in SQLite under ./data and serves on
/// http://127.0.0.1:8080. Point DATABASE_URL at PostgreSQL to scale out.
#[derive(Debug, Parser)]
#[command(name = "bookstore", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default): applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users: add, list, set-role, disable, enable, reset-password, unlock.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage token signing keys: rotate, list.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Rotate the key-encryption key: rotate (the new key in BOOKSTORE_NEW_KEK or
    /// BOOKSTORE_NEW_KEK_FILE).
    #[command(subcommand)]
    Kek(kek::KekCommand),
    /// Import a catalog file (CSV or ONIX) into the store: import FILE [--format csv|onix]
    /// [--dry-run] [--mode upsert|create_only]. Exit status 2 when rows were rejected.
    Import(import::ImportArgs),
    /// Watch the published events: tail [--from POSITION] [--types TYPES].
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Reports read from the store: reorder [--location CODE] [--format json|csv].
    #[command(subcommand)]
    Report(reports::ReportCommand),
    /// Export the catalog, streamed: [--format csv|ndjson] [--output FILE]. CSV has the
    /// columns of an import.
    Export(reports::ExportArgs),
    /// The search index (BOOKSTORE_SEARCH=index): rebuild, status.
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Copy the SQLite store to FILE while the server runs (PostgreSQL: use pg_dump).
    Backup(backup::BackupArgs),
    /// Replace the SQLite store with a backup: restore FILE [--force]. Stop the server first;
    /// a store that holds books or users is replaced only with --force.
    Restore(backup::RestoreArgs),
}

/// glibc's allocator spent a fifth of the server's CPU on a by-id read (bench/run with
/// BENCH_PERF=1: `_int_malloc`, `malloc_consolidate`); mimalloc's thread-local heaps suit
/// the many small, short-lived allocations of a request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = match config::parse(std::env::args_os(), |cli: &mut Cli| &mut cli.settings) {
        Ok(cli) => cli,
        // Usage errors and --help print as clap prints them, with clap's exit codes.
        Err(err) => match err.downcast::<clap::Error>() {
            Ok(usage) => usage.exit(),
            Err(err) => return Err(err),
        },
    };
    let mut settings = cli.settings;
    let command = cli.command.unwrap_or(Command::Serve);
    // Traces are the service's: the one-off commands export none.
    let traces = match command {
        Command::Serve => traces::from_env(&settings)?,
        _ => None,
    };
    logging::init(&settings.log.log, settings.log.log_format, traces.as_ref())?;
    if let Some(traces) = &traces {
        tracing::info!(endpoint = %traces.endpoint, "exporting traces over OTLP");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        settings.loaded = secrets::load(&mut settings).await?;
        match command {
            Command::Serve => serve::run(settings).await,
            Command::Migrate => serve::migrate(settings).await,
            Command::User(command) => admin::user(settings, command).await,
            Command::Keys(command) => admin::keys(settings, command).await,
            Command::Kek(command) => kek::run(settings, command).await,
            Command::Events(command) => events::run(settings, command).await,
            Command::Report(command) => reports::report(settings, command).await,
            Command::Export(args) => reports::export(settings, args).await,
            Command::Import(args) => import::run(settings, args).await,
            Command::Index(command) => index::run(settings, command).await,
            Command::Backup(args) => backup::backup(settings, args).await,
            Command::Restore(args) => backup::restore(settings, args).await,
        }
    });
    if let Some(traces) = traces {
        traces.shutdown();
    }
    result
}
