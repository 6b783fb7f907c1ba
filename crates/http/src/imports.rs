//! Imports over HTTP: the upload is spooled to a file first (so the import survives the
//! client going away once it has its 202), then read by the import engine in the background,
//! which records its progress and rejected rows in the store after every batch.
//!
//! A running import's progress write is its heartbeat. An import whose process stopped is
//! failed with "interrupted by a restart" (the batches it committed stay): a SQLite store is
//! served by one process, which fails every running import when it starts; on PostgreSQL
//! several replicas share the imports, and any of them fails an import whose heartbeat is
//! older than [`STALE_AFTER`] (checked at start and every [`SWEEP_EVERY`]), so an import of a
//! live replica is never taken for dead.

use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use bookstore_core::idempotency::{create_once, Created};
use bookstore_core::import::{
    Import, ImportFormat, ImportMode, ImportProgress, ImportRowError, ImportState, ImportStore,
    NewImport, INTERRUPTED,
};
use bookstore_core::{
    Action, Catalog, CatalogError, IdempotencyRequest, ImportId, Principal, WriteContext,
};
use bookstore_import::{
    CsvSource, ImportError, ImportOptions, OnixSource, ProgressSink, RowSource,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// An import whose heartbeat is older than this is taken for one whose process stopped.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// How often a replica on PostgreSQL looks for stale imports.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The default largest upload: 1 GiB.
pub const DEFAULT_LIMIT: u64 = 1024 * 1024 * 1024;

/// Imports over HTTP: where uploads are spooled, how large they may be, and the stores.
pub struct Imports {
    store: Arc<dyn ImportStore>,
    catalog: Catalog,
    spool_dir: PathBuf,
    limit: u64,
    /// Set at shutdown: running imports stop after their current batch.
    stopping: Arc<AtomicBool>,
    /// Imports running in this process.
    running: watch::Sender<usize>,
}

/// A spooled upload: its file (named after the import it is for), size and digest.
pub struct Spooled {
    id: ImportId,
    path: PathBuf,
    pub size: u64,
    pub digest: [u8; 32],
}

impl Spooled {
    fn discard(&self) {
        discard(&self.path);
    }
}

fn discard(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "could not remove an import spool file");
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!("An import may be at most {limit} bytes (BOOKSTORE_IMPORT_LIMIT)."),
    )
}

fn spool_failed(err: std::io::Error) -> ApiError {
    tracing::error!(error = %err, "could not spool an import upload");
    ApiError::internal()
}

impl Imports {
    /// Uploads are spooled in `spool_dir` (created when the first comes), at most `limit`
    /// bytes each.
    pub fn new(
        store: Arc<dyn ImportStore>,
        catalog: Catalog,
        spool_dir: PathBuf,
        limit: u64,
    ) -> Self {
        Self {
            store,
            catalog,
            spool_dir,
            limit,
            stopping: Arc::default(),
            running: watch::Sender::new(0),
        }
    }

    /// At shutdown: every running import stops after the batch it is writing (whose rows
    /// are committed) and is recorded as interrupted at once, instead of when its heartbeat
    /// goes stale. Returns once none runs.
    pub async fn hand_back(&self) {
        self.stopping.store(true, Ordering::Release);
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }

    pub fn store(&self) -> &Arc<dyn ImportStore> {
        &self.store
    }

    /// Refuses a caller who may not import before anything is read.
    pub fn authorize(&self, who: &Principal) -> ApiResult<()> {
        if who.may(Action::WriteCatalog) {
            Ok(())
        } else {
            Err(CatalogError::Forbidden(Action::WriteCatalog).into())
        }
    }

    /// Writes the upload to a file of its own, hashing it; 413 (and nothing kept) past the
    /// limit. A client that goes away mid-upload leaves nothing behind.
    pub async fn spool(&self, declared: Option<u64>, body: Body) -> ApiResult<Spooled> {
        if declared.is_some_and(|n| n > self.limit) {
            return Err(too_large(self.limit));
        }
        tokio::fs::create_dir_all(&self.spool_dir)
            .await
            .map_err(spool_failed)?;
        let id = ImportId::generate();
        let path = self.spool_dir.join(format!("{id}.upload"));
        let mut file = tokio::fs::File::create(&path).await.map_err(spool_failed)?;
        let result = async {
            let mut digest = Sha256::new();
            let mut size = 0u64;
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|err| ApiError::bad_request(format!("The upload broke off: {err}")))?;
                size += chunk.len() as u64;
                if size > self.limit {
                    return Err(too_large(self.limit));
                }
                digest.update(&chunk);
                file.write_all(&chunk).await.map_err(spool_failed)?;
            }
            file.flush().await.map_err(spool_failed)?;
            Ok(Spooled {
                id,
                path: path.clone(),
                size,
                digest: digest.finalize().into(),
            })
        }
        .await;
        if result.is_err() {
            drop(file);
            discard(&path);
        }
        result
    }

    /// Records the import and starts it in the background; with an `Idempotency-Key` used
    /// before, the first import instead (the upload is dropped). A file whose beginning
    /// already refuses it (a CSV header naming an unknown column) is refused with 422, and
    /// no import is recorded.
    pub async fn start(
        self: &Arc<Self>,
        ctx: WriteContext,
        spooled: Spooled,
        format: ImportFormat,
        mode: ImportMode,
        dry_run: bool,
        idempotency: Option<IdempotencyRequest>,
    ) -> ApiResult<Created<Import>> {
        self.authorize(&ctx.principal)?;
        let keys: &dyn bookstore_core::IdempotencyStore = &*self.store;
        if let Some(request) = &idempotency {
            let replayed: Option<Created<Import>> =
                bookstore_core::idempotency::replay::<Import, CatalogError>(keys, request)
                    .await
                    .inspect_err(|_| spooled.discard())?;
            if let Some(first) = replayed {
                spooled.discard();
                return Ok(first);
            }
        }
        let path = spooled.path.clone();
        let opened = tokio::task::spawn_blocking(move || open(&path, format))
            .await
            .map_err(|_| ApiError::internal())?;
        let source = match opened {
            Ok(source) => source,
            Err(err) => {
                spooled.discard();
                return Err(refused(err));
            }
        };
        let new = NewImport {
            id: spooled.id,
            format,
            mode,
            dry_run,
            bytes_total: Some(spooled.size),
            started_by: ctx.principal.username.clone(),
        };
        let created: Result<Created<Import>, CatalogError> =
            create_once(keys, idempotency.as_ref(), || {
                self.store.create_import(&new, idempotency.as_ref())
            })
            .await;
        let created = match created {
            Ok(created) if !created.replayed => created,
            other => {
                spooled.discard();
                return Ok(other?);
            }
        };
        let this = self.clone();
        let id = created.value.id;
        let options = ImportOptions {
            mode,
            dry_run,
            ..ImportOptions::default()
        };
        let runtime = tokio::runtime::Handle::current();
        self.running.send_modify(|n| *n += 1);
        // The engine reads the file with blocking reads: off the async workers.
        tokio::task::spawn_blocking(move || {
            runtime.block_on(this.run(id, spooled, source, options, ctx));
            this.running.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(created)
    }

    async fn run(
        &self,
        id: ImportId,
        spooled: Spooled,
        mut source: Box<dyn RowSource>,
        options: ImportOptions,
        ctx: WriteContext,
    ) {
        let mut recorder = Recorder {
            store: self.store.clone(),
            id,
            last: ImportProgress::default(),
            stopping: self.stopping.clone(),
        };
        let outcome =
            bookstore_import::run(source.as_mut(), &self.catalog, &ctx, options, &mut recorder)
                .await;
        drop(source);
        spooled.discard();
        let (progress, failure) = match outcome {
            Ok(progress) => (progress, None),
            Err(err) => {
                tracing::warn!(import = %id, error = %err, "import failed");
                (recorder.last, Some(failure_text(&err)))
            }
        };
        match self
            .store
            .finish_import(id, &progress, failure.as_deref())
            .await
        {
            Ok(import) => tracing::info!(
                import = %id,
                state = %import.state,
                read = import.counts.read,
                rejected = import.counts.rejected,
                "import finished"
            ),
            Err(err) => {
                tracing::error!(import = %id, error = %err, "could not record the end of an import")
            }
        }
    }

    /// Fails the imports that a stopped process left running: every one (`all`: a SQLite
    /// store, which one process serves), or those whose heartbeat is stale. Removes the
    /// spool files of a stopped process.
    pub async fn fail_interrupted(&self, all: bool) {
        let before = if all {
            chrono::Utc::now()
        } else {
            chrono::Utc::now()
                - chrono::Duration::from_std(STALE_AFTER).unwrap_or(chrono::Duration::zero())
        };
        match self.store.fail_stale_imports(before, INTERRUPTED).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(imports = n, "failed imports interrupted by a restart"),
            Err(err) => tracing::warn!(error = %err, "could not look for interrupted imports"),
        }
    }

    /// Removes the spool files no import is reading: those of imports that ended (or were
    /// failed as interrupted), and uploads that stopped coming in (no import, untouched for
    /// [`STALE_AFTER`]). Safe with a data directory shared by replicas.
    pub async fn clean_spool(&self) {
        let Ok(entries) = std::fs::read_dir(&self.spool_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(ImportId::from_uuid);
            let running = match id {
                Some(id) => match self.store.get_import(id).await {
                    Ok(Some(import)) => Some(import.state == ImportState::Running),
                    Ok(None) => None,
                    // Not sure: keep it for the next sweep.
                    Err(_) => Some(true),
                },
                None => None,
            };
            let untouched = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER);
            match running {
                Some(true) => {}
                Some(false) => discard(&path),
                None if untouched => discard(&path),
                None => {}
            }
        }
    }
}

/// A file refused at its start: 422 naming what is wrong (I/O trouble is ours: 500).
fn refused(err: ImportError) -> ApiError {
    match err {
        ImportError::Header(detail) | ImportError::Malformed(detail) => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-import-file",
            format!("The file cannot be imported: {detail}."),
        ),
        other => {
            tracing::error!(error = %other, "could not open a spooled import");
            ApiError::internal()
        }
    }
}

fn failure_text(err: &ImportError) -> String {
    match err {
        // Store failures are logged, not shown: they may name tables.
        ImportError::Catalog(_) => "writing to the catalog failed".to_owned(),
        other => other.to_string(),
    }
}

/// The rows of the spooled file.
fn open(path: &Path, format: ImportFormat) -> Result<Box<dyn RowSource>, ImportError> {
    let file = std::fs::File::open(path)?;
    let read = BufReader::with_capacity(64 * 1024, file);
    match format {
        ImportFormat::Csv => Ok(Box::new(CsvSource::new(read)?)),
        ImportFormat::Onix => Ok(Box::new(OnixSource::new(read))),
    }
}

/// Records an import's progress after each batch: also its heartbeat.
struct Recorder {
    store: Arc<dyn ImportStore>,
    id: ImportId,
    last: ImportProgress,
    stopping: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl ProgressSink for Recorder {
    async fn batch_done(
        &mut self,
        progress: &ImportProgress,
        rejected: Vec<ImportRowError>,
    ) -> Result<(), ImportError> {
        self.store
            .record_import_progress(self.id, progress, &rejected)
            .await
            .map_err(|err| match err {
                bookstore_core::StoreError::NotFound { .. } => ImportError::Progress(
                    "the import was failed meanwhile (its heartbeat went stale)".into(),
                ),
                other => ImportError::Progress(format!("recording the progress failed: {other}")),
            })?;
        self.last = *progress;
        if self.stopping.load(Ordering::Acquire) {
            return Err(ImportError::Progress(INTERRUPTED.into()));
        }
        Ok(())
    }
}
