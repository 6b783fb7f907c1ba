//! The one implementation of [`CatalogStore`](bookstore_core::CatalogStore), one file per
//! concern. The SQL is shared (`sql.rs`); what differs between the databases is behind
//! [`Dialect`]. The writes are functions generic over it; what runs a statement built with a
//! `QueryBuilder` (which a generic function cannot run, see `history.rs`) and the port itself
//! are macros, expanded for each database by [`impl_catalog_store!`].

pub(crate) mod authors;
pub(crate) mod books;
pub(crate) mod export;
pub(crate) mod facets;
pub(crate) mod genres;
pub(crate) mod history;
pub(crate) mod idempotency;
pub(crate) mod import;
pub(crate) mod list;
pub(crate) mod locations;
pub(crate) mod named;
mod named_rows;
pub(crate) mod relevance;
pub(crate) mod renames;
pub(crate) mod stock;
pub(crate) mod stocktakes;

use crate::sql::BookSql;
use bookstore_core::{BookFilters, Page, PageRequest, StoreError, TextQuery};
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

    /// Called after a write that may have committed outbox rows: wakes the relays (this
    /// process's at once, the other replicas' through the database, where there are any).
    fn outbox_committed(&self);

    fn book_sql() -> &'static BookSql;

    fn migrator() -> &'static Migrator;

    /// The pool of write transactions.
    fn writer(&self) -> &Pool<Self::Db>;

    /// Where reads outside transactions run: a pool that is an sqlx `Executor`.
    type Reader: Sync;

    /// The pool of reads outside transactions: on PostgreSQL, routed to a read replica
    /// inside a read request's scope (`read_router.rs`).
    fn reader(&self) -> &Self::Reader;

    /// Reads outside transactions that must see every committed write, wherever it was
    /// made: sign-in state (revocations, lockouts) and idempotency records.
    fn primary_reader(&self) -> &Self::Reader;

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

    /// What follows a text column in `ORDER BY` so that it sorts bytewise (as `sort_title`
    /// does): empty where that is the default.
    const COLLATE_BYTES: &'static str;

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

/// Opens a write transaction of `store` (see [`Dialect::BEGIN_WRITE`]).
pub(crate) async fn begin_write<D: Dialect>(
    store: &D,
) -> Result<sqlx::Transaction<'static, D::Db>, StoreError> {
    crate::meter::acquired(
        crate::meter::WRITES,
        store.writer().begin_with(D::BEGIN_WRITE),
    )
    .await
    .map_err(crate::error::backend)
}

/// How many rows a statement changed: each database's result says it, but no sqlx trait
/// does, so generic code asks through this one.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
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

/// The rows a page of at most `page.limit` items fetches: one more tells whether there are
/// more.
pub(crate) fn limit_plus_one(page: &PageRequest) -> i64 {
    i64::from(page.limit.get()) + 1
}

/// Implements [`CatalogStore`](bookstore_core::CatalogStore) for `$store`, a [`Dialect`]
/// whose database is `$db`: the imports and helpers every concern shares, then each concern's
/// macro, then the port, whose methods hand over to them.
macro_rules! impl_catalog_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use bookstore_core::event::{BookEventKind, CloudEvent};
            use bookstore_core::text::fold_key;
            use bookstore_core::{
                Author, AuthorDraft, AuthorId, Book, BookDraft, BookFilters, BookId, BookListQuery,
                BookPage, BookSearch, BookSort, CatalogStore, Facet, FacetCounts, Genre,
                GenreDraft, GenreId, HistoryAction, HistoryEntry, IdempotencyRecord,
                IdempotencyRequest, IdempotencyStore, Isbn, NameOrId, Page, PageRequest,
                Precondition, ScoredBook, StockMovement, StockMovementDraft, StoreError,
                WriteContext,
            };
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use sqlx::QueryBuilder;
            use std::collections::HashMap;
            use uuid::Uuid;
            use $crate::catalog::{authors, books, genres, import, named, renames, stock};
            use $crate::catalog::{into_page, Dialect};
            use $crate::cursor;
            use $crate::error::{backend, json_error, NotMigrated};
            use $crate::retry::retrying;
            use $crate::rows::{
                AuthorRow, BookRow, GenreRow, HistoryRow, ListedBook, MigrationRow, ScoredBookRow,
                StockMovementRow,
            };
            use $crate::search::{self, Candidates};
            use $crate::sql;
            use $crate::time::DbTime;

            type Conn = <$db as sqlx::Database>::Connection;
            use $crate::catalog::books::position;
            use $crate::catalog::facets::{facet_counts_of, facet_statement, Matched};
            use $crate::catalog::limit_plus_one;
            use $crate::catalog::list::sorted_statement;
            use $crate::catalog::renames::TOUCH_CHUNK;

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

                /// Passes on a write's result, waking the relays if it committed events.
                fn announcing_events<T>(
                    &self,
                    result: Result<T, StoreError>,
                ) -> Result<T, StoreError> {
                    if result.is_ok() {
                        <Self as Dialect>::outbox_committed(self);
                    }
                    result
                }
            }

            $crate::catalog::books::impl_books!($store, $db);
            $crate::catalog::stock::impl_stock!($store, $db);
            $crate::catalog::authors::impl_authors!($store, $db);
            $crate::catalog::genres::impl_genres!($store, $db);
            $crate::catalog::renames::impl_renames!($store, $db);
            $crate::catalog::list::impl_list!($store, $db);
            $crate::catalog::export::impl_export!($store, $db);
            $crate::catalog::relevance::impl_relevance!($store, $db);
            $crate::catalog::facets::impl_facets!($store, $db);
            $crate::catalog::history::impl_history!($store, $db);
            $crate::catalog::idempotency::impl_idempotency!($store, $db);

            #[async_trait::async_trait]
            impl CatalogStore for $store {
                #[tracing::instrument(skip_all)]
                async fn ready(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1")
                        .execute(self.primary_reader())
                        .await
                        .map_err(backend)?;
                    let applied: Vec<MigrationRow> = sqlx::query_as(sql::MIGRATIONS_APPLIED)
                        .fetch_all(self.primary_reader())
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
                    $crate::catalog::books::find_book(self, id).await
                }
                #[tracing::instrument(skip_all)]
                async fn get_book_by_isbn(&self, isbn: &Isbn) -> Result<Option<Book>, StoreError> {
                    $crate::catalog::books::find_book_by_isbn(self, isbn).await
                }
                #[tracing::instrument(skip_all, fields(sort = %query.sort))]
                async fn list_books(&self, query: &BookListQuery) -> Result<BookPage, StoreError> {
                    self.book_page(query).await
                }
                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn stock_movements(
                    &self,
                    id: BookId,
                    page: &PageRequest,
                ) -> Result<Page<StockMovement>, StoreError> {
                    self.stock_page(id, page).await
                }
                #[tracing::instrument(skip_all)]
                async fn low_stock(&self, page: &PageRequest) -> Result<Page<Book>, StoreError> {
                    self.low_stock_page(page).await
                }
                fn reorder_candidates(
                    &self,
                    location: Option<bookstore_core::LocationId>,
                ) -> bookstore_core::ReorderStream<'_> {
                    self.reorder_stream(location)
                }
                fn export_books<'a>(
                    &'a self,
                    search: &'a BookSearch,
                ) -> bookstore_core::BookStream<'a> {
                    self.export_stream(search)
                }
                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn book_history(
                    &self,
                    id: BookId,
                    page: &PageRequest,
                ) -> Result<Page<HistoryEntry>, StoreError> {
                    self.history_page(id, page).await
                }
                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_author(&self, id: AuthorId) -> Result<Option<Author>, StoreError> {
                    self.find_author(id).await
                }
                #[tracing::instrument(skip_all)]
                async fn list_authors(
                    &self,
                    name_query: Option<&str>,
                    page: &PageRequest,
                ) -> Result<Page<Author>, StoreError> {
                    self.author_page(name_query, page).await
                }
                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn get_genre(&self, id: GenreId) -> Result<Option<Genre>, StoreError> {
                    self.find_genre(id).await
                }
                #[tracing::instrument(skip_all)]
                async fn list_genres(&self, page: &PageRequest) -> Result<Page<Genre>, StoreError> {
                    self.genre_page(page).await
                }

                #[tracing::instrument(skip_all)]
                async fn create_book(
                    &self,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Book, StoreError> {
                    let created =
                        retrying(|| books::create_book_once(self, draft, ctx, idempotency)).await;
                    self.announcing_events(created)
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn replace_book(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    draft: &BookDraft,
                    ctx: &WriteContext,
                ) -> Result<Book, StoreError> {
                    self.announcing_events(
                        retrying(|| books::replace_book_once(self, id, expected, draft, ctx)).await,
                    )
                }

                #[tracing::instrument(skip_all, fields(rows = drafts.len(), dry_run))]
                async fn import_books(
                    &self,
                    drafts: &[BookDraft],
                    mode: bookstore_core::import::ImportMode,
                    dry_run: bool,
                    ctx: &WriteContext,
                ) -> Result<Vec<bookstore_core::import::ImportOutcome>, StoreError> {
                    let written = import::import_books(self, drafts, mode, dry_run, ctx).await;
                    if dry_run {
                        written
                    } else {
                        self.announcing_events(written)
                    }
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_book(
                    &self,
                    id: BookId,
                    expected: &Precondition,
                    ctx: &WriteContext,
                ) -> Result<(), StoreError> {
                    self.announcing_events(
                        retrying(|| books::delete_book_once(self, id, expected, ctx)).await,
                    )
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
                    self.announcing_events(
                        retrying(|| {
                            stock::record_stock_movement_once(
                                self,
                                id,
                                expected,
                                draft,
                                ctx,
                                idempotency,
                            )
                        })
                        .await,
                    )
                }

                #[tracing::instrument(skip_all)]
                async fn create_author(
                    &self,
                    draft: &AuthorDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Author, StoreError> {
                    retrying(|| authors::create_author_once(self, draft, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_author(
                    &self,
                    id: AuthorId,
                    draft: &AuthorDraft,
                    ctx: &WriteContext,
                ) -> Result<Author, StoreError> {
                    self.announcing_events(
                        retrying(|| renames::update_author_once(self, id, draft, ctx)).await,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_author(&self, id: AuthorId) -> Result<(), StoreError> {
                    retrying(|| named::delete_named_once(self, &sql::AUTHORS, id.as_uuid())).await
                }

                #[tracing::instrument(skip_all)]
                async fn create_genre(
                    &self,
                    draft: &GenreDraft,
                    idempotency: Option<&IdempotencyRequest>,
                ) -> Result<Genre, StoreError> {
                    retrying(|| genres::create_genre_once(self, draft, idempotency)).await
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn update_genre(
                    &self,
                    id: GenreId,
                    draft: &GenreDraft,
                    ctx: &WriteContext,
                ) -> Result<Genre, StoreError> {
                    self.announcing_events(
                        retrying(|| renames::update_genre_once(self, id, draft, ctx)).await,
                    )
                }

                #[tracing::instrument(skip_all, fields(id = %id))]
                async fn delete_genre(&self, id: GenreId) -> Result<(), StoreError> {
                    retrying(|| named::delete_named_once(self, &sql::GENRES, id.as_uuid())).await
                }
            }
        };
    };
}

pub(crate) use impl_catalog_store;
