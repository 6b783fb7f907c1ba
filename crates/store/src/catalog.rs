//! The one implementation of [`CatalogStore`](bookstore_core::CatalogStore), written once and
//! expanded for each database by [`impl_catalog_store!`]. The SQL is shared (`sql.rs`); what
//! differs between the databases is behind [`Dialect`].

use crate::sql::BookSql;
use bookstore_core::{BookFilters, Page, StoreError, TextQuery};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::{Pool, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

/// What a database contributes to the shared implementation.
pub(crate) trait Dialect {
    type Db: sqlx::Database;

    /// Opens a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so that a transaction never has to upgrade its lock and fail with `SQLITE_BUSY`.
    const BEGIN_WRITE: &'static str;

    /// Locks the book `$1` until the end of the transaction, before a conditional write reads
    /// it. `None` where writers are serialised anyway.
    const LOCK_BOOK: Option<&'static str>;

    /// Serialises changes to the genre tree, so that two concurrent re-parentings cannot
    /// close a cycle that neither saw. `None` where writers are serialised anyway.
    const GENRE_TREE_LOCK: Option<&'static str>;

    /// Ends `SELECT 1 FROM books b WHERE <ids>` so that it locks those books, in id order,
    /// until the end of the transaction. `None` where writers are serialised anyway.
    const LOCK_BOOKS: Option<&'static str>;

    /// Deletes a bounded batch of idempotency records created before `$1` (of any key).
    const PRUNE_IDEMPOTENCY: &'static str;

    fn book_sql() -> &'static BookSql;

    fn migrator() -> &'static Migrator;

    /// The pool of write transactions.
    fn writer(&self) -> &Pool<Self::Db>;

    /// Where reads outside transactions run: a pool that is an sqlx `Executor`.
    type Reader: Sync;

    /// The pool of reads outside transactions.
    fn reader(&self) -> &Self::Reader;

    /// An id as an SQL literal of the database's UUID representation.
    fn uuid_literal(id: Uuid) -> String;

    /// Pushes a predicate: `column` is one of `ids`, bound as one parameter, so that the
    /// statement's text, and so its prepared statement, is the same for any number of ids
    /// (sqlx keeps a bounded cache of prepared statements per connection). For a statement
    /// over one table: SQLite cannot tell how many ids there are when it orders a join.
    fn push_id_in(qb: &mut QueryBuilder<'static, Self::Db>, column: &str, ids: &[Uuid]);

    /// Wraps a statement whose rows are `(facet, value, n)` into one that returns them as
    /// one JSON array of `[facet, value, n]`: one row to hand over instead of one per value.
    const PACK_FACET_ROWS: (&'static str, &'static str);

    /// Whether titles are searched first, through an index of their own (see `search.rs`).
    const TITLES_FIRST: bool;

    /// Whether a sorted page picks its ids first and reads their books after. SQLite computes
    /// the whole select list (the contributor and genre subqueries too) for every row it
    /// sorts: tens of thousands for a common word; PostgreSQL projects after the limit.
    const IDS_BEFORE_BOOKS: bool;

    /// Pushes a predicate over the book `b`: it matches the words of `text` (not its ISBN).
    /// A query without a usable word matches nothing.
    fn push_text_match(qb: &mut QueryBuilder<'static, Self::Db>, text: &TextQuery);

    /// Pushes the relevance score of the book `b` for the words of `text`, a double
    /// precision number (higher is more relevant), or NULL where the score needs more than
    /// the book's row ([`Dialect::listed_scores`] then gives it).
    fn push_text_score(qb: &mut QueryBuilder<'static, Self::Db>, text: &TextQuery);

    /// The scores of the books `ids` for the words of `text`, where
    /// [`Dialect::push_text_score`] is NULL; empty where it is not.
    async fn listed_scores(
        &self,
        text: &TextQuery,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, f64>, StoreError>;

    /// What a relevance search fixes on its first page and its cursor carries to the later
    /// pages, so that a book's score does not change in between (SQLite: bm25's corpus
    /// statistics); `()` where a score depends on the book alone.
    type Pinned: Default + Serialize + DeserializeOwned + Send + Sync;

    /// Up to `limit` books matching the words of `text` that `filters` let through, in index
    /// order, with their scores; `title_only`: only those whose title alone matches.
    async fn ranked_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        title_only: bool,
        limit: i64,
        pinned: &mut Self::Pinned,
    ) -> Result<Vec<(Uuid, f64)>, StoreError>;

    /// Whether the words of `text` read as prefixes can match indexed words that the words
    /// as typed do not; `true` where telling costs about as much as searching.
    async fn prefix_adds_words(&self, text: &TextQuery) -> Result<bool, StoreError>;

    /// Books that `filters` let through and whose title or authors are near spellings of
    /// the query's words, with a similarity score: the typo fallback.
    async fn fuzzy_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        pinned: &mut Self::Pinned,
    ) -> Result<Vec<(Uuid, f64)>, StoreError>;
}

/// Turns `limit + 1` fetched rows into a page of at most `limit` items and the cursor of the
/// last one, if there are more.
pub(crate) fn into_page<R, T>(
    mut rows: Vec<R>,
    limit: u32,
    cursor_of: impl Fn(&R) -> String,
    convert: impl FnMut(R) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    let items = rows.into_iter().map(convert).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

/// Implements [`CatalogStore`](bookstore_core::CatalogStore) for `$store`, a [`Dialect`]
/// whose database is `$db`.
macro_rules! impl_catalog_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::event::{BookEventKind, CloudEvent};
            use bookstore_core::text::fold_key;
            use bookstore_core::{
                Author, AuthorDraft, AuthorId, AuthorRef, Book, BookDraft, BookFilters, BookId,
                BookListQuery, BookPage, BookSearch, BookSort, CatalogStore, Contributor, Facet,
                FacetCount, FacetCounts, Genre, GenreDraft, GenreId, GenreRef, GenreTag,
                HistoryAction, HistoryEntry, IdempotencyRecord, IdempotencyRequest,
                IdempotencyStore, Isbn, NameOrId, Page, PageRequest, Precondition, Quantity,
                ScoredBook, StockMovement, StockMovementDraft, StockMovementKind, StoreError,
                WriteContext, IDEMPOTENCY_KEY_TTL_SECS,
            };
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use sqlx::{QueryBuilder, Transaction};
            use std::collections::HashMap;
            use uuid::Uuid;
            use $crate::catalog::{into_page, Dialect};
            use $crate::cursor::{self, BookKey};
            use $crate::error::{
                backend, is_foreign_key_violation, is_unique_violation, json_error, NotMigrated,
            };
            use $crate::retry::retrying;
            use $crate::rows::{
                AuthorRow, BookParts, BookRow, GenreRow, HistoryRow, IdempotencyRow, ListedBook,
                MigrationRow, ScoredBookRow, StockMovementRow,
            };
            use $crate::search::{self, Candidates};
            use $crate::sql;
            use $crate::time::{self, DbTime};

            type Conn = <$db as sqlx::Database>::Connection;
            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

            /// A reference to an author or genre, by id or by name.
            enum Ref<'a> {
                Id(Uuid),
                Name(&'a str),
            }

            /// One row of the audit history, as written.
            struct HistoryWrite<'a> {
                book_id: Uuid,
                version: i64,
                action: HistoryAction,
                at: DateTime<Utc>,
                before: Option<&'a serde_json::Value>,
                after: Option<&'a serde_json::Value>,
            }

            /// Binds `$1..$19` of `sql::BOOK_INSERT` / `sql::BOOK_UPDATE`.
            fn bind_book<'q>(query: Query<'q>, book: &'q Book) -> Query<'q> {
                query
                    .bind(book.id.as_uuid())
                    .bind(book.isbn.as_str())
                    .bind(&book.title)
                    .bind(fold_key(&book.title))
                    .bind(&book.subtitle)
                    .bind(&book.description)
                    .bind(&book.publisher)
                    .bind(book.published_year)
                    .bind(&book.language)
                    .bind(book.format.map(|f| f.as_str()))
                    .bind(book.page_count)
                    .bind(book.price.map(|p| p.amount_minor()))
                    .bind(book.price.map(|p| p.currency().code()))
                    .bind(book.quantity.get())
                    .bind(book.reorder_point.get())
                    .bind(&book.location)
                    .bind(book.version)
                    .bind(DbTime(book.created_at))
                    .bind(DbTime(book.updated_at))
            }

            fn position(index: usize) -> i32 {
                i32::try_from(index).unwrap_or(i32::MAX)
            }

            fn limit_plus_one(page: &PageRequest) -> i64 {
                i64::from(page.limit.get()) + 1
            }

            /// Rows per statement when a rename writes history and events of many books.
            const TOUCH_CHUNK: usize = 500;

            /// The movement that records a change of the stock made by a book write.
            fn book_write_movement(
                book: &Book,
                kind: StockMovementKind,
                delta: i64,
                reason: &str,
                ctx: &WriteContext,
                at: DateTime<Utc>,
            ) -> StockMovement {
                StockMovement {
                    id: Uuid::now_v7(),
                    book_id: book.id,
                    kind,
                    quantity: delta,
                    delta,
                    quantity_after: book.quantity.get(),
                    reason: Some(reason.to_owned()),
                    actor: ctx.actor().to_owned(),
                    request_id: ctx.request_id.clone(),
                    at,
                }
            }

            impl $store {
                pub(crate) async fn migrate(&self) -> Result<(), $crate::OpenError> {
                    <Self as Dialect>::migrator()
                        .run(self.writer())
                        .await
                        .map_err($crate::OpenError::Migrate)
                }

                pub(crate) async fn close(&self) {
                    self.close_reader().await;
                    self.writer().close().await;
                }

                async fn begin_write(&self) -> Result<Transaction<'static, $db>, StoreError> {
                    self.writer()
                        .begin_with(<Self as Dialect>::BEGIN_WRITE)
                        .await
                        .map_err(backend)
                }

                /// Stores what a create made under its idempotency key, in the create's
                /// transaction, forgetting expired keys on the way (this one's, and a batch of
                /// others). `IdempotencyKeyTaken` when a concurrent request holds the key.
                async fn store_idempotency(
                    conn: &mut Conn,
                    request: &IdempotencyRequest,
                    response: &serde_json::Value,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let expired = DbTime(now - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS));
                    sqlx::query(sql::IDEMPOTENCY_FORGET)
                        .bind(&request.scope)
                        .bind(&request.key)
                        .bind(expired)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    sqlx::query(<Self as Dialect>::PRUNE_IDEMPOTENCY)
                        .bind(expired)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    let stored = sqlx::query(sql::IDEMPOTENCY_INSERT)
                        .bind(&request.scope)
                        .bind(&request.key)
                        .bind(&request.fingerprint)
                        .bind(Json(response))
                        .bind(DbTime(now))
                        .execute(&mut *conn)
                        .await;
                    match stored {
                        Ok(_) => Ok(()),
                        Err(err) if is_unique_violation(&err) => {
                            Err(StoreError::IdempotencyKeyTaken)
                        }
                        Err(err) => Err(backend(err)),
                    }
                }

                async fn insert_movement(
                    conn: &mut Conn,
                    movement: &StockMovement,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::STOCK_MOVEMENT_INSERT)
                        .bind(movement.id)
                        .bind(movement.book_id.as_uuid())
                        .bind(movement.kind.as_str())
                        .bind(movement.quantity)
                        .bind(movement.delta)
                        .bind(movement.quantity_after)
                        .bind(movement.reason.as_deref())
                        .bind(&movement.actor)
                        .bind(movement.request_id.as_deref())
                        .bind(DbTime(movement.at))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn fetch_book(
                    conn: &mut Conn,
                    sql: &'static str,
                    id: Uuid,
                ) -> Result<Option<Book>, StoreError> {
                    let row: Option<BookRow> = sqlx::query_as(sql)
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend)?;
                    row.map(Book::try_from).transpose()
                }

                /// Resolves references to authors or genres, in draft order, to their ids and
                /// stored names: an id must exist; a name is matched on its folded key, or
                /// created. A handful of statements whatever the number of references.
                async fn resolve_refs(
                    conn: &mut Conn,
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
                        let mut select = QueryBuilder::<$db>::new(kind.names_by_id);
                        let mut list = select.separated(", ");
                        for id in &ids {
                            list.push_bind(*id);
                        }
                        list.push_unseparated(")");
                        let rows: Vec<(Uuid, String)> = select
                            .build_query_as()
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(backend)?;
                        by_id.extend(rows);
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

                    // Created in key order, so that concurrent writers take their locks in
                    // one order and cannot deadlock.
                    let mut named: Vec<(String, &str)> = refs
                        .iter()
                        .filter_map(|r| match r {
                            Ref::Name(name) => Some((fold_key(name), *name)),
                            Ref::Id(_) => None,
                        })
                        .collect();
                    named.sort_by(|a, b| a.0.cmp(&b.0));
                    named.dedup_by(|a, b| a.0 == b.0);
                    let mut by_key: HashMap<String, (Uuid, String)> = HashMap::new();
                    if !named.is_empty() {
                        let mut insert = QueryBuilder::<$db>::new(kind.insert);
                        insert.push_values(named.iter(), |mut row, (key, name)| {
                            row.push_bind(Uuid::now_v7())
                                .push_bind(*name)
                                .push_bind(key.as_str())
                                .push_bind(DbTime(now))
                                .push_bind(DbTime(now));
                        });
                        insert.push(sql::ON_NAME_CONFLICT_DO_NOTHING);
                        insert.build().execute(&mut *conn).await.map_err(backend)?;

                        let mut select = QueryBuilder::<$db>::new(kind.by_keys);
                        let mut list = select.separated(", ");
                        for (key, _) in &named {
                            list.push_bind(key.as_str());
                        }
                        list.push_unseparated(")");
                        let rows: Vec<(String, Uuid, String)> = select
                            .build_query_as()
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(backend)?;
                        by_key.extend(rows.into_iter().map(|(key, id, name)| (key, (id, name))));
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
                        .collect()
                }

                /// The draft's contributors, in order; one listed twice with the same role is
                /// kept once.
                async fn resolve_contributors(
                    conn: &mut Conn,
                    draft: &BookDraft,
                    now: DateTime<Utc>,
                ) -> Result<Vec<Contributor>, StoreError> {
                    let refs: Vec<Ref<'_>> = draft
                        .authors
                        .iter()
                        .map(|c| match &c.author {
                            AuthorRef::Id(id) => Ref::Id(id.as_uuid()),
                            AuthorRef::Name(name) => Ref::Name(name),
                        })
                        .collect();
                    let found = Self::resolve_refs(conn, &sql::AUTHORS, &refs, now).await?;
                    let mut resolved: Vec<Contributor> = Vec::with_capacity(found.len());
                    for (contributor, (id, name)) in draft.authors.iter().zip(found) {
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

                /// The draft's genres, in order (created at the top level when new); one
                /// listed twice is kept once.
                async fn resolve_genres(
                    conn: &mut Conn,
                    draft: &BookDraft,
                    now: DateTime<Utc>,
                ) -> Result<Vec<GenreTag>, StoreError> {
                    let refs: Vec<Ref<'_>> = draft
                        .genres
                        .iter()
                        .map(|g| match g {
                            GenreRef::Id(id) => Ref::Id(id.as_uuid()),
                            GenreRef::Name(name) => Ref::Name(name),
                        })
                        .collect();
                    let found = Self::resolve_refs(conn, &sql::GENRES, &refs, now).await?;
                    let mut resolved: Vec<GenreTag> = Vec::with_capacity(found.len());
                    for (id, name) in found {
                        let id = GenreId::from_uuid(id);
                        if !resolved.iter().any(|g| g.id == id) {
                            resolved.push(GenreTag { id, name });
                        }
                    }
                    Ok(resolved)
                }

                /// Writes the book's contributor and genre links (after clearing the old ones
                /// when `replace`).
                async fn write_links(
                    conn: &mut Conn,
                    book: &Book,
                    replace: bool,
                ) -> Result<(), StoreError> {
                    let book_id = book.id.as_uuid();
                    if replace {
                        for clear in [sql::BOOK_AUTHORS_CLEAR, sql::BOOK_GENRES_CLEAR] {
                            sqlx::query(clear)
                                .bind(book_id)
                                .execute(&mut *conn)
                                .await
                                .map_err(backend)?;
                        }
                    }
                    if !book.authors.is_empty() {
                        let mut insert = QueryBuilder::<$db>::new(sql::BOOK_AUTHORS_INSERT);
                        insert.push_values(book.authors.iter().enumerate(), |mut row, (i, c)| {
                            row.push_bind(book_id)
                                .push_bind(c.author_id.as_uuid())
                                .push_bind(position(i))
                                .push_bind(c.role.as_str());
                        });
                        insert.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                    if !book.genres.is_empty() {
                        let mut insert = QueryBuilder::<$db>::new(sql::BOOK_GENRES_INSERT);
                        insert.push_values(book.genres.iter().enumerate(), |mut row, (i, g)| {
                            row.push_bind(book_id)
                                .push_bind(g.id.as_uuid())
                                .push_bind(position(i));
                        });
                        insert.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                    Ok(())
                }

                /// Appends the audit row and the outbox event of a change.
                async fn record_change(
                    conn: &mut Conn,
                    ctx: &WriteContext,
                    history: HistoryWrite<'_>,
                    event: &CloudEvent,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::HISTORY_INSERT)
                        .bind(Uuid::now_v7())
                        .bind(history.book_id)
                        .bind(history.version)
                        .bind(history.action.as_str())
                        .bind(ctx.actor())
                        .bind(ctx.request_id.as_deref())
                        .bind(DbTime(history.at))
                        .bind(history.before.map(Json))
                        .bind(history.after.map(Json))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    sqlx::query(sql::OUTBOX_INSERT)
                        .bind(event.id)
                        .bind("book")
                        .bind(history.book_id)
                        .bind(&event.event_type)
                        .bind(Json(event))
                        .bind(DbTime(history.at))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                /// Maps a failed book write: a unique violation is the ISBN (the only unique
                /// key besides the fresh id). Rolls back, then names the book holding it.
                async fn isbn_conflict(
                    &self,
                    tx: Transaction<'static, $db>,
                    err: sqlx::Error,
                    isbn: &Isbn,
                ) -> StoreError {
                    if !is_unique_violation(&err) {
                        return backend(err);
                    }
                    if let Err(err) = tx.rollback().await {
                        return backend(err);
                    }
                    match sqlx::query_scalar::<_, Uuid>(sql::BOOK_ID_BY_ISBN)
                        .bind(isbn.as_str())
                        .fetch_optional(self.reader())
                        .await
                    {
                        Ok(existing) => StoreError::DuplicateIsbn {
                            isbn: isbn.clone(),
                            existing,
                        },
                        Err(err) => backend(err),
                    }
                }

                /// Reads the book for a conditional write, locking it where the database can.
                async fn current_for_write(
                    conn: &mut Conn,
                    id: BookId,
                    expected: &Precondition,
                ) -> Result<Book, StoreError> {
                    // Lock first, then read in a statement of its own: in PostgreSQL's read
                    // committed mode that statement sees whatever a writer we waited for
                    // committed, contributors and genres included.
                    if let Some(lock) = <Self as Dialect>::LOCK_BOOK {
                        sqlx::query(lock)
                            .bind(id.as_uuid())
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                    let current = Self::fetch_book(
                        conn,
                        <Self as Dialect>::book_sql().by_id.as_str(),
                        id.as_uuid(),
                    )
                    .await?
                    .ok_or(StoreError::NotFound { entity: "book" })?;
                    if !expected.accepts(current.version) {
                        return Err(StoreError::VersionMismatch {
                            current: current.version,
                        });
                    }
                    Ok(current)
                }

                async fn author_in_tx(conn: &mut Conn, id: Uuid) -> Result<Author, StoreError> {
                    let row: AuthorRow = sqlx::query_as(sql::AUTHOR_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(row.into())
                }

                async fn genre_in_tx(conn: &mut Conn, id: Uuid) -> Result<Genre, StoreError> {
                    let row: GenreRow = sqlx::query_as(sql::GENRE_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(row.into())
                }

                async fn count(&self, sql: &'static str, id: Uuid) -> Result<i64, StoreError> {
                    sqlx::query_scalar(sql)
                        .bind(id)
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)
                }

                async fn count_in_tx(
                    conn: &mut Conn,
                    sql: &'static str,
                    id: Uuid,
                ) -> Result<i64, StoreError> {
                    sqlx::query_scalar(sql)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(backend)
                }

                /// The books `linked` (`sql::AUTHOR_BOOK_IDS` or `sql::GENRE_BOOK_IDS`) to
                /// `id`, in id order, each locked where the database has row locks; those in
                /// `locked` are locked already.
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
                            let mut select =
                                QueryBuilder::<$db>::new("SELECT 1 FROM books b WHERE ");
                            <Self as Dialect>::push_id_in(&mut select, "b.id", &new);
                            select.push(lock);
                            select.build().execute(&mut *conn).await.map_err(backend)?;
                        }
                    }
                    Ok(ids)
                }

                /// Gives each of the books `ids` a new version, with a history row and an
                /// `updated` event: a change of an author or genre they name made them read
                /// differently. `as_before` turns a book as it reads now into what it read
                /// before the change. A few statements whatever the number of books.
                async fn touch_books(
                    conn: &mut Conn,
                    ctx: &WriteContext,
                    ids: &[Uuid],
                    now: DateTime<Utc>,
                    as_before: impl Fn(&mut Book),
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
                        let event = CloudEvent::book_changed(BookEventKind::Updated, &after)
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
                                .push_bind(DbTime(now));
                        });
                        outbox.build().execute(&mut *conn).await.map_err(backend)?;
                    }
                    Ok(())
                }

                /// Why a genre could not be deleted although it looked unused: a concurrent
                /// change referenced it.
                async fn genre_still_referenced(&self, id: Uuid) -> StoreError {
                    let books = match self.count(sql::GENRE_BOOK_COUNT, id).await {
                        Ok(n) => n,
                        Err(err) => return err,
                    };
                    if books > 0 {
                        return StoreError::InUse {
                            entity: "genre",
                            count: books,
                        };
                    }
                    match self.count(sql::GENRE_CHILD_COUNT, id).await {
                        Ok(children) => StoreError::HasChildren {
                            entity: "genre",
                            count: children.max(1),
                        },
                        Err(err) => err,
                    }
                }

                /// A foreign key violation on a genre write: the parent was deleted meanwhile.
                fn parent_gone(err: sqlx::Error, parent: Option<GenreId>) -> StoreError {
                    match parent {
                        Some(parent) if is_foreign_key_violation(&err) => {
                            StoreError::UnknownReference {
                                field: "parent_id".into(),
                                entity: "genre",
                                id: parent.as_uuid(),
                            }
                        }
                        _ => backend(err),
                    }
                }

                /// Checks that `parent` exists and that nesting `genre` under it closes no
                /// cycle.
                async fn check_parent(
                    conn: &mut Conn,
                    genre: Option<Uuid>,
                    parent: Option<GenreId>,
                ) -> Result<(), StoreError> {
                    let Some(parent) = parent else {
                        return Ok(());
                    };
                    let exists: Option<String> = sqlx::query_scalar(sql::GENRE_NAME_BY_ID)
                        .bind(parent.as_uuid())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend)?;
                    if exists.is_none() {
                        return Err(StoreError::UnknownReference {
                            field: "parent_id".into(),
                            entity: "genre",
                            id: parent.as_uuid(),
                        });
                    }
                    if let Some(genre) = genre {
                        let hits: i64 = sqlx::query_scalar(sql::GENRE_IS_SELF_OR_ANCESTOR)
                            .bind(parent.as_uuid())
                            .bind(genre)
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(backend)?;
                        if hits > 0 {
                            return Err(StoreError::GenreCycle);
                        }
                    }
                    Ok(())
                }
            }

            /// Which books a list selected, for counting its facets.
            enum Matched {
                /// The filters, and the text query's words (or ISBN) when there is one.
                Query,
                /// The same, with no word read as a prefix (`TextQuery::as_typed`).
                QueryAsTyped,
                /// Exactly these books (every candidate of a search that no bound cut short,
                /// or the typo fallback's).
                Ids(Vec<Uuid>),
            }

            /// Appends the text predicate of `search` (words or ISBN), if it has a query.
            fn push_search_text(qb: &mut QueryBuilder<'static, $db>, search: &BookSearch) {
                let Some(text) = &search.text else {
                    return;
                };
                qb.push(" AND (");
                if text.has_text() {
                    <$store as Dialect>::push_text_match(qb, text);
                } else {
                    qb.push("1 = 0");
                }
                if let Some(isbn) = &text.isbn {
                    qb.push(" OR b.isbn = ").push_bind(isbn.as_str().to_owned());
                }
                qb.push(")");
            }

            /// The score of a listed book in a list that is not ordered by relevance.
            fn push_search_score(qb: &mut QueryBuilder<'static, $db>, search: &BookSearch) {
                match &search.text {
                    None => {
                        qb.push("NULL");
                    }
                    Some(text) => {
                        qb.push("(");
                        if text.has_text() {
                            qb.push("coalesce(");
                            <$store as Dialect>::push_text_score(qb, text);
                            qb.push(", 0.0)");
                        } else {
                            qb.push("0.0");
                        }
                        if let Some(isbn) = &text.isbn {
                            qb.push(" + CASE WHEN b.isbn = ")
                                .push_bind(isbn.as_str().to_owned())
                                .push(format_args!(" THEN {:.1} ELSE 0.0 END", search::ISBN_SCORE));
                        }
                        qb.push(")");
                    }
                }
            }

            impl $store {
                /// The filters with authors and genres given by name replaced by their ids;
                /// `None` when a name matches none.
                async fn resolve_filters(
                    &self,
                    filters: &BookFilters,
                ) -> Result<Option<BookFilters>, StoreError> {
                    let mut resolved = filters.clone();
                    if let Some(NameOrId::Name(key)) = &filters.author {
                        let id: Option<Uuid> =
                            sqlx::query_scalar("SELECT id FROM authors WHERE name_key = $1")
                                .bind(key)
                                .fetch_optional(self.reader())
                                .await
                                .map_err(backend)?;
                        match id {
                            Some(id) => resolved.author = Some(NameOrId::Id(id.into())),
                            None => return Ok(None),
                        }
                    }
                    if let Some(NameOrId::Name(key)) = &filters.genre {
                        let id: Option<Uuid> =
                            sqlx::query_scalar("SELECT id FROM genres WHERE name_key = $1")
                                .bind(key)
                                .fetch_optional(self.reader())
                                .await
                                .map_err(backend)?;
                        match id {
                            Some(id) => resolved.genre = Some(NameOrId::Id(id.into())),
                            None => return Ok(None),
                        }
                    }
                    Ok(Some(resolved))
                }

                /// A page of a list in one of the column orders, filtered and searched.
                async fn sorted_page(
                    &self,
                    query: &BookListQuery,
                    list: &str,
                ) -> Result<(Vec<ScoredBook>, Option<String>, Matched), StoreError> {
                    let sort = query.sort;
                    let search = &query.search;
                    let after = match query.page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_book(sort, list, c)?),
                        None => None,
                    };
                    let (column, descending) = sql::book_order(sort);
                    let (cmp, dir) = if descending {
                        ("<", "DESC")
                    } else {
                        (">", "ASC")
                    };
                    let mut select = QueryBuilder::<$db>::new("SELECT ");
                    select.push(<Self as Dialect>::book_sql().columns.as_str());
                    select.push(", ");
                    push_search_score(&mut select, search);
                    select.push(" AS score FROM books b WHERE ");
                    if <Self as Dialect>::IDS_BEFORE_BOOKS {
                        select.push("b.id IN (SELECT b.id FROM books b WHERE ");
                    }
                    select.push("1 = 1");
                    search::push_filters(
                        &mut select,
                        &search.filters,
                        <Self as Dialect>::uuid_literal,
                    );
                    push_search_text(&mut select, search);
                    if let Some((key, id)) = after {
                        select.push(format_args!(" AND ({column}, b.id) {cmp} ("));
                        match key {
                            BookKey::Time(t) => select.push_bind(t),
                            BookKey::Text(s) => select.push_bind(s),
                            BookKey::Int(i) => select.push_bind(i),
                            BookKey::Int32(i) => select.push_bind(i),
                        };
                        select.push(", ").push_bind(id).push(")");
                    }
                    select
                        .push(format_args!(" ORDER BY {column} {dir}, b.id {dir} LIMIT "))
                        .push_bind(limit_plus_one(&query.page));
                    if <Self as Dialect>::IDS_BEFORE_BOOKS {
                        select.push(format_args!(") ORDER BY {column} {dir}, b.id {dir}"));
                    }
                    let rows: Vec<ScoredBookRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    let listed = rows
                        .into_iter()
                        .map(|row| Ok((ListedBook::try_from(row.book)?, row.score)))
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    let scores = match &search.text {
                        Some(text) if text.has_text() && !listed.is_empty() => {
                            let ids: Vec<Uuid> =
                                listed.iter().map(|(l, _)| l.book.id.as_uuid()).collect();
                            self.listed_scores(text, &ids).await?
                        }
                        _ => HashMap::new(),
                    };
                    let page = into_page(
                        listed,
                        query.page.limit.get(),
                        |(last, _)| {
                            cursor::encode_book(list, &last.sort_key(sort), last.book.id.as_uuid())
                        },
                        |(listed, score)| {
                            // The ISBN's part, if any, comes from the SQL.
                            let score = match scores.get(&listed.book.id.as_uuid()) {
                                Some(text_score) => Some(text_score + score.unwrap_or(0.0)),
                                None => score,
                            };
                            Ok(ScoredBook {
                                book: listed.book,
                                score,
                            })
                        },
                    )?;
                    Ok((page.items, page.next_cursor, Matched::Query))
                }

                /// The candidates of a relevance search by full text (and ISBN).
                async fn text_candidates(
                    &self,
                    search: &BookSearch,
                    pinned: &mut <Self as Dialect>::Pinned,
                ) -> Result<Candidates, StoreError> {
                    let mut found = Candidates::default();
                    let Some(text) = &search.text else {
                        return Ok(found);
                    };
                    if text.has_text() {
                        let filters = &search.filters;
                        // Where titles have an index of their own, they are looked at first:
                        // when that many titles match, the query is a broad one, and the
                        // title matches are its result.
                        let titles = if <Self as Dialect>::TITLES_FIRST {
                            let titles = self
                                .ranked_candidates(
                                    text,
                                    filters,
                                    true,
                                    search::TITLE_CANDIDATES,
                                    pinned,
                                )
                                .await?;
                            if titles.len() as i64 >= search::TITLE_CANDIDATES {
                                found.bounded = true;
                                for (id, score) in titles {
                                    found.add(id, score + search::TITLE_BONUS);
                                }
                                return self.isbn_candidate(search, found).await;
                            }
                            Some(titles)
                        } else {
                            None
                        };
                        let all = self
                            .ranked_candidates(text, filters, false, search::CANDIDATES, pinned)
                            .await?;
                        let bounded = all.len() as i64 >= search::CANDIDATES;
                        for (id, score) in all {
                            found.add(id, score);
                        }
                        if bounded {
                            found.bounded = true;
                            let titles = match titles {
                                Some(titles) => titles,
                                None => {
                                    self.ranked_candidates(
                                        text,
                                        filters,
                                        true,
                                        search::TITLE_CANDIDATES,
                                        pinned,
                                    )
                                    .await?
                                }
                            };
                            for (id, score) in titles {
                                found.add(id, score + search::TITLE_BONUS);
                            }
                        }
                    }
                    self.isbn_candidate(search, found).await
                }

                /// Adds the book whose ISBN the query names, if the filters let it through.
                async fn isbn_candidate(
                    &self,
                    search: &BookSearch,
                    mut found: Candidates,
                ) -> Result<Candidates, StoreError> {
                    let Some(text) = &search.text else {
                        return Ok(found);
                    };
                    if let Some(isbn) = &text.isbn {
                        let mut select =
                            QueryBuilder::<$db>::new("SELECT b.id FROM books b WHERE b.isbn = ");
                        select.push_bind(isbn.as_str().to_owned());
                        search::push_filters(
                            &mut select,
                            &search.filters,
                            <Self as Dialect>::uuid_literal,
                        );
                        let ids: Vec<Uuid> = select
                            .build_query_scalar()
                            .fetch_all(self.reader())
                            .await
                            .map_err(backend)?;
                        for id in ids {
                            found.add(id, search::ISBN_SCORE);
                        }
                    }
                    Ok(found)
                }

                /// A page of a search ordered by relevance (see `search.rs`).
                async fn relevance_page(
                    &self,
                    query: &BookListQuery,
                    list: &str,
                ) -> Result<(Vec<ScoredBook>, Option<String>, Matched), StoreError> {
                    let search = &query.search;
                    let mut after = match query.page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_scored(list, c)?),
                        None => None,
                    };
                    let mut fuzzy = after.as_ref().is_some_and(|a| a.fuzzy);
                    let mut pinned: <Self as Dialect>::Pinned =
                        match after.as_mut().and_then(|a| a.pinned.take()) {
                            Some(p) => {
                                serde_json::from_value(p).map_err(|_| StoreError::InvalidCursor)?
                            }
                            None => Default::default(),
                        };
                    let limit = usize::try_from(query.page.limit.get()).unwrap_or(usize::MAX);
                    // The last word is also read as a prefix, so that a word being typed finds
                    // its books; but a prefix reads the books of every word it begins (in
                    // PostgreSQL's index, three times the work of the word alone). When the
                    // words as typed fill the first page, they are the search, and its later
                    // pages stay with it (the cursor says so).
                    let as_typed_search =
                        search
                            .text
                            .as_ref()
                            .and_then(|t| t.as_typed())
                            .map(|text| BookSearch {
                                text: Some(text),
                                ..search.clone()
                            });
                    let mut as_typed = false;
                    let mut found = Candidates::default();
                    if !fuzzy {
                        if let (Some(typed), Some(text)) =
                            (as_typed_search.as_ref(), search.text.as_ref())
                        {
                            let resumes = after.as_ref().is_some_and(|a| a.as_typed);
                            if after.is_none() || resumes {
                                found = self.text_candidates(typed, &mut pinned).await?;
                                // Searched again with prefixes only when they can find more.
                                // (When the words as typed find nothing, a prefix that no
                                // word extends costs little: the question would cost more.)
                                as_typed = resumes
                                    || found.len() > limit
                                    || (!found.is_empty() && !self.prefix_adds_words(text).await?);
                            }
                        }
                        if !as_typed {
                            found = self.text_candidates(search, &mut pinned).await?;
                        }
                    }
                    // What the candidates were searched with, for counting facets.
                    let search = match (as_typed, as_typed_search.as_ref()) {
                        (true, Some(typed)) => typed,
                        _ => search,
                    };
                    let text = search.text.as_ref();
                    // The typo fallback, when the full text finds nothing on the first page
                    // (later pages follow the mode their cursor names).
                    if found.is_empty() && after.is_none() {
                        fuzzy = text.is_some_and(|t| t.has_text());
                    }
                    if fuzzy {
                        if let Some(text) = text {
                            for (id, score) in self
                                .fuzzy_candidates(text, &search.filters, &mut pinned)
                                .await?
                            {
                                found.add(id, score);
                            }
                            // Still nothing: books matching any of the words.
                            if let (true, Some(any)) = (found.is_empty(), text.relaxed()) {
                                let relaxed = self
                                    .ranked_candidates(
                                        &any,
                                        &search.filters,
                                        false,
                                        search::CANDIDATES,
                                        &mut pinned,
                                    )
                                    .await?;
                                for (id, score) in relaxed {
                                    found.add(id, score);
                                }
                            }
                        }
                    }
                    let mut chosen = found.page(after.as_ref(), limit.saturating_add(1));
                    let next_cursor = if chosen.len() > limit {
                        chosen.truncate(limit);
                        chosen.last().map(|last| {
                            cursor::encode_scored(
                                list,
                                &cursor::ScorePosition {
                                    fuzzy,
                                    as_typed,
                                    score: last.score,
                                    id: last.id,
                                    pinned: serde_json::to_value(&pinned)
                                        .ok()
                                        .filter(|p| !p.is_null()),
                                },
                            )
                        })
                    } else {
                        None
                    };
                    let mut books: HashMap<Uuid, Book> = HashMap::new();
                    if !chosen.is_empty() {
                        let mut select =
                            QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                        select.push(" WHERE ");
                        let ids: Vec<Uuid> = chosen.iter().map(|c| c.id).collect();
                        <Self as Dialect>::push_id_in(&mut select, "b.id", &ids);
                        let rows: Vec<BookRow> = select
                            .build_query_as()
                            .fetch_all(self.reader())
                            .await
                            .map_err(backend)?;
                        for row in rows {
                            let book = Book::try_from(row)?;
                            books.insert(book.id.as_uuid(), book);
                        }
                    }
                    // A book deleted since it was found is left out.
                    let items = chosen
                        .into_iter()
                        .filter_map(|c| {
                            books.remove(&c.id).map(|book| ScoredBook {
                                book,
                                score: Some(c.score),
                            })
                        })
                        .collect();
                    // Facets count the whole result: the candidates, unless a bound cut them
                    // short (then the query itself is counted again).
                    let matched = if fuzzy || !found.bounded {
                        Matched::Ids(found.ids())
                    } else if as_typed {
                        Matched::QueryAsTyped
                    } else {
                        Matched::Query
                    };
                    Ok((items, next_cursor, matched))
                }

                /// The counts of the facets asked for over every book the list selected, in one
                /// statement: the selected books are read once.
                async fn facet_counts(
                    &self,
                    facets: &[Facet],
                    search: &BookSearch,
                    matched: &Matched,
                ) -> Result<Vec<FacetCounts>, StoreError> {
                    if facets.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut select = QueryBuilder::<$db>::new(
                        "WITH m AS MATERIALIZED (SELECT b.id, b.language, b.format FROM books b \
                         WHERE 1 = 1",
                    );
                    match matched {
                        Matched::Query => {
                            search::push_filters(
                                &mut select,
                                &search.filters,
                                <Self as Dialect>::uuid_literal,
                            );
                            push_search_text(&mut select, search);
                        }
                        Matched::QueryAsTyped => {
                            search::push_filters(
                                &mut select,
                                &search.filters,
                                <Self as Dialect>::uuid_literal,
                            );
                            let typed = BookSearch {
                                text: search.text.as_ref().and_then(|t| t.as_typed()),
                                ..search.clone()
                            };
                            push_search_text(&mut select, &typed);
                        }
                        Matched::Ids(ids) if ids.is_empty() => {
                            select.push(" AND 1 = 0");
                        }
                        Matched::Ids(ids) => {
                            select.push(" AND ");
                            <Self as Dialect>::push_id_in(&mut select, "b.id", ids);
                        }
                    }
                    select.push(") ");
                    let (pack_open, pack_close) = <Self as Dialect>::PACK_FACET_ROWS;
                    select.push(pack_open);
                    for (i, facet) in facets.iter().enumerate() {
                        if i > 0 {
                            select.push(" UNION ALL ");
                        }
                        select.push(match facet {
                            Facet::Genre => {
                                "SELECT 'genre' AS facet, g.name AS value, count(*) AS n FROM m \
                                 JOIN book_genres bg ON bg.book_id = m.id \
                                 JOIN genres g ON g.id = bg.genre_id GROUP BY g.name"
                            }
                            Facet::Language => {
                                "SELECT 'language' AS facet, m.language AS value, count(*) AS n \
                                 FROM m WHERE m.language IS NOT NULL GROUP BY m.language"
                            }
                            Facet::Format => {
                                "SELECT 'format' AS facet, m.format AS value, count(*) AS n \
                                 FROM m WHERE m.format IS NOT NULL GROUP BY m.format"
                            }
                        });
                    }
                    select.push(pack_close);
                    let packed: String = select
                        .build_query_scalar()
                        .fetch_one(self.reader())
                        .await
                        .map_err(backend)?;
                    let rows: Vec<(String, String, i64)> =
                        serde_json::from_str(&packed).map_err(json_error)?;
                    Ok(facets
                        .iter()
                        .map(|facet| {
                            let mut values: Vec<FacetCount> = rows
                                .iter()
                                .filter(|(name, _, _)| name == facet.as_str())
                                .map(|(_, value, count)| FacetCount {
                                    value: value.clone(),
                                    count: *count,
                                })
                                .collect();
                            values.sort_by(|a, b| {
                                b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value))
                            });
                            values.truncate(bookstore_core::search::MAX_FACET_VALUES);
                            FacetCounts {
                                facet: *facet,
                                values,
                            }
                        })
                        .collect())
                }
            }

            impl $store {
                async fn create_book_once(
                    &self,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Book, StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    let authors = Self::resolve_contributors(&mut tx, draft, now).await?;
                    let genres = Self::resolve_genres(&mut tx, draft, now).await?;
                    let book = BookParts {
                        id: BookId::generate().as_uuid(),
                        draft,
                        authors,
                        genres,
                        quantity: draft.quantity.unwrap_or(Quantity::ZERO),
                        version: 1,
                        created_at: now,
                        updated_at: now,
                    }
                    .into_book();
                    let snapshot = serde_json::to_value(&book).map_err(json_error)?;
                    // The key first: of two concurrent requests with one key, the second
                    // fails here (and is answered with the first one's book), not on the ISBN.
                    if let Some(request) = idempotency {
                        Self::store_idempotency(&mut tx, request, &snapshot, now).await?;
                    }
                    if let Err(err) = bind_book(sqlx::query(sql::BOOK_INSERT), &book)
                        .execute(&mut *tx)
                        .await
                    {
                        return Err(self.isbn_conflict(tx, err, &book.isbn).await);
                    }
                    Self::write_links(&mut tx, &book, false).await?;
                    // The stock a book starts with is its first receipt.
                    if book.quantity.get() > 0 {
                        let receipt = book_write_movement(
                            &book,
                            StockMovementKind::Receive,
                            book.quantity.get(),
                            "created",
                            ctx,
                            now,
                        );
                        Self::insert_movement(&mut tx, &receipt).await?;
                    }
                    let event = CloudEvent::book_changed(BookEventKind::Created, &book)
                        .map_err(json_error)?;
                    let history = HistoryWrite {
                        book_id: book.id.as_uuid(),
                        version: book.version,
                        action: HistoryAction::Created,
                        at: now,
                        before: None,
                        after: Some(&snapshot),
                    };
                    Self::record_change(&mut tx, ctx, history, &event).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(book)
                }

                async fn replace_book_once(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                ) -> Result<Book, StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    let before = Self::current_for_write(&mut tx, id, expected).await?;
                    let authors = Self::resolve_contributors(&mut tx, draft, now).await?;
                    let genres = Self::resolve_genres(&mut tx, draft, now).await?;
                    let after = BookParts {
                        id: id.as_uuid(),
                        draft,
                        authors,
                        genres,
                        quantity: draft.quantity.unwrap_or(before.quantity),
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
                        tx.rollback().await.map_err(backend)?;
                        return Ok(before);
                    }
                    if let Err(err) = bind_book(sqlx::query(sql::BOOK_UPDATE), &after)
                        .execute(&mut *tx)
                        .await
                    {
                        return Err(self.isbn_conflict(tx, err, &after.isbn).await);
                    }
                    Self::write_links(&mut tx, &after, true).await?;
                    let delta = after.quantity.get() - before.quantity.get();
                    if delta != 0 {
                        let adjustment = book_write_movement(
                            &after,
                            StockMovementKind::Adjustment,
                            delta,
                            "edited",
                            ctx,
                            now,
                        );
                        Self::insert_movement(&mut tx, &adjustment).await?;
                    }
                    let before_json = serde_json::to_value(&before).map_err(json_error)?;
                    let after_json = serde_json::to_value(&after).map_err(json_error)?;
                    let event = CloudEvent::book_changed(BookEventKind::Updated, &after)
                        .map_err(json_error)?;
                    let history = HistoryWrite {
                        book_id: id.as_uuid(),
                        version: after.version,
                        action: HistoryAction::Updated,
                        at: now,
                        before: Some(&before_json),
                        after: Some(&after_json),
                    };
                    Self::record_change(&mut tx, ctx, history, &event).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(after)
                }

                async fn delete_book_once(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    ctx: &WriteContext,
                ) -> Result<(), StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    let before = Self::current_for_write(&mut tx, id, expected).await?;
                    sqlx::query(sql::BOOK_DELETE)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let before_json = serde_json::to_value(&before).map_err(json_error)?;
                    let event = CloudEvent::book_deleted(id, before.version, now);
                    let history = HistoryWrite {
                        book_id: id.as_uuid(),
                        version: before.version,
                        action: HistoryAction::Deleted,
                        at: now,
                        before: Some(&before_json),
                        after: None,
                    };
                    Self::record_change(&mut tx, ctx, history, &event).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn record_stock_movement_once(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &StockMovementDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<(Book, StockMovement), StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    let before = Self::current_for_write(&mut tx, id, expected).await?;
                    let on_hand = before.quantity.get();
                    let (delta, quantity) = draft.apply(on_hand)?;
                    let after = Book {
                        quantity,
                        version: before.version + 1,
                        updated_at: now,
                        ..before.clone()
                    };
                    sqlx::query(sql::STOCK_UPDATE)
                        .bind(id.as_uuid())
                        .bind(quantity.get())
                        .bind(after.version)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let movement = StockMovement {
                        id: Uuid::now_v7(),
                        book_id: id,
                        kind: draft.kind(),
                        quantity: draft.quantity(),
                        delta,
                        quantity_after: quantity.get(),
                        reason: draft.reason().map(str::to_owned),
                        actor: ctx.actor().to_owned(),
                        request_id: ctx.request_id.clone(),
                        at: now,
                    };
                    Self::insert_movement(&mut tx, &movement).await?;
                    if let Some(request) = idempotency {
                        let response =
                            serde_json::to_value((&after, &movement)).map_err(json_error)?;
                        Self::store_idempotency(&mut tx, request, &response, now).await?;
                    }
                    let before_json = serde_json::to_value(&before).map_err(json_error)?;
                    let after_json = serde_json::to_value(&after).map_err(json_error)?;
                    let event = CloudEvent::book_changed(BookEventKind::StockAdjusted, &after)
                        .map_err(json_error)?;
                    let history = HistoryWrite {
                        book_id: id.as_uuid(),
                        version: after.version,
                        action: HistoryAction::Updated,
                        at: now,
                        before: Some(&before_json),
                        after: Some(&after_json),
                    };
                    Self::record_change(&mut tx, ctx, history, &event).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok((after, movement))
                }

                async fn create_author_once(
                    &self,
                    draft: &AuthorDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Author, StoreError> {
                    let now = time::now();
                    let id = AuthorId::generate();
                    let mut tx = self.begin_write().await?;
                    let inserted = sqlx::query(sql::AUTHOR_INSERT)
                        .bind(id.as_uuid())
                        .bind(&draft.name)
                        .bind(fold_key(&draft.name))
                        .bind(&draft.bio)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(err) if is_unique_violation(&err) => {
                            return Err(StoreError::DuplicateName {
                                entity: "author",
                                name: draft.name.clone(),
                            })
                        }
                        Err(err) => return Err(backend(err)),
                    }
                    let author = Author {
                        id,
                        name: draft.name.clone(),
                        bio: draft.bio.clone(),
                        book_count: 0,
                        created_at: now,
                        updated_at: now,
                    };
                    if let Some(request) = idempotency {
                        let response = serde_json::to_value(&author).map_err(json_error)?;
                        Self::store_idempotency(&mut tx, request, &response, now).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(author)
                }

                async fn update_author_once(
                    &self,
                    id: AuthorId,
                    draft: &AuthorDraft,
                    ctx: &WriteContext,
                ) -> Result<Author, StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    let old_name: Option<String> = sqlx::query_scalar(sql::AUTHOR_NAME_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(old_name) = old_name else {
                        return Err(StoreError::NotFound { entity: "author" });
                    };
                    let renamed = old_name != draft.name;
                    // The books first, then the author: the order in which a book write
                    // takes them (its book, then the authors it links).
                    let locked = if renamed {
                        Self::lock_linked_books(&mut tx, sql::AUTHOR_BOOK_IDS, id.as_uuid(), &[])
                            .await?
                    } else {
                        Vec::new()
                    };
                    let updated = sqlx::query(sql::AUTHOR_UPDATE)
                        .bind(id.as_uuid())
                        .bind(&draft.name)
                        .bind(fold_key(&draft.name))
                        .bind(&draft.bio)
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await;
                    match updated {
                        Ok(done) if done.rows_affected() == 0 => {
                            return Err(StoreError::NotFound { entity: "author" })
                        }
                        Ok(_) => {}
                        Err(err) if is_unique_violation(&err) => {
                            return Err(StoreError::DuplicateName {
                                entity: "author",
                                name: draft.name.clone(),
                            })
                        }
                        Err(err) => return Err(backend(err)),
                    }
                    if renamed {
                        // Books linked while the update waited for their writers, too.
                        let books = Self::lock_linked_books(
                            &mut tx,
                            sql::AUTHOR_BOOK_IDS,
                            id.as_uuid(),
                            &locked,
                        )
                        .await?;
                        Self::touch_books(&mut tx, ctx, &books, now, |book| {
                            for c in book.authors.iter_mut().filter(|c| c.author_id == id) {
                                c.name = old_name.clone();
                            }
                        })
                        .await?;
                    }
                    let author = Self::author_in_tx(&mut tx, id.as_uuid()).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(author)
                }

                async fn delete_author_once(&self, id: AuthorId) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    let books =
                        Self::count_in_tx(&mut tx, sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
                    if books > 0 {
                        return Err(StoreError::InUse {
                            entity: "author",
                            count: books,
                        });
                    }
                    let deleted = sqlx::query(sql::AUTHOR_DELETE)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await;
                    match deleted {
                        Ok(done) if done.rows_affected() == 0 => {
                            Err(StoreError::NotFound { entity: "author" })
                        }
                        Ok(_) => tx.commit().await.map_err(backend),
                        Err(err) if is_foreign_key_violation(&err) => {
                            // A concurrent write started using the author.
                            tx.rollback().await.map_err(backend)?;
                            let count = self.count(sql::AUTHOR_BOOK_COUNT, id.as_uuid()).await?;
                            Err(StoreError::InUse {
                                entity: "author",
                                count: count.max(1),
                            })
                        }
                        Err(err) => Err(backend(err)),
                    }
                }

                async fn create_genre_once(
                    &self,
                    draft: &GenreDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Genre, StoreError> {
                    let now = time::now();
                    let id = GenreId::generate();
                    let mut tx = self.begin_write().await?;
                    Self::check_parent(&mut tx, None, draft.parent_id).await?;
                    let inserted = sqlx::query(sql::GENRE_INSERT)
                        .bind(id.as_uuid())
                        .bind(&draft.name)
                        .bind(fold_key(&draft.name))
                        .bind(draft.parent_id.map(|p| p.as_uuid()))
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(err) if is_unique_violation(&err) => {
                            return Err(StoreError::DuplicateName {
                                entity: "genre",
                                name: draft.name.clone(),
                            })
                        }
                        Err(err) => return Err(Self::parent_gone(err, draft.parent_id)),
                    }
                    let genre = Genre {
                        id,
                        name: draft.name.clone(),
                        parent_id: draft.parent_id,
                        book_count: 0,
                        created_at: now,
                        updated_at: now,
                    };
                    if let Some(request) = idempotency {
                        let response = serde_json::to_value(&genre).map_err(json_error)?;
                        Self::store_idempotency(&mut tx, request, &response, now).await?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(genre)
                }

                async fn update_genre_once(
                    &self,
                    id: GenreId,
                    draft: &GenreDraft,
                    ctx: &WriteContext,
                ) -> Result<Genre, StoreError> {
                    let now = time::now();
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = <Self as Dialect>::GENRE_TREE_LOCK {
                        sqlx::query(lock).execute(&mut *tx).await.map_err(backend)?;
                    }
                    let old_name: Option<String> = sqlx::query_scalar(sql::GENRE_NAME_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let Some(old_name) = old_name else {
                        return Err(StoreError::NotFound { entity: "genre" });
                    };
                    Self::check_parent(&mut tx, Some(id.as_uuid()), draft.parent_id).await?;
                    let renamed = old_name != draft.name;
                    let locked = if renamed {
                        Self::lock_linked_books(&mut tx, sql::GENRE_BOOK_IDS, id.as_uuid(), &[])
                            .await?
                    } else {
                        Vec::new()
                    };
                    let updated = sqlx::query(sql::GENRE_UPDATE)
                        .bind(id.as_uuid())
                        .bind(&draft.name)
                        .bind(fold_key(&draft.name))
                        .bind(draft.parent_id.map(|p| p.as_uuid()))
                        .bind(DbTime(now))
                        .execute(&mut *tx)
                        .await;
                    match updated {
                        Ok(_) => {}
                        Err(err) if is_unique_violation(&err) => {
                            return Err(StoreError::DuplicateName {
                                entity: "genre",
                                name: draft.name.clone(),
                            })
                        }
                        Err(err) => return Err(Self::parent_gone(err, draft.parent_id)),
                    }
                    if renamed {
                        let books = Self::lock_linked_books(
                            &mut tx,
                            sql::GENRE_BOOK_IDS,
                            id.as_uuid(),
                            &locked,
                        )
                        .await?;
                        Self::touch_books(&mut tx, ctx, &books, now, |book| {
                            for g in book.genres.iter_mut().filter(|g| g.id == id) {
                                g.name = old_name.clone();
                            }
                        })
                        .await?;
                    }
                    let genre = Self::genre_in_tx(&mut tx, id.as_uuid()).await?;
                    tx.commit().await.map_err(backend)?;
                    Ok(genre)
                }

                async fn delete_genre_once(&self, id: GenreId) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    let books =
                        Self::count_in_tx(&mut tx, sql::GENRE_BOOK_COUNT, id.as_uuid()).await?;
                    if books > 0 {
                        return Err(StoreError::InUse {
                            entity: "genre",
                            count: books,
                        });
                    }
                    let children =
                        Self::count_in_tx(&mut tx, sql::GENRE_CHILD_COUNT, id.as_uuid()).await?;
                    if children > 0 {
                        return Err(StoreError::HasChildren {
                            entity: "genre",
                            count: children,
                        });
                    }
                    let deleted = sqlx::query(sql::GENRE_DELETE)
                        .bind(id.as_uuid())
                        .execute(&mut *tx)
                        .await;
                    match deleted {
                        Ok(done) if done.rows_affected() == 0 => {
                            Err(StoreError::NotFound { entity: "genre" })
                        }
                        Ok(_) => tx.commit().await.map_err(backend),
                        Err(err) if is_foreign_key_violation(&err) => {
                            tx.rollback().await.map_err(backend)?;
                            Err(self.genre_still_referenced(id.as_uuid()).await)
                        }
                        Err(err) => Err(backend(err)),
                    }
                }
            }

            #[async_trait::async_trait]
            impl IdempotencyStore for $store {
                #[tracing::instrument(skip_all)]
                async fn find_idempotency_record(
                    &self,
                    scope: &str,
                    key: &str,
                ) -> Result<Option<IdempotencyRecord>, StoreError> {
                    let since = time::now() - chrono::Duration::seconds(IDEMPOTENCY_KEY_TTL_SECS);
                    let row: Option<IdempotencyRow> = sqlx::query_as(sql::IDEMPOTENCY_SELECT)
                        .bind(scope)
                        .bind(key)
                        .bind(DbTime(since))
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(|row| IdempotencyRecord {
                        fingerprint: row.fingerprint,
                        response: row.response.0,
                    }))
                }
            }

            #[async_trait::async_trait]
            impl CatalogStore for $store {
                #[tracing::instrument(skip_all)]
                async fn ready(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1")
                        .execute(self.reader())
                        .await
                        .map_err(backend)?;
                    let applied: Vec<MigrationRow> = sqlx::query_as(sql::MIGRATIONS_APPLIED)
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    let missing: Vec<i64> = <Self as Dialect>::migrator()
                        .iter()
                        .filter(|m| !m.migration_type.is_down_migration())
                        .filter(|m| {
                            !applied.iter().any(|row| {
                                row.version == m.version
                                    && row.success
                                    && row.checksum.as_slice() == &*m.checksum
                            })
                        })
                        .map(|m| m.version)
                        .collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(StoreError::backend(NotMigrated { missing }))
                    }
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_book(&self, id: BookId) -> Result<Option<Book>, StoreError> {
                    let row: Option<BookRow> =
                        sqlx::query_as(<Self as Dialect>::book_sql().by_id.as_str())
                            .bind(id.as_uuid())
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    row.map(Book::try_from).transpose()
                }

                #[tracing::instrument(skip_all, fields(isbn = %isbn))]
                async fn get_book_by_isbn(&self, isbn: &Isbn) -> Result<Option<Book>, StoreError> {
                    let row: Option<BookRow> =
                        sqlx::query_as(<Self as Dialect>::book_sql().by_isbn.as_str())
                            .bind(isbn.as_str())
                            .fetch_optional(self.reader())
                            .await
                            .map_err(backend)?;
                    row.map(Book::try_from).transpose()
                }

                #[tracing::instrument(skip_all, fields(sort = %query.sort))]
                async fn list_books(&self, query: &BookListQuery) -> Result<BookPage, StoreError> {
                    let list = cursor::book_list_name(query.sort, &query.search);
                    // Authors and genres named in filters, by id: no such one, no such book.
                    let Some(filters) = self.resolve_filters(&query.search.filters).await? else {
                        return Ok(BookPage {
                            items: Vec::new(),
                            next_cursor: None,
                            facets: query
                                .search
                                .facets
                                .iter()
                                .map(|facet| FacetCounts {
                                    facet: *facet,
                                    values: Vec::new(),
                                })
                                .collect(),
                        });
                    };
                    let query = BookListQuery {
                        search: BookSearch {
                            filters,
                            ..query.search.clone()
                        },
                        ..query.clone()
                    };
                    let query = &query;
                    let (items, next_cursor, matched) = if query.sort == BookSort::Relevance {
                        self.relevance_page(query, &list).await?
                    } else {
                        self.sorted_page(query, &list).await?
                    };
                    let facets = self
                        .facet_counts(&query.search.facets, &query.search, &matched)
                        .await?;
                    Ok(BookPage {
                        items,
                        next_cursor,
                        facets,
                    })
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn stock_movements(
                    &self,
                    id: BookId,
                    page: &PageRequest,
                ) -> Result<Page<StockMovement>, StoreError> {
                    const LIST: &str = "stock";
                    let before = match page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_id(LIST, c)?),
                        None => None,
                    };
                    let mut select = QueryBuilder::<$db>::new(sql::STOCK_MOVEMENT_SELECT);
                    select.push_bind(id.as_uuid());
                    if let Some(before) = before {
                        select.push(" AND id < ").push_bind(before);
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<StockMovementRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    let movements = rows
                        .into_iter()
                        .map(StockMovement::try_from)
                        .collect::<Result<Vec<_>, _>>()?;
                    into_page(
                        movements,
                        page.limit.get(),
                        |last| cursor::encode_id(LIST, last.id),
                        Ok,
                    )
                }

                #[tracing::instrument(skip_all)]
                async fn low_stock(&self, page: &PageRequest) -> Result<Page<Book>, StoreError> {
                    const LIST: &str = "low-stock";
                    let after = match page.cursor.as_deref() {
                        Some(c) => {
                            let (key, id) = cursor::decode_keyed(LIST, c)?;
                            let quantity: i64 =
                                key.parse().map_err(|_| StoreError::InvalidCursor)?;
                            Some((quantity, id))
                        }
                        None => None,
                    };
                    let mut select =
                        QueryBuilder::<$db>::new(<Self as Dialect>::book_sql().select.as_str());
                    select.push(" WHERE b.quantity <= b.reorder_point");
                    if let Some((quantity, id)) = after {
                        select
                            .push(" AND (b.quantity > ")
                            .push_bind(quantity)
                            .push(" OR (b.quantity = ")
                            .push_bind(quantity)
                            .push(" AND b.id > ")
                            .push_bind(id)
                            .push("))");
                    }
                    select
                        .push(" ORDER BY b.quantity, b.id LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<BookRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    let books = rows
                        .into_iter()
                        .map(Book::try_from)
                        .collect::<Result<Vec<_>, _>>()?;
                    into_page(
                        books,
                        page.limit.get(),
                        |last| {
                            cursor::encode_keyed(
                                LIST,
                                &last.quantity.get().to_string(),
                                last.id.as_uuid(),
                            )
                        },
                        Ok,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn book_history(
                    &self,
                    id: BookId,
                    page: &PageRequest,
                ) -> Result<Page<HistoryEntry>, StoreError> {
                    const LIST: &str = "history";
                    let before = match page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_id(LIST, c)?),
                        None => None,
                    };
                    let mut select = QueryBuilder::<$db>::new(sql::HISTORY_SELECT);
                    select.push_bind(id.as_uuid());
                    if let Some(before) = before {
                        select.push(" AND id < ").push_bind(before);
                    }
                    select
                        .push(" ORDER BY id DESC LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<HistoryRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    let entries = rows
                        .into_iter()
                        .map(HistoryEntry::try_from)
                        .collect::<Result<Vec<_>, _>>()?;
                    into_page(
                        entries,
                        page.limit.get(),
                        |last| cursor::encode_id(LIST, last.id),
                        Ok,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_author(&self, id: AuthorId) -> Result<Option<Author>, StoreError> {
                    let row: Option<AuthorRow> = sqlx::query_as(sql::AUTHOR_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(Author::from))
                }

                #[tracing::instrument(skip_all)]
                async fn list_authors(
                    &self,
                    name_query: Option<&str>,
                    page: &PageRequest,
                ) -> Result<Page<Author>, StoreError> {
                    const LIST: &str = "authors";
                    let after = match page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_keyed(LIST, c)?),
                        None => None,
                    };
                    let needle = name_query.map(fold_key).filter(|q| !q.is_empty());
                    let mut select = QueryBuilder::<$db>::new(sql::AUTHOR_SELECT);
                    select.push(" WHERE 1 = 1");
                    if let Some(needle) = needle {
                        select
                            .push(" AND a.name_key LIKE ")
                            .push_bind(sql::contains_pattern(&needle))
                            .push(" ESCAPE '\\'");
                    }
                    if let Some((key, id)) = after {
                        select
                            .push(" AND (a.name_key, a.id) > (")
                            .push_bind(key)
                            .push(", ")
                            .push_bind(id)
                            .push(")");
                    }
                    select
                        .push(" ORDER BY a.name_key, a.id LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<AuthorRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_keyed(LIST, &last.name_key, last.id()),
                        |row| Ok(Author::from(row)),
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_genre(&self, id: GenreId) -> Result<Option<Genre>, StoreError> {
                    let row: Option<GenreRow> = sqlx::query_as(sql::GENRE_BY_ID)
                        .bind(id.as_uuid())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(backend)?;
                    Ok(row.map(Genre::from))
                }

                #[tracing::instrument(skip_all)]
                async fn list_genres(&self, page: &PageRequest) -> Result<Page<Genre>, StoreError> {
                    const LIST: &str = "genres";
                    let after = match page.cursor.as_deref() {
                        Some(c) => Some(cursor::decode_keyed(LIST, c)?),
                        None => None,
                    };
                    let mut select = QueryBuilder::<$db>::new(sql::GENRE_SELECT);
                    if let Some((key, id)) = after {
                        select
                            .push(" WHERE (g.name_key, g.id) > (")
                            .push_bind(key)
                            .push(", ")
                            .push_bind(id)
                            .push(")");
                    }
                    select
                        .push(" ORDER BY g.name_key, g.id LIMIT ")
                        .push_bind(limit_plus_one(page));
                    let rows: Vec<GenreRow> = select
                        .build_query_as()
                        .fetch_all(self.reader())
                        .await
                        .map_err(backend)?;
                    into_page(
                        rows,
                        page.limit.get(),
                        |last| cursor::encode_keyed(LIST, &last.name_key, last.id()),
                        |row| Ok(Genre::from(row)),
                    )
                }

                #[tracing::instrument(skip_all, fields(isbn = %draft.isbn))]
                async fn create_book(
                    &self,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Book, StoreError> {
                    retrying(|| self.create_book_once(draft, ctx, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn replace_book(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                ) -> Result<Book, StoreError> {
                    retrying(|| self.replace_book_once(id, expected, draft, ctx)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_book(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    ctx: &WriteContext,
                ) -> Result<(), StoreError> {
                    retrying(|| self.delete_book_once(id, expected, ctx)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id, kind = draft.kind().as_str()))]
                async fn record_stock_movement(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &StockMovementDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<(Book, StockMovement), StoreError> {
                    retrying(|| {
                        self.record_stock_movement_once(id, expected, draft, ctx, idempotency)
                    })
                    .await
                }

                #[tracing::instrument(skip_all)]
                async fn create_author(
                    &self,
                    draft: &AuthorDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Author, StoreError> {
                    retrying(|| self.create_author_once(draft, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_author(
                    &self,
                    id: AuthorId,
                    draft: &AuthorDraft,
                    ctx: &WriteContext,
                ) -> Result<Author, StoreError> {
                    retrying(|| self.update_author_once(id, draft, ctx)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_author(&self, id: AuthorId) -> Result<(), StoreError> {
                    retrying(|| self.delete_author_once(id)).await
                }

                #[tracing::instrument(skip_all)]
                async fn create_genre(
                    &self,
                    draft: &GenreDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Genre, StoreError> {
                    retrying(|| self.create_genre_once(draft, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_genre(
                    &self,
                    id: GenreId,
                    draft: &GenreDraft,
                    ctx: &WriteContext,
                ) -> Result<Genre, StoreError> {
                    retrying(|| self.update_genre_once(id, draft, ctx)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_genre(&self, id: GenreId) -> Result<(), StoreError> {
                    retrying(|| self.delete_genre_once(id)).await
                }
            }
        };
    };
}

pub(crate) use impl_catalog_store;
