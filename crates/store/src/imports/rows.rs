//! Row types of the import store (every field decodes in SQLite and PostgreSQL) and their
//! conversion into domain values.

use crate::error::corrupt;
use crate::time::DbTime;
use bookstore_core::import::{Import, ImportCounts, ImportRowError};
use bookstore_core::{ImportId, StoreError};
use uuid::Uuid;

/// A count as the databases store it (a signed 64-bit integer).
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ImportRow {
    id: Uuid,
    format: String,
    mode: String,
    dry_run: bool,
    state: String,
    rows_read: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    rejected: i64,
    bytes_read: i64,
    bytes_total: Option<i64>,
    failure: Option<String>,
    started_by: String,
    created_at: DbTime,
    updated_at: DbTime,
    finished_at: Option<DbTime>,
}

impl TryFrom<ImportRow> for Import {
    type Error = StoreError;

    fn try_from(row: ImportRow) -> Result<Self, StoreError> {
        Ok(Import {
            id: ImportId::from_uuid(row.id),
            format: row
                .format
                .parse()
                .map_err(|e| corrupt("import format", e))?,
            mode: row.mode.parse().map_err(|e| corrupt("import mode", e))?,
            dry_run: row.dry_run,
            state: row.state.parse().map_err(|e| corrupt("import state", e))?,
            counts: ImportCounts {
                read: unsigned(row.rows_read),
                created: unsigned(row.created),
                updated: unsigned(row.updated),
                unchanged: unsigned(row.unchanged),
                rejected: unsigned(row.rejected),
            },
            bytes_read: unsigned(row.bytes_read),
            bytes_total: row.bytes_total.map(unsigned),
            failure: row.failure,
            started_by: row.started_by,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            finished_at: row.finished_at.map(|t| t.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ErrorRow {
    pub(crate) seq: i64,
    line: i64,
    record_reference: Option<String>,
    isbn: Option<String>,
    field: Option<String>,
    message: String,
}

impl From<ErrorRow> for ImportRowError {
    fn from(row: ErrorRow) -> Self {
        ImportRowError {
            line: unsigned(row.line),
            record_reference: row.record_reference,
            isbn: row.isbn,
            field: row.field,
            message: row.message,
        }
    }
}
