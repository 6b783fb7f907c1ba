//! Updates of authors and genres: a rename gives every book naming one a new version, history
//! row and event.

use super::authors::author_row;
use super::genres::{check_parent, genre_row, parent_gone};
use super::named::{author_in_tx, genre_in_tx, scalar_in_tx, write_named};
use super::{begin_write, Dialect, RowsAffected};
use crate::error::backend;
use crate::rows::{AuthorRow, GenreRow};
use crate::sql;
use crate::time::{self, DbTime};
use bookstore_core::{
    Author, AuthorDraft, AuthorId, Book, Genre, GenreDraft, GenreId, StoreError, WriteContext,
};
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// Rows per statement when a rename writes history and events of many books.
pub(crate) const TOUCH_CHUNK: usize = 500;

/// What a rename does to the books it touches runs statements built with a `QueryBuilder`,
/// which a generic function cannot run (see `history.rs`): each store implements it in its
/// expansion of [`impl_renames!`].
pub(crate) trait TouchBooks: Dialect {
    /// The books `linked` (`sql::AUTHOR_BOOK_IDS` or `sql::GENRE_BOOK_IDS`) to `id`, in id
    /// order, each locked where the database has row locks; those in `locked` are locked
    /// already.
    async fn lock_linked_books(
        conn: &mut <Self::Db as Database>::Connection,
        linked: &'static str,
        id: Uuid,
        locked: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Gives each of the books `ids` a new version, with a history row and an `updated`
    /// event: a change of an author or genre they name made them read differently.
    /// `as_before` turns a book as it reads now into what it read before the change. A few
    /// statements whatever the number of books.
    async fn touch_books(
        conn: &mut <Self::Db as Database>::Connection,
        ctx: &WriteContext,
        ids: &[Uuid],
        now: DateTime<Utc>,
        as_before: impl Fn(&mut Book) + Send,
    ) -> Result<(), StoreError>;
}

pub(crate) async fn update_author_once<D: TouchBooks>(
    store: &D,
    id: AuthorId,
    draft: &AuthorDraft,
    ctx: &WriteContext,
) -> Result<Author, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (String,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    AuthorRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    let old_name = scalar_in_tx::<D, String>(&mut tx, sql::AUTHOR_NAME_BY_ID, id.as_uuid())
        .await?
        .ok_or(StoreError::NotFound { entity: "author" })?;
    let renamed = old_name != draft.name();
    // The books first, then the author: the order in which a book write takes them (its
    // book, then the authors it links).
    let locked = if renamed {
        D::lock_linked_books(&mut tx, sql::AUTHOR_BOOK_IDS, id.as_uuid(), &[]).await?
    } else {
        Vec::new()
    };
    let row = author_row(id.as_uuid(), draft, now);
    let updated = write_named::<D, _>(&mut tx, sql::AUTHOR_UPDATE, &row, backend).await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound { entity: "author" });
    }
    if renamed {
        // Books linked while the update waited for their writers, too.
        let books =
            D::lock_linked_books(&mut tx, sql::AUTHOR_BOOK_IDS, id.as_uuid(), &locked).await?;
        D::touch_books(&mut tx, ctx, &books, now, |book| {
            for c in book.authors.iter_mut().filter(|c| c.author_id == id) {
                c.name = old_name.clone();
            }
        })
        .await?;
    }
    let author = author_in_tx::<D>(&mut tx, id.as_uuid()).await?;
    tx.commit().await.map_err(backend)?;
    Ok(author)
}

pub(crate) async fn update_genre_once<D: TouchBooks>(
    store: &D,
    id: GenreId,
    draft: &GenreDraft,
    ctx: &WriteContext,
) -> Result<Genre, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    (String,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    GenreRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
{
    let now = time::now();
    let mut tx = begin_write(store).await?;
    if let Some(lock) = D::GENRE_TREE_LOCK {
        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
    }
    let old_name = scalar_in_tx::<D, String>(&mut tx, sql::GENRE_NAME_BY_ID, id.as_uuid())
        .await?
        .ok_or(StoreError::NotFound { entity: "genre" })?;
    check_parent::<D>(&mut tx, Some(id.as_uuid()), draft.parent_id()).await?;
    let renamed = old_name != draft.name();
    let locked = if renamed {
        D::lock_linked_books(&mut tx, sql::GENRE_BOOK_IDS, id.as_uuid(), &[]).await?
    } else {
        Vec::new()
    };
    let row = genre_row(id.as_uuid(), draft, now);
    let failed = |err| parent_gone(err, draft.parent_id());
    write_named::<D, _>(&mut tx, sql::GENRE_UPDATE, &row, failed).await?;
    if renamed {
        let books =
            D::lock_linked_books(&mut tx, sql::GENRE_BOOK_IDS, id.as_uuid(), &locked).await?;
        D::touch_books(&mut tx, ctx, &books, now, |book| {
            for g in book.genres.iter_mut().filter(|g| g.id == id) {
                g.name = old_name.clone();
            }
        })
        .await?;
    }
    let genre = genre_in_tx::<D>(&mut tx, id.as_uuid()).await?;
    tx.commit().await.map_err(backend)?;
    Ok(genre)
}

/// [`TouchBooks`] for `$store`, whose database is `$db`.
macro_rules! impl_renames {
    ($store:ty, $db:ty) => {
        impl $crate::catalog::renames::TouchBooks for $store {
            async fn lock_linked_books(
                conn: &mut Conn,
                linked: &'static str,
                id: Uuid,
                locked: &[Uuid],
            ) -> Result<Vec<Uuid>, StoreError> {
                let ids: Vec<Uuid> = sqlx::query_scalar(linked)
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                if let Some(lock) = <Self as Dialect>::LOCK_BOOKS {
                    let locked: std::collections::HashSet<&Uuid> = locked.iter().collect();
                    let new: Vec<Uuid> = ids
                        .iter()
                        .filter(|id| !locked.contains(id))
                        .copied()
                        .collect();
                    if !new.is_empty() {
                        let mut select = QueryBuilder::<$db>::new("SELECT 1 FROM books b WHERE ");
                        <Self as Dialect>::push_id_in(&mut select, "b.id", &new);
                        select.push(lock);
                        select.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                }
                Ok(ids)
            }

            async fn touch_books(
                conn: &mut Conn,
                ctx: &WriteContext,
                ids: &[Uuid],
                now: DateTime<Utc>,
                as_before: impl Fn(&mut Book) + Send,
            ) -> Result<(), StoreError> {
                if ids.is_empty() {
                    return Ok(());
                }
                let mut select =
                    QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                select.push(" WHERE ");
                <Self as Dialect>::push_id_in(&mut select, "b.id", ids);
                let rows: Vec<BookRow> = select
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                let mut update = QueryBuilder::<$db>::new(
                    "UPDATE books SET version = version + 1, updated_at = ",
                );
                update.push_bind(DbTime(now)).push(" WHERE ");
                <Self as Dialect>::push_id_in(&mut update, "id", ids);
                update.build().execute(&mut *conn).await.map_err(backend)?;

                let mut changes = Vec::with_capacity(rows.len());
                for row in rows {
                    let current = Book::try_from(row)?;
                    let mut before = current.clone();
                    as_before(&mut before);
                    let after = Book {
                        version: current.version + 1,
                        updated_at: now,
                        ..current
                    };
                    let event = CloudEvent::book_changed(BookEventKind::Updated, &after, ctx)
                        .map_err(json_error)?;
                    let before = serde_json::to_value(&before).map_err(json_error)?;
                    let after_json = serde_json::to_value(&after).map_err(json_error)?;
                    changes.push((after, before, after_json, event));
                }
                for chunk in changes.chunks(TOUCH_CHUNK) {
                    let mut history = QueryBuilder::<$db>::new(sql::HISTORY_INSERT_MANY);
                    history.push_values(chunk, |mut row, (after, before, after_json, _)| {
                        row.push_bind(Uuid::now_v7())
                            .push_bind(after.id.as_uuid())
                            .push_bind(after.version)
                            .push_bind(HistoryAction::Updated.as_str())
                            .push_bind(ctx.actor())
                            .push_bind(ctx.request_id.as_deref())
                            .push_bind(DbTime(now))
                            .push_bind(Json(before))
                            .push_bind(Json(after_json));
                    });
                    history.build().execute(&mut *conn).await.map_err(backend)?;
                    let mut outbox = QueryBuilder::<$db>::new(sql::OUTBOX_INSERT_MANY);
                    outbox.push_values(chunk, |mut row, (after, _, _, event)| {
                        row.push_bind(event.id)
                            .push_bind("book")
                            .push_bind(after.id.as_uuid())
                            .push_bind(event.event_type.as_str())
                            .push_bind(Json(event))
                            .push_bind(DbTime(now))
                            .push_bind($crate::catalog::history::outbox_partition(
                                after.id.as_uuid(),
                            ));
                    });
                    outbox.build().execute(&mut *conn).await.map_err(backend)?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_renames;
