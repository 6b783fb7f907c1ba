//! `bookstore index rebuild` and `bookstore index status`: the search read model's
//! maintenance. A rebuild reads the store into a new generation beside the current one and
//! publishes it; a server with `BOOKSTORE_SEARCH=index` keeps answering from the current
//! one, catches the new one up with the event log, then swaps it in: no gap.
//! `index rebuild --target dynamodb` writes the store's books into the DynamoDB read model
//! instead (`bookstore_aws::dynamodb::rebuild`).

use crate::config::Settings;
use crate::wiring;
use anyhow::Context;
use bookstore_search_index::{generations, SearchIndex};
use clap::Subcommand;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build a fresh search index from the store and publish it (a running server swaps it
    /// in once it has caught up with the events written meanwhile); with `--target dynamodb`,
    /// bring the DynamoDB read model (BOOKSTORE_DYNAMODB_TABLE) up to the store instead.
    Rebuild {
        #[arg(long, value_enum, default_value = "search")]
        target: Target,
    },
    /// The current index: its generation, books, event-log position and the log's head.
    Status,
}

/// The read model a rebuild brings up to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// The search index (BOOKSTORE_SEARCH=index).
    Search,
    /// The DynamoDB table of books (the `aws` feature): written while the service and its
    /// subscriber run, each write conditional on the book's version.
    Dynamodb,
}

#[cfg(feature = "aws")]
async fn rebuild_dynamodb(
    settings: &Settings,
    store: &bookstore_store::Store,
) -> anyhow::Result<()> {
    crate::aws::rebuild_read_model(settings, store).await
}

#[cfg(not(feature = "aws"))]
async fn rebuild_dynamodb(_: &Settings, _: &bookstore_store::Store) -> anyhow::Result<()> {
    anyhow::bail!("--target dynamodb needs a build with the `aws` feature")
}

pub async fn run(settings: Settings, command: IndexCommand) -> anyhow::Result<()> {
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let dir = wiring::search_index_dir(&settings);
    let result = match command {
        IndexCommand::Rebuild {
            target: Target::Search,
        } => rebuild(&store, &dir).await,
        IndexCommand::Rebuild {
            target: Target::Dynamodb,
        } => rebuild_dynamodb(&settings, &store).await,
        IndexCommand::Status => status(&store, &dir).await,
    };
    store.close().await;
    result
}

async fn rebuild(store: &bookstore_store::Store, dir: &std::path::Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = |n: u64| {
        if n.is_multiple_of(100_000) {
            eprintln!("  {n} books");
        }
    };
    let built =
        bookstore_search_index::build(&*store.catalog(), &*store.event_log(), dir, &progress)
            .await
            .context("building the search index")?;
    generations::publish(dir, &built.generation).context("publishing the search index")?;
    let bytes = dir_size(&built.generation);
    println!(
        "built the search index: {} books at event-log position {} in {:.1} s, {:.1} MiB ({})",
        built.books,
        built.position,
        started.elapsed().as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0),
        built.generation.display()
    );
    Ok(())
}

async fn status(store: &bookstore_store::Store, dir: &std::path::Path) -> anyhow::Result<()> {
    let head = store
        .event_log()
        .head()
        .await
        .context("reading the event log")?;
    let Some(generation) = generations::current(dir)? else {
        println!(
            "no search index in {} (event-log head {head})",
            dir.display()
        );
        return Ok(());
    };
    let index = match SearchIndex::open(&generation) {
        Err(bookstore_search_index::IndexError::Outdated) => {
            println!(
                "search index {}: built by another version of the service; the server builds \
                 it again at its next start (or run `bookstore index rebuild`)",
                generation.display()
            );
            return Ok(());
        }
        opened => opened.context("opening the search index")?,
    };
    println!(
        "search index {}: {} books, position {} of {head}, {:.1} MiB",
        generation.display(),
        index.books()?,
        index.position(),
        dir_size(&generation) as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Bytes of the files in `dir` (an index generation has no subdirectories).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
