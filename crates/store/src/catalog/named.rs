//! Authors and genres, which differ only in their table, their last column and whether they
//! nest: the references a book draft makes to them, by id or by name, resolved through one
//! helper; and their row writes, creates and deletes, each through one helper.

use super::idempotency::store_idempotency;
use super::{begin_write, Dialect, RowsAffected};
use crate::error::{backend, is_foreign_key_violation, is_unique_violation, json_error};
use crate::rows::{AuthorRow, GenreRow};
use crate::sql;
use crate::time::DbTime;
use bookstore_core::text::fold_key;
use bookstore_core::{
    Author, AuthorId, AuthorRef, BookDraft, Contributor, Genre, GenreId, GenreRef, GenreTag,
    IdempotencyRequest, StoreError,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};
use std::collections::HashMap;
use uuid::Uuid;

/// A reference to an author or genre, by id or by name.
pub(crate) enum Ref<'a> {
    Id(Uuid),
    Name(&'a str),
}

/// An author or genre row as its insert and update statements bind it: `$1` the id, `$2` the
/// name, `$3` the name's key, `$4` the `detail` (an author's bio, a genre's parent), `$5` the
/// time.
pub(crate) struct NamedRow<'a, T> {
    /// What a name conflict names: `author` or `genre`.
    pub(crate) entity: &'static str,
    pub(crate) id: Uuid,
    pub(crate) name: &'a str,
    pub(crate) detail: T,
    pub(crate) at: DateTime<Utc>,
}

/// Inserts or updates (`statement`) an author or genre row. A name another row has is
/// `DuplicateName`; any other failure is what `failed` makes of it.
pub(crate) async fn write_named<D: Dialect, T>(
    conn: &mut <D::Db as Database>::Connection,
    statement: &'static str,
    row: &NamedRow<'_, T>,
    failed: impl FnOnce(sqlx::Error) -> StoreError,
) -> Result<<D::Db as Database>::QueryResult, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> T: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    T: Clone + Send,
{
    let written = sqlx::query(statement)
        .bind(row.id)
        .bind(row.name)
        .bind(fold_key(row.name))
        .bind(row.detail.clone())
        .bind(DbTime(row.at))
        .execute(&mut *conn)
        .await;
    match written {
        Ok(done) => Ok(done),
        Err(err) if is_unique_violation(&err) => Err(StoreError::DuplicateName {
            entity: row.entity,
            name: row.name.to_owned(),
        }),
        Err(err) => Err(failed(err)),
    }
}

/// Creates an author or genre: inserts `row` (`statement`, as [`write_named`] does), stores
/// `created`, the record it makes, under the idempotency key if there is one, and commits.
pub(crate) async fn create_named<D: Dialect, T, R: Serialize>(
    mut tx: Transaction<'static, D::Db>,
    statement: &'static str,
    row: NamedRow<'_, T>,
    failed: impl FnOnce(sqlx::Error) -> StoreError,
    created: R,
    idempotency: Option<&IdempotencyRequest>,
) -> Result<R, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> T: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> DbTime: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, D::Db> + Type<D::Db>,
    T: Clone + Send,
{
    write_named::<D, T>(&mut tx, statement, &row, failed).await?;
    if let Some(request) = idempotency {
        let response = serde_json::to_value(&created).map_err(json_error)?;
        store_idempotency::<D>(&mut tx, request, &response, row.at).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(created)
}

/// Deletes the author or genre (`kind`) `id`, unless books name it or (genres) others nest
/// under it.
pub(crate) async fn delete_named_once<D: Dialect>(
    store: &D,
    kind: &sql::Named,
    id: Uuid,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    <D::Db as Database>::QueryResult: RowsAffected,
{
    let entity = kind.entity;
    let mut tx = begin_write(store).await?;
    let books = scalar_in_tx::<D, i64>(&mut tx, kind.book_count, id)
        .await?
        .unwrap_or(0);
    if books > 0 {
        return Err(StoreError::InUse {
            entity,
            count: books,
        });
    }
    if let Some(child_count) = kind.child_count {
        let children = scalar_in_tx::<D, i64>(&mut tx, child_count, id)
            .await?
            .unwrap_or(0);
        if children > 0 {
            return Err(StoreError::HasChildren {
                entity,
                count: children,
            });
        }
    }
    let deleted = sqlx::query(kind.delete).bind(id).execute(&mut *tx).await;
    match deleted {
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::NotFound { entity }),
        Ok(_) => tx.commit().await.map_err(backend),
        Err(err) if is_foreign_key_violation(&err) => {
            // A concurrent write started using it: say what uses it now.
            tx.rollback().await.map_err(backend)?;
            Err(still_referenced(store, kind, id).await)
        }
        Err(err) => Err(backend(err)),
    }
}

/// Why an author or genre could not be deleted although it looked unused: a concurrent write
/// referenced it.
async fn still_referenced<D: Dialect>(store: &D, kind: &sql::Named, id: Uuid) -> StoreError
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let entity = kind.entity;
    let books = match count(store, kind.book_count, id).await {
        Ok(n) => n,
        Err(err) => return err,
    };
    let Some(child_count) = kind.child_count.filter(|_| books == 0) else {
        return StoreError::InUse {
            entity,
            count: books.max(1),
        };
    };
    match count(store, child_count, id).await {
        Ok(children) => StoreError::HasChildren {
            entity,
            count: children.max(1),
        },
        Err(err) => err,
    }
}

/// The one value `sql` reads for `id` (a name, a count), in a transaction; `None` when it
/// reads no row.
pub(crate) async fn scalar_in_tx<D: Dialect, T>(
    conn: &mut <D::Db as Database>::Connection,
    sql: &'static str,
    id: Uuid,
) -> Result<Option<T>, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (T,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    T: Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)
}

/// The author `id`, read in the transaction that changed it.
pub(crate) async fn author_in_tx<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: Uuid,
) -> Result<Author, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    AuthorRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: AuthorRow = sqlx::query_as(sql::AUTHOR_BY_ID)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(row.into())
}

/// The genre `id`, read in the transaction that changed it.
pub(crate) async fn genre_in_tx<D: Dialect>(
    conn: &mut <D::Db as Database>::Connection,
    id: Uuid,
) -> Result<Genre, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    GenreRow: for<'r> FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let row: GenreRow = sqlx::query_as(sql::GENRE_BY_ID)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(row.into())
}

/// The count `sql` makes of what references `id`, read outside any transaction.
pub(crate) async fn count<D: Dialect>(
    store: &D,
    sql: &'static str,
    id: Uuid,
) -> Result<i64, StoreError>
where
    for<'c> &'c D::Reader: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    (i64,): for<'r> FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(store.reader())
        .await
        .map_err(backend)
}

/// `(key, name, id)` of the names `refs` give, each key once, in key order: so that concurrent
/// writers take their locks in one order and cannot deadlock. Each with the id it gets if it
/// is created.
fn named_rows<'a>(refs: &[Ref<'a>]) -> Vec<(String, &'a str, Uuid)> {
    let mut named: Vec<(String, &str, Uuid)> = refs
        .iter()
        .filter_map(|r| match r {
            Ref::Name(name) => Some((fold_key(name), *name, Uuid::now_v7())),
            Ref::Id(_) => None,
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.dedup_by(|a, b| a.0 == b.0);
    named
}

/// Resolving references to authors or genres: three statements, which each store writes in
/// its own way (`named_rows.rs`): PostgreSQL binds one array per column, so that each
/// statement's text is the same for any number of names; SQLite lists them.
pub(crate) trait ResolveNamed: Dialect {
    /// The names of the ones `ids` that exist, by id.
    async fn names_by_ids(
        conn: &mut <Self::Db as Database>::Connection,
        kind: &sql::Named,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError>;

    /// Inserts `(key, name, id)` rows, in their order; a key that exists is left alone. Gives
    /// the ids of the rows it inserted.
    async fn insert_names(
        conn: &mut <Self::Db as Database>::Connection,
        kind: &sql::Named,
        rows: &[(String, &str, Uuid)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// `(key, id, name)` of the ones with these keys, locked as a link's foreign key
    /// locks them, until the end of the transaction, where writers run side by side.
    async fn by_keys(
        conn: &mut <Self::Db as Database>::Connection,
        kind: &sql::Named,
        keys: &[&str],
    ) -> Result<Vec<(String, Uuid, String)>, StoreError>;

    /// Creates the ones `refs` name that do not exist yet (ids are left alone): one
    /// statement, which gives the ids of those it created (not those a concurrent writer
    /// created first). What an import does before its batch's transaction, which then finds
    /// them all.
    async fn create_missing(
        conn: &mut <Self::Db as Database>::Connection,
        kind: &sql::Named,
        refs: &[Ref<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let named = named_rows(refs);
        if named.is_empty() {
            return Ok(Vec::new());
        }
        Self::insert_names(conn, kind, &named, now).await
    }

    /// Resolves references to authors or genres, in draft order, to their ids and stored
    /// names: an id must exist; a name is matched on its folded key, or created. A handful of
    /// statements whatever the number of references.
    ///
    /// The names found are locked (where writers run side by side) until the transaction
    /// ends, as the foreign keys of the links it writes would lock them: an import that
    /// deletes the names it created but did not link (`import::remove_unused_names`) waits
    /// for this transaction, and sees its links, rather than deleting a name it is about to
    /// link.
    async fn resolve_refs(
        conn: &mut <Self::Db as Database>::Connection,
        kind: &sql::Named,
        refs: &[Ref<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        let ids: Vec<Uuid> = refs
            .iter()
            .filter_map(|r| match r {
                Ref::Id(id) => Some(*id),
                Ref::Name(_) => None,
            })
            .collect();
        let mut by_id: HashMap<Uuid, String> = HashMap::new();
        if !ids.is_empty() {
            by_id.extend(Self::names_by_ids(conn, kind, &ids).await?);
        }
        if let Some((i, id)) = refs.iter().enumerate().find_map(|(i, r)| match r {
            Ref::Id(id) if !by_id.contains_key(id) => Some((i, *id)),
            _ => None,
        }) {
            return Err(StoreError::UnknownReference {
                field: format!("{}[{i}]", kind.field),
                entity: kind.entity,
                id,
            });
        }

        let mut named = named_rows(refs);
        let mut by_key: HashMap<String, (Uuid, String)> = HashMap::new();
        if !named.is_empty() {
            // Most names exist (an import's batch created its new ones before its
            // transaction): those are read, and only the others inserted and read.
            let keys: Vec<&str> = named.iter().map(|(key, _, _)| key.as_str()).collect();
            let rows = Self::by_keys(conn, kind, &keys).await?;
            by_key.extend(rows.into_iter().map(|(key, id, name)| (key, (id, name))));
            named.retain(|(key, _, _)| !by_key.contains_key(key));
            if !named.is_empty() {
                Self::insert_names(conn, kind, &named, now).await?;
                let keys: Vec<&str> = named.iter().map(|(key, _, _)| key.as_str()).collect();
                let rows = Self::by_keys(conn, kind, &keys).await?;
                by_key.extend(rows.into_iter().map(|(key, id, name)| (key, (id, name))));
            }
        }

        refs.iter()
            .map(|r| {
                let found = match r {
                    Ref::Id(id) => by_id.get(id).map(|name| (*id, name.clone())),
                    Ref::Name(name) => by_key.get(&fold_key(name)).cloned(),
                };
                // Only a concurrent delete between insert and select gets here.
                found.ok_or(StoreError::NotFound {
                    entity: kind.entity,
                })
            })
            .collect::<Result<Vec<_>, _>>()
    }
}

/// The draft's contributors, in order; one listed twice with the same role is kept once.
pub(crate) async fn resolve_contributors<D: ResolveNamed>(
    conn: &mut <D::Db as Database>::Connection,
    draft: &BookDraft,
    now: DateTime<Utc>,
) -> Result<Vec<Contributor>, StoreError> {
    let refs: Vec<Ref<'_>> = draft
        .authors()
        .iter()
        .map(|c| match &c.author {
            AuthorRef::Id(id) => Ref::Id(id.as_uuid()),
            AuthorRef::Name(name) => Ref::Name(name),
        })
        .collect();
    let found = D::resolve_refs(conn, &sql::AUTHORS, &refs, now).await?;
    let mut resolved: Vec<Contributor> = Vec::with_capacity(found.len());
    for (contributor, (id, name)) in draft.authors().iter().zip(found) {
        let author_id = AuthorId::from_uuid(id);
        let role = contributor.role;
        if !resolved
            .iter()
            .any(|c| c.author_id == author_id && c.role == role)
        {
            resolved.push(Contributor {
                author_id,
                name,
                role,
            });
        }
    }
    Ok(resolved)
}

/// The draft's genres, in order (created at the top level when new); one listed twice is
/// kept once.
pub(crate) async fn resolve_genres<D: ResolveNamed>(
    conn: &mut <D::Db as Database>::Connection,
    draft: &BookDraft,
    now: DateTime<Utc>,
) -> Result<Vec<GenreTag>, StoreError> {
    let refs: Vec<Ref<'_>> = draft
        .genres()
        .iter()
        .map(|g| match g {
            GenreRef::Id(id) => Ref::Id(id.as_uuid()),
            GenreRef::Name(name) => Ref::Name(name),
        })
        .collect();
    let found = D::resolve_refs(conn, &sql::GENRES, &refs, now).await?;
    let mut resolved: Vec<GenreTag> = Vec::with_capacity(found.len());
    for (id, name) in found {
        let id = GenreId::from_uuid(id);
        if !resolved.iter().any(|g| g.id == id) {
            resolved.push(GenreTag { id, name });
        }
    }
    Ok(resolved)
}
