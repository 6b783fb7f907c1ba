use bookstore_core::import::{Import, ImportCounts, ImportRowError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How far an import got: rows read, and what became of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCountsDto {
    /// Rows (CSV records, ONIX products) read so far, valid or not.
    pub read: u64,
    pub created: u64,
    /// Existing books replaced because the row changed them.
    pub updated: u64,
    /// Existing books the row would not change: nothing written.
    pub unchanged: u64,
    /// Rows refused (listed at `/imports/{id}/errors`).
    pub rejected: u64,
}

impl From<ImportCounts> for ImportCountsDto {
    fn from(c: ImportCounts) -> Self {
        Self {
            read: c.read,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            rejected: c.rejected,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStateDto {
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormatDto {
    Csv,
    Onix,
}

/// What an import does with a row whose ISBN is in the catalog: `upsert` replaces the book
/// (a row that changes nothing writes nothing), `create_only` rejects the row.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportModeDto {
    Upsert,
    CreateOnly,
}

/// An import and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportDto {
    pub id: Uuid,
    pub format: ImportFormatDto,
    pub mode: ImportModeDto,
    /// Validated and counted, nothing written.
    pub dry_run: bool,
    /// `running`, then `done` (every row read; some may be rejected) or `failed` (see
    /// `failure`; the batches committed before stay).
    pub state: ImportStateDto,
    pub counts: ImportCountsDto,
    pub bytes_read: u64,
    /// The size of the upload.
    pub bytes_total: Option<u64>,
    /// Why the import failed as a whole (a bad header, a broken file, a restart).
    pub failure: Option<String>,
    /// The username of who started it.
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Import> for ImportDto {
    fn from(i: Import) -> Self {
        use bookstore_core::import::{ImportFormat, ImportMode, ImportState};
        Self {
            id: i.id.as_uuid(),
            format: match i.format {
                ImportFormat::Csv => ImportFormatDto::Csv,
                ImportFormat::Onix => ImportFormatDto::Onix,
            },
            mode: match i.mode {
                ImportMode::Upsert => ImportModeDto::Upsert,
                ImportMode::CreateOnly => ImportModeDto::CreateOnly,
            },
            dry_run: i.dry_run,
            state: match i.state {
                ImportState::Running => ImportStateDto::Running,
                ImportState::Done => ImportStateDto::Done,
                ImportState::Failed => ImportStateDto::Failed,
            },
            counts: i.counts.into(),
            bytes_read: i.bytes_read,
            bytes_total: i.bytes_total,
            failure: i.failure,
            started_by: i.started_by,
            created_at: i.created_at,
            updated_at: i.updated_at,
            finished_at: i.finished_at,
        }
    }
}

/// A rejected row.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportErrorDto {
    /// CSV: the line the record starts on (the header is line 1). ONIX: the product's
    /// position in the file, from 1.
    pub line: u64,
    /// ONIX: the product's `RecordReference`.
    pub record_reference: Option<String>,
    /// The ISBN as the row wrote it.
    pub isbn: Option<String>,
    /// The column or field the message is about; null for the row as a whole.
    pub field: Option<String>,
    pub message: String,
}

impl From<ImportRowError> for ImportErrorDto {
    fn from(e: ImportRowError) -> Self {
        Self {
            line: e.line,
            record_reference: e.record_reference,
            isbn: e.isbn,
            field: e.field,
            message: e.message,
        }
    }
}

/// The query of `POST /imports`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `upsert` (default) or `create_only`.
    pub mode: Option<ImportModeDto>,
    /// `true`: validate and count without writing.
    pub dry_run: Option<bool>,
}
