//! `/imports`: catalog files (CSV, ONIX) uploaded, then imported in the background, for
//! admins.

use crate::caller::Caller;
use crate::dto::import::{ImportDto, ImportErrorDto, ImportModeDto, ImportParams};
use crate::dto::page::{PageDto, PageParams};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, PathId};
use crate::response;
use crate::routes::page_request;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bookstore_core::import::{ImportFormat, ImportMode};
use bookstore_core::{ImportId, Limit, PageRequest};
use sha2::{Digest, Sha256};

const PROBLEM: &str = crate::error::PROBLEM_JSON;

/// The format a `Content-Type` names: `text/csv`, or ONIX as `application/xml` (or
/// `text/xml`).
fn format_of(headers: &HeaderMap) -> ApiResult<ImportFormat> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" => Ok(ImportFormat::Csv),
        "application/xml" | "text/xml" => Ok(ImportFormat::Onix),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Send a CSV file as text/csv, or an ONIX for Books 3.0 file as application/xml.",
        )),
    }
}

/// Upload a catalog file and import it in the background: a CSV file (`text/csv`, a header
/// row naming the columns) or ONIX for Books 3.0 (`application/xml`). Books are upserted by
/// ISBN in batches (each one transaction, with history and events); rows that would change
/// nothing are left alone; rejected rows are listed at `/imports/{id}/errors`. Rows with the
/// same ISBN in one file are applied in file order (the later wins; in `create_only` mode it
/// is rejected). Follow the progress at the `Location`.
#[utoipa::path(post, path = "/imports", tag = "imports", params(ImportParams,
        ("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retried upload return the first import instead of starting another")),
    request_body(description = "The file: CSV or ONIX for Books 3.0, at most BOOKSTORE_IMPORT_LIMIT bytes (1 GiB by default)",
        content((String = "text/csv"), (String = "application/xml"))),
    responses((status = 202, description = "Accepted; the import runs in the background",
            body = ImportDto, headers(("Location" = String, description = "The import: /imports/{id}"))),
        (status = 400, description = "The upload broke off, or a malformed Idempotency-Key", body = Problem, content_type = PROBLEM),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 413, description = "The file is larger than BOOKSTORE_IMPORT_LIMIT", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Neither text/csv nor application/xml", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid mode or dry_run; a file refused at its start (a CSV header naming an unknown, repeated or no required column); or Idempotency-Key reused with another upload", body = Problem, content_type = PROBLEM)))]
pub async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Body,
) -> ApiResult<Response> {
    let imports = &state.imports;
    imports.authorize(&caller.0)?;
    let format = format_of(&headers)?;
    let mode = match params.mode.unwrap_or(ImportModeDto::Upsert) {
        ImportModeDto::Upsert => ImportMode::Upsert,
        ImportModeDto::CreateOnly => ImportMode::CreateOnly,
    };
    let dry_run = params.dry_run.unwrap_or(false);
    // Checked before the upload is read: a bad key costs no spooling.
    crate::idempotency::request(&headers, &caller, "/imports", b"")?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let spooled = imports.spool(declared, body).await?;
    // The upload's digest stands for its body; the query is part of the request.
    let mut fingerprint = Sha256::new();
    fingerprint.update(uri.query().unwrap_or("").as_bytes());
    fingerprint.update([0]);
    fingerprint.update(format.as_str().as_bytes());
    fingerprint.update([0]);
    fingerprint.update(spooled.digest);
    let idempotency =
        crate::idempotency::request(&headers, &caller, "/imports", &fingerprint.finalize())?;
    let created = imports
        .start(
            caller.write_context(),
            spooled,
            format,
            mode,
            dry_run,
            idempotency,
        )
        .await?;
    let import = created.value;
    if !created.replayed {
        tracing::info!(actor = %caller.0.username, import = %import.id, format = %format, %mode, dry_run, bytes = ?import.bytes_total, "import started");
    }
    let id = import.id;
    let mut response = response::json(StatusCode::ACCEPTED, &ImportDto::from(import));
    response::set_location(&mut response, &format!("/imports/{id}"));
    crate::idempotency::mark_replayed(&mut response, created.replayed);
    Ok(response)
}

/// An import's state and progress.
#[utoipa::path(get, path = "/imports/{id}", tag = "imports",
    params(("id" = uuid::Uuid, Path, description = "Import id")),
    responses((status = 200, description = "The import", body = ImportDto),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such import", body = Problem, content_type = PROBLEM)))]
pub async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    state.imports.authorize(&caller.0)?;
    let import = state
        .imports
        .store()
        .get_import(ImportId::from_uuid(id))
        .await?
        .ok_or_else(|| ApiError::not_found("No import with this id."))?;
    Ok(response::json(StatusCode::OK, &ImportDto::from(import)))
}

/// The rows an import rejected, in file order (the first 10,000 are kept): a page of JSON,
/// or with `Accept: text/csv` all of them as CSV (`line,isbn,field,message,record_reference`;
/// `limit` and `cursor` are then not used).
#[utoipa::path(get, path = "/imports/{id}/errors", tag = "imports",
    params(("id" = uuid::Uuid, Path, description = "Import id"), PageParams),
    responses((status = 200, description = "The rejected rows",
            content((PageDto<ImportErrorDto> = "application/json"), (String = "text/csv"))),
        (status = 403, description = "Admins only", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such import", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = PROBLEM)))]
pub async fn list_import_errors(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    state.imports.authorize(&caller.0)?;
    let id = ImportId::from_uuid(id);
    let store = state.imports.store();
    let page = page_request(params.limit, params.cursor)?;
    if store.get_import(id).await?.is_none() {
        return Err(ApiError::not_found("No import with this id."));
    }
    if wants_csv(&headers) {
        let mut text = String::from("line,isbn,field,message,record_reference\r\n");
        let mut page = PageRequest {
            limit: Limit::new(100).unwrap_or(Limit::DEFAULT),
            cursor: None,
        };
        loop {
            let result = store.import_errors(id, &page).await?;
            for e in result.items {
                text.push_str(&format!(
                    "{},{},{},{},{}\r\n",
                    e.line,
                    csv_cell(e.isbn.as_deref().unwrap_or("")),
                    csv_cell(e.field.as_deref().unwrap_or("")),
                    csv_cell(&e.message),
                    csv_cell(e.record_reference.as_deref().unwrap_or("")),
                ));
            }
            match result.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        return Ok((
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            text,
        )
            .into_response());
    }
    let result = store.import_errors(id, &page).await?;
    let dto = PageDto {
        items: result.items.into_iter().map(ImportErrorDto::from).collect(),
        next_cursor: result.next_cursor,
    };
    Ok(response::page(&uri, &dto))
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// A CSV cell, quoted; a leading `=`, `+`, `-` or `@` is escaped so that a spreadsheet does
/// not run it as a formula.
fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}
