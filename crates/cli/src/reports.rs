//! `bookstore report reorder` and `bookstore export`: the streamed reads of the HTTP API
//! (`GET /reorder-suggestions`, `GET /books/export`), read from the store directly and
//! encoded by the same code, so that they print the same bytes.

use crate::config::Settings;
use crate::wiring;
use anyhow::Context;
use bookstore_core::{BookStream, ItemStream, LocationRef};
use bookstore_http::export::{encode, Encoder, ExportCsv, ExportNdjson, ReorderCsv, ReorderJson};
use clap::{Args, Subcommand, ValueEnum};
use futures_util::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Books at or below their reorder point with the quantity to order (up to reorder point
    /// + reorder quantity), grouped by publisher: what `GET /reorder-suggestions` answers.
    Reorder {
        #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        /// One store: a location's code or id. The stock compared with the reorder point is
        /// then the stock at this location and the shelves inside it, not the total.
        #[arg(long, value_name = "CODE")]
        location: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `csv`: a header row and the columns of an import; `ndjson`: one book per line (the v2
    /// representation).
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
    /// Write here instead of to standard output (replaced only once the export is complete).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

pub async fn report(settings: Settings, command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Reorder { format, location } = command;
    let asked = location
        .as_deref()
        .map(|l| LocationRef::parse("--location", l))
        .transpose()
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let result = reorder_report(&store, asked.as_ref(), format).await;
    store.close().await;
    result
}

async fn reorder_report(
    store: &bookstore_store::Store,
    asked: Option<&LocationRef>,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let location = match asked {
        Some(asked) => Some(
            store
                .inventory()
                .find_location(asked)
                .await
                .context("reading the location")?
                .with_context(|| format!("no location '{asked}' (give a location's code or id)"))?,
        ),
        None => None,
    };
    let catalog = store.catalog();
    let candidates = catalog.reorder_candidates(location.as_ref().map(|l| l.id));
    let mut out = std::io::stdout().lock();
    let result = match format {
        ReportFormat::Json => {
            let encoder = ReorderJson::at_location(location.as_ref());
            write(candidates, encoder, &mut out).await
        }
        ReportFormat::Csv => {
            let encoder = ReorderCsv::at_location(location.is_some());
            write(candidates, encoder, &mut out).await
        }
    };
    finish_stdout(result)
}

pub async fn export(settings: Settings, args: ExportArgs) -> anyhow::Result<()> {
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let catalog = store.catalog();
    let everything = bookstore_core::BookSearch::default();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let books: BookStream<'_> = Box::pin(catalog.export_books(&everything).inspect(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let started = Instant::now();
    let result = match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            finish_stdout(write_format(books, args.format, &mut out).await)
        }
        Some(path) => export_to_file(books, args.format, path).await,
    };
    store.close().await;
    result?;
    let elapsed = started.elapsed().as_secs_f64();
    let rows = count.load(Ordering::Relaxed);
    eprintln!(
        "exported {rows} books in {elapsed:.2} s ({:.0} books/s)",
        rows as f64 / elapsed.max(f64::EPSILON)
    );
    Ok(())
}

/// Writes beside `path` and renames over it at the end: a failed export leaves no half file.
async fn export_to_file(
    books: BookStream<'_>,
    format: ExportFormat,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut partial_name = name.to_os_string();
    partial_name.push(".partial");
    let partial = path.with_file_name(partial_name);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let written = write_format(books, format, &mut out).await.and_then(|()| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    });
    match written {
        Ok(()) => std::fs::rename(&partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display())),
        Err(err) => {
            // Best effort: the error that stopped the export is the one to report.
            let _ = std::fs::remove_file(&partial);
            Err(err).with_context(|| format!("writing {}", path.display()))
        }
    }
}

async fn write_format(
    books: BookStream<'_>,
    format: ExportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        ExportFormat::Csv => write(books, ExportCsv::new(), out).await,
        ExportFormat::Ndjson => write(books, ExportNdjson::default(), out).await,
    }
}

async fn write<E: Encoder>(
    books: ItemStream<'_, E::Item>,
    encoder: E,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut chunks = std::pin::pin!(encode(books, encoder));
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(())
}

/// A reader that went away (`| head`) ends the output; it is not a failure.
fn finish_stdout(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other.context("writing to standard output"),
    }
}
