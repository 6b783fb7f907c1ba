//! The SQL of the import store, the same for both databases.

pub(crate) const IMPORT_INSERT: &str = "INSERT INTO imports \
    (id, format, mode, dry_run, state, bytes_total, started_by, created_at, updated_at, \
     heartbeat_at) \
    VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9)";

pub(crate) const IMPORT_GET: &str = "SELECT id, format, mode, dry_run, state, rows_read, \
    created, updated, unchanged, rejected, bytes_read, bytes_total, failure, started_by, \
    created_at, updated_at, finished_at FROM imports WHERE id = $1";

/// Totals and heartbeat of a running import.
pub(crate) const IMPORT_PROGRESS: &str = "UPDATE imports SET rows_read = $2, created = $3, \
    updated = $4, unchanged = $5, rejected = $6, bytes_read = $7, updated_at = $8, \
    heartbeat_at = $9 WHERE id = $1 AND state = 'running'";

pub(crate) const IMPORT_FINISH: &str = "UPDATE imports SET state = $2, failure = $3, \
    finished_at = $4 WHERE id = $1 AND state = 'running'";

pub(crate) const IMPORT_FAIL_STALE: &str = "UPDATE imports SET state = 'failed', failure = $1, \
    finished_at = $2, updated_at = $3 WHERE state = 'running' AND heartbeat_at < $4";

pub(crate) const IMPORT_ERRORS_KEPT: &str =
    "SELECT COUNT(*) FROM import_errors WHERE import_id = $1";

pub(crate) const IMPORT_ERRORS_INSERT: &str =
    "INSERT INTO import_errors (import_id, seq, line, record_reference, isbn, field, message) ";

pub(crate) const IMPORT_ERRORS_PAGE: &str = "SELECT seq, line, record_reference, isbn, field, \
    message FROM import_errors WHERE import_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
