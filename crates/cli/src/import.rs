//! `bookstore import FILE`: loads a CSV or ONIX file into the catalog through the store, as
//! `POST /imports` does, with a progress bar (or plain periodic lines when standard error is
//! not a terminal) and a summary.
//!
//! Exit status: 0 when every row loaded (or, with `--dry-run`, would load); 2 when some rows
//! were rejected (the others loaded); 1 when the import failed (a bad header, an unreadable
//! file, the store), the batches committed before staying.

use crate::config::Settings;
use crate::wiring;
use anyhow::{bail, Context};
use bookstore_core::import::{ImportFormat, ImportMode, ImportProgress, ImportRowError};
use bookstore_core::{Catalog, Principal, Role, WriteContext};
use bookstore_import::{
    CsvSource, ImportError, ImportOptions, OnixSource, ProgressSink, RowSource, DEFAULT_BATCH,
};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Csv,
    Onix,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Create new ISBNs, replace existing books (unchanged ones are left alone).
    Upsert,
    /// Create new ISBNs; reject rows whose ISBN exists.
    #[value(name = "create_only")]
    CreateOnly,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// The file's format; by default guessed from its extension (.csv; .xml, .onix).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Validate and count (created, updated, unchanged, rejected) without writing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value = "upsert")]
    pub mode: ModeArg,
    /// Write the rejected rows to this file (CSV: line,isbn,field,message,record_reference) instead of
    /// standard error.
    #[arg(long, value_name = "PATH")]
    pub errors_file: Option<PathBuf>,
    /// Transactions written side by side, the rows parted by ISBN (each ISBN's rows stay in
    /// file order; new books are numbered in file order as they are read, so an export lists
    /// them in the file's order whichever transaction commits first). PostgreSQL only: SQLite
    /// writes one transaction at a time. [default on PostgreSQL: 2]
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub writers: Option<u8>,
}

fn format_of(args: &ImportArgs) -> anyhow::Result<ImportFormat> {
    if let Some(format) = args.format {
        return Ok(match format {
            FormatArg::Csv => ImportFormat::Csv,
            FormatArg::Onix => ImportFormat::Onix,
        });
    }
    let extension = args
        .file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Ok(ImportFormat::Csv),
        Some("xml" | "onix" | "onx") => Ok(ImportFormat::Onix),
        _ => bail!(
            "cannot tell the format of {} from its name: give --format csv or --format onix",
            args.file.display()
        ),
    }
}

/// The rows of `path` as `format`.
pub fn open_source(path: &Path, format: ImportFormat) -> anyhow::Result<Box<dyn RowSource>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let read = BufReader::with_capacity(64 * 1024, file);
    match format {
        ImportFormat::Csv => Ok(Box::new(CsvSource::new(read).map_err(refused)?)),
        ImportFormat::Onix => Ok(Box::new(OnixSource::new(read))),
    }
}

fn refused(err: ImportError) -> anyhow::Error {
    anyhow::anyhow!("import refused: {err}")
}

/// Where the progress of a CLI import goes.
struct Terminal {
    bar: Option<ProgressBar>,
    total: u64,
    started: Instant,
    last_line: Instant,
    errors: Box<dyn Write + Send>,
    errors_as_csv: bool,
    /// The totals of the batches written so far: what stays when the import fails.
    written: ImportProgress,
}

impl Terminal {
    fn new(total: u64, errors_file: Option<&Path>) -> anyhow::Result<Self> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let (errors, errors_as_csv): (Box<dyn Write + Send>, bool) = match errors_file {
            Some(path) => {
                let mut file =
                    File::create(path).with_context(|| format!("creating {}", path.display()))?;
                writeln!(file, "line,isbn,field,message,record_reference")?;
                (Box::new(file), true)
            }
            None => (Box::new(std::io::stderr()), false),
        };
        Ok(Self {
            bar,
            total,
            started: Instant::now(),
            last_line: Instant::now(),
            errors,
            errors_as_csv,
            written: ImportProgress::default(),
        })
    }

    fn rate(&self, progress: &ImportProgress) -> f64 {
        progress.counts.read as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    fn write_error(&mut self, e: &ImportRowError) -> std::io::Result<()> {
        if self.errors_as_csv {
            let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            writeln!(
                self.errors,
                "{},{},{},{},{}",
                e.line,
                quoted(e.isbn.as_deref().unwrap_or("")),
                quoted(e.field.as_deref().unwrap_or("")),
                quoted(&e.message),
                quoted(e.record_reference.as_deref().unwrap_or(""))
            )
        } else {
            let at = match &e.record_reference {
                Some(reference) => format!("product {} ({reference})", e.line),
                None => format!("line {}", e.line),
            };
            let isbn = e
                .isbn
                .as_deref()
                .map(|i| format!(" (isbn {i})"))
                .unwrap_or_default();
            let field = e
                .field
                .as_deref()
                .map(|f| format!(" {f}:"))
                .unwrap_or_default();
            let line = format!("{at}{isbn}:{field} {}", e.message);
            match &self.bar {
                Some(bar) => bar.suspend(|| writeln!(self.errors, "{line}")),
                None => writeln!(self.errors, "{line}"),
            }
        }
    }
}

#[async_trait::async_trait]
impl ProgressSink for Terminal {
    async fn batch_done(
        &mut self,
        progress: &ImportProgress,
        rejected: Vec<ImportRowError>,
    ) -> Result<(), ImportError> {
        self.written = *progress;
        for e in &rejected {
            self.write_error(e)?;
        }
        let rate = self.rate(progress);
        let message = format!("{} rows, {rate:.0} rows/s", progress.counts.read);
        match &self.bar {
            Some(bar) => {
                bar.set_position(progress.bytes_read.min(self.total));
                bar.set_message(message);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                let share = progress.bytes_read as f64 / self.total.max(1) as f64;
                let elapsed = self.started.elapsed().as_secs_f64();
                let eta = if share > 0.0 {
                    elapsed / share - elapsed
                } else {
                    0.0
                };
                eprintln!(
                    "import: {message}, {:.0}% of {} bytes, ETA {eta:.0}s",
                    share * 100.0,
                    self.total
                );
            }
            None => {}
        }
        Ok(())
    }
}

pub async fn run(settings: Settings, args: ImportArgs) -> anyhow::Result<()> {
    let format = format_of(&args)?;
    let total = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let mut source = open_source(&args.file, format)?;
    let store = wiring::open_store(&settings).await?;
    store.migrate().await.context("applying migrations")?;
    let catalog = Catalog::new(store.catalog());
    let ctx = WriteContext {
        principal: Principal {
            subject: "cli".into(),
            username: "cli".into(),
            role: Role::Admin,
        },
        request_id: None,
        traceparent: None,
    };
    let writers = match store.backend() {
        bookstore_store::Backend::Postgres => usize::from(args.writers.unwrap_or(2)),
        bookstore_store::Backend::Sqlite => {
            if args.writers.is_some_and(|n| n > 1) {
                tracing::warn!("--writers: SQLite writes one transaction at a time; using 1");
            }
            1
        }
    };
    let options = ImportOptions {
        mode: match args.mode {
            ModeArg::Upsert => ImportMode::Upsert,
            ModeArg::CreateOnly => ImportMode::CreateOnly,
        },
        dry_run: args.dry_run,
        // With --writers on PostgreSQL, transactions side by side on two cores; SQLite one at
        // a time (bench/README.md, "Import"). Each transaction holds some 500 rows.
        writers,
        batch: DEFAULT_BATCH * writers,
    };
    let mut terminal = Terminal::new(total, args.errors_file.as_deref())?;
    let result =
        bookstore_import::run(source.as_mut(), &catalog, &ctx, options, &mut terminal).await;
    if let Some(bar) = &terminal.bar {
        bar.finish_and_clear();
    }
    terminal.errors.flush()?;
    store.close().await;
    let verb = if args.dry_run { "would be " } else { "" };
    let totals = |progress: &ImportProgress| {
        let c = progress.counts;
        format!(
            "{} rows read in {:.1}s ({:.0} rows/s): {} {verb}created, {} {verb}updated, {} unchanged, {} rejected",
            c.read,
            terminal.started.elapsed().as_secs_f64(),
            terminal.rate(progress),
            c.created,
            c.updated,
            c.unchanged,
            c.rejected
        )
    };
    let progress = match result {
        Ok(progress) => progress,
        Err(err) => {
            // The batches written before the failure stay: say what they hold. The causes
            // follow (an operator needs the database's own words).
            let written = if args.dry_run {
                "nothing was written (a dry run)".to_owned()
            } else {
                format!("written before it: {}", totals(&terminal.written))
            };
            return Err(anyhow::Error::new(err).context(format!("import failed\n{written}")));
        }
    };
    let c = progress.counts;
    println!("{}", totals(&progress));
    if c.rejected > 0 {
        std::process::exit(2);
    }
    Ok(())
}
