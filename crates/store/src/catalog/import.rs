//! Imports: a batch of books written by ISBN in one transaction, each row as a create or a
//! replace would write it (history, event, stock movement), or not at all when it changes
//! nothing.

use super::begin_write;
use super::books::{current_for_write, write_book_in, BookWrite, WriteLinks};
use super::named::{resolve_contributors, resolve_genres, ResolveNamed};
use crate::error::{backend, json_error};
use crate::rows::{BookParts, BookRow};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::event::CloudEvent;
use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::{
    Book, BookDraft, BookId, Precondition, Quantity, StockMovementKind, StoreError, WriteContext,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The reason of the stock movements an import records.
const REASON: &str = "import";

/// Writes `drafts` in order in one transaction (rolled back for a dry run).
pub(crate) async fn import_books_once<D: ResolveNamed + WriteLinks>(
    store: &D,
    drafts: &[BookDraft],
    mode: ImportMode,
    dry_run: bool,
    ctx: &WriteContext,
) -> Result<Vec<ImportOutcome>, StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let mut outcomes = Vec::with_capacity(drafts.len());
    for draft in drafts {
        outcomes.push(import_one::<D>(&mut tx, draft, mode, ctx, now).await?);
    }
    if dry_run {
        tx.rollback().await.map_err(backend)?;
    } else {
        tx.commit().await.map_err(backend)?;
    }
    Ok(outcomes)
}

/// Writes one row within the batch's transaction.
async fn import_one<D: ResolveNamed + WriteLinks>(
    conn: &mut <D::Db as Database>::Connection,
    draft: &BookDraft,
    mode: ImportMode,
    ctx: &WriteContext,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, StoreError>
where
    for<'q> i16: Encode<'q, D::Db> + Type<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (Uuid,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    BookRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i32>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Json<&'q serde_json::Value>>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q CloudEvent>: Encode<'q, D::Db> + Type<D::Db>,
{
    let existing: Option<(Uuid,)> = sqlx::query_as(sql::BOOK_ID_BY_ISBN)
        .bind(draft.isbn().as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    let before = match existing {
        Some(_) if mode == ImportMode::CreateOnly => return Ok(ImportOutcome::Exists),
        Some((id,)) => {
            Some(current_for_write::<D>(conn, BookId::from_uuid(id), &Precondition::Any).await?)
        }
        None => None,
    };
    let authors = resolve_contributors::<D>(conn, draft, now).await?;
    let genres = resolve_genres::<D>(conn, draft, now).await?;
    let Some(before) = before else {
        let book = BookParts {
            id: BookId::generate().as_uuid(),
            draft,
            authors,
            genres,
            quantity: draft.quantity().unwrap_or(Quantity::ZERO),
            version: 1,
            created_at: now,
            updated_at: now,
        }
        .into_book();
        let snapshot = serde_json::to_value(&book).map_err(json_error)?;
        // The stock a book starts with is its first receipt, as for a create.
        let receipt = (book.quantity.get() > 0)
            .then(|| (StockMovementKind::Receive, book.quantity.get(), REASON));
        let write = BookWrite {
            book: &book,
            before: None,
            after: &snapshot,
            movement: receipt,
        };
        write_book_in::<D>(conn, &write, ctx, now).await?;
        return Ok(ImportOutcome::Created);
    };
    let after = BookParts {
        id: before.id.as_uuid(),
        draft,
        authors,
        genres,
        quantity: draft.quantity().unwrap_or(before.quantity),
        version: before.version + 1,
        created_at: before.created_at,
        updated_at: now,
    }
    .into_book();
    // Nothing to change: no new version, no history, no event.
    let unchanged = Book {
        version: before.version,
        updated_at: before.updated_at,
        ..after.clone()
    };
    if unchanged == before {
        return Ok(ImportOutcome::Unchanged);
    }
    let delta = after.quantity.get() - before.quantity.get();
    let before_json = serde_json::to_value(&before).map_err(json_error)?;
    let after_json = serde_json::to_value(&after).map_err(json_error)?;
    let write = BookWrite {
        book: &after,
        before: Some(&before_json),
        after: &after_json,
        movement: (delta != 0).then_some((StockMovementKind::Adjustment, delta, REASON)),
    };
    write_book_in::<D>(conn, &write, ctx, now).await?;
    Ok(ImportOutcome::Updated)
}
