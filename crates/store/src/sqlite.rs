//! The SQLite store: the embedded default. One file in the data directory, WAL journal, a
//! writer pool of exactly one connection (so write transactions queue in the application,
//! never on SQLite's lock) and a separate pool of readers.

use crate::catalog::{impl_catalog_store, Dialect};
use crate::error::{backend, OpenError};
use crate::event_log::{SqliteLeases, WakeupSenders};
use crate::imports::impl_import_store;
use crate::search::{push_filters, CANDIDATES};
use crate::sql::BookSql;
use crate::sqlite_fts::{CorpusCache, FtsQuery, PinnedCorpus};
use crate::users::{impl_user_store, UserDialect};
use crate::webhooks::{impl_webhook_store, WebhookDialect};
use bookstore_core::search::{is_stop_word, trigram_similarity};
use bookstore_core::{BookFilters, StoreError, Term, TextQuery};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use uuid::Uuid;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// UUIDs are BLOBs, which JSON cannot hold: they travel as 32 hex digits, which `Uuid`
/// deserialises.
const AUTHORS_JSON: &str = "(SELECT json_group_array(json_object('author_id', lower(hex(a.id)), \
    'name', a.name, 'role', ba.role) ORDER BY ba.position) \
    FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id)";
const GENRES_JSON: &str = "(SELECT json_group_array(json_object('id', lower(hex(g.id)), \
    'name', g.name) ORDER BY bg.position) \
    FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id)";

static BOOK_SQL: LazyLock<BookSql> = LazyLock::new(|| BookSql::new(AUTHORS_JSON, GENRES_JSON));

/// Query words the typo fallback tries to correct, at most.
const MAX_CORRECTIONS: usize = 3;

/// Similarity from which a word of the index is taken for a misspelt query word.
const SPELLING_THRESHOLD: f64 = 0.3;

pub(crate) struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    corpus: CorpusCache,
    pub(crate) leases: Arc<SqliteLeases>,
    /// Signalled by this process's commits: nothing else writes the file.
    pub(crate) wakeups: Arc<WakeupSenders>,
}

impl SqliteStore {
    async fn close_reader(&self) {
        self.reader.close().await;
    }

    /// Opens (creating if needed) the database `options` name. An in-memory database lives in
    /// its one connection, which then serves reads and writes alike.
    pub(crate) async fn open(
        options: SqliteConnectOptions,
        max_readers: u32,
        in_memory: bool,
    ) -> Result<Self, OpenError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(SqliteSynchronous::Normal)
            // Reads through a memory map instead of a system call per page: a search touches
            // hundreds of pages scattered over a big file. Address space, not memory. This is
            // the most SQLite's build allows (SQLITE_MAX_MMAP_SIZE, just under 2 GiB: a million
            // books take 1.9 GB); pages past it are read with system calls.
            .pragma("mmap_size", "2147418112");
        if in_memory {
            let pool = SqlitePoolOptions::new()
                .after_connect(add_functions)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            return Ok(Self {
                writer: pool.clone(),
                reader: pool,
                corpus: CorpusCache::default(),
                leases: Arc::default(),
                wakeups: Arc::default(),
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let reader = SqlitePoolOptions::new()
            .after_connect(add_functions)
            .max_connections(max_readers.max(1))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            writer,
            reader,
            corpus: CorpusCache::default(),
            leases: Arc::default(),
            wakeups: Arc::default(),
        })
    }
}

/// The ranking functions of `bookstore-fts5-rank`, on every reading connection.
fn add_functions(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> futures_core::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        bookstore_fts5_rank::register(conn)
            .await
            .map_err(|e| sqlx::Error::Configuration(e.into()))
    })
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// No row locks in SQLite: the single writer connection and `BEGIN IMMEDIATE` serialise
    /// every write transaction.
    const LOCK_BOOK: Option<&'static str> = None;
    const GENRE_TREE_LOCK: Option<&'static str> = None;
    const LOCK_BOOKS: Option<&'static str> = None;
    const PRUNE_IDEMPOTENCY: &'static str = "DELETE FROM idempotency_keys WHERE (scope, key) IN \
        (SELECT scope, key FROM idempotency_keys WHERE created_at < $1 LIMIT 100)";

    fn outbox_committed(&self) {
        self.wakeups.outbox_committed();
    }

    /// UUIDs are 16-byte BLOBs.
    fn uuid_literal(id: Uuid) -> String {
        format!("X'{}'", id.simple())
    }

    /// The ids as one JSON array of hex texts. SQLite does not know how many ids the
    /// subquery yields: in a join it may plan around them (see `listed_scores`).
    fn push_id_in(qb: &mut QueryBuilder<'static, Sqlite>, column: &str, ids: &[Uuid]) {
        let hex: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
        let json = serde_json::Value::from(hex).to_string();
        qb.push(column)
            .push(" IN (SELECT unhex(value) FROM json_each(")
            .push_bind(json)
            .push("))");
    }

    const PACK_FACET_ROWS: (&'static str, &'static str) = (
        "SELECT coalesce(json_group_array(json_array(facet, value, n)), '[]') FROM (",
        ")",
    );

    /// Sorted pages order ids first: SQLite would compute every sorted row's books.
    const IDS_BEFORE_BOOKS: bool = true;

    /// A title-only FTS5 query (`{title} : …`) reads the same posting lists as the whole
    /// query, but it stops at the hundredth title match: for a broad query that is far less
    /// than scoring the first 400 matches of every field.
    const TITLES_FIRST: bool = true;

    const COLLATE_BYTES: &'static str = "";

    fn book_sql() -> &'static BookSql {
        &BOOK_SQL
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    type Reader = SqlitePool;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// One file, one copy: every read sees every committed write.
    fn primary_reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn push_text_match(qb: &mut QueryBuilder<'static, Sqlite>, text: &TextQuery) {
        match FtsQuery::of(text, false) {
            None => {
                qb.push("1 = 0");
            }
            Some(query) => {
                qb.push(
                    "b.id IN (SELECT d.book_id FROM books_fts JOIN book_docs d \
                     ON d.doc_id = books_fts.rowid WHERE books_fts MATCH ",
                )
                .push_bind(query.expr)
                .push(")");
            }
        }
    }

    /// bm25 needs the book's FTS5 row: [`Dialect::listed_scores`].
    fn push_text_score(qb: &mut QueryBuilder<'static, Sqlite>, _: &TextQuery) {
        qb.push("NULL");
    }

    async fn listed_scores(
        &self,
        text: &TextQuery,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, f64>, StoreError> {
        let Some(query) = FtsQuery::of(text, false) else {
            return Ok(HashMap::new());
        };
        let mut pinned = PinnedCorpus::default();
        pinned.pin(&self.reader, &self.corpus, &query).await?;
        // From the page's books to their FTS5 rows, each looked up by rowid in the match.
        let mut select = QueryBuilder::<Sqlite>::new("SELECT d.book_id, ");
        pinned.push_score(&mut select, &query);
        select.push(
            " FROM book_docs d JOIN books_fts ON books_fts.rowid = d.doc_id \
             WHERE books_fts MATCH ",
        );
        // The ids as a list of parameters, not `push_id_in`: SQLite does not know how many
        // ids a subquery yields, and planned this join as a scan of every match.
        select.push_bind(query.expr).push(" AND d.book_id IN (");
        let mut list = select.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        let rows: Vec<(Uuid, f64)> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().collect())
    }

    /// bm25's corpus statistics (see [`PinnedCorpus`]).
    type Pinned = PinnedCorpus;

    async fn ranked_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        title_only: bool,
        limit: i64,
        pinned: &mut PinnedCorpus,
    ) -> Result<Vec<(Uuid, f64)>, StoreError> {
        let Some(query) = FtsQuery::of(text, title_only) else {
            return Ok(Vec::new());
        };
        pinned.pin(&self.reader, &self.corpus, &query).await?;
        // The candidates come back as one text of `hex id:score` pairs, not one row each:
        // sqlx hands every row from its SQLite thread to the caller's task with a wake-up,
        // and hundreds of those cost more than the search itself.
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT group_concat(lower(hex(id)) || ':' || printf('%!.17g', score), ',') \
             FROM (SELECT d.book_id AS id, ",
        );
        pinned.push_score(&mut select, &query);
        select.push(" AS score FROM books_fts JOIN book_docs d ON d.doc_id = books_fts.rowid");
        // The book's row only for filters: reading it is a seek per match.
        if !filters.is_empty() {
            select.push(" JOIN books b ON b.id = d.book_id");
        }
        select.push(" WHERE books_fts MATCH ").push_bind(query.expr);
        push_filters(&mut select, filters, Self::uuid_literal);
        select.push(" LIMIT ").push_bind(limit).push(")");
        let packed: Option<String> = select
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        packed.as_deref().map_or(Ok(Vec::new()), unpack_candidates)
    }

    /// FTS5 reads a prefix from its sorted index of terms, about as cheaply as the word:
    /// asking first would cost as much as searching.
    async fn prefix_adds_words(&self, _: &TextQuery) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Spellfix-style: each query word that is not in the index is replaced by its nearest
    /// spelling among the words of titles and author names that start with the same two letters
    /// (trigram similarity, then frequency); the corrected query is then searched.
    async fn fuzzy_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        pinned: &mut PinnedCorpus,
    ) -> Result<Vec<(Uuid, f64)>, StoreError> {
        let mut corrected = text.clone();
        let mut changed = false;
        // Each look-up reads the index's vocabulary: a few words, not a whole pasted page.
        let mut attempts = 0;
        for group in &mut corrected.groups {
            for term in group.iter_mut() {
                let words: Vec<String> = match term {
                    Term::Word { text, .. } => vec![text.clone()],
                    Term::Phrase(words) => words.clone(),
                };
                let mut fixed = Vec::with_capacity(words.len());
                for word in words {
                    let fixable = word.chars().count() >= 4 && !is_stop_word(&word);
                    if !fixable || attempts >= MAX_CORRECTIONS {
                        fixed.push(word);
                        continue;
                    }
                    attempts += 1;
                    match self.spelling_of(&word).await? {
                        Some(better) => {
                            changed = true;
                            fixed.push(better);
                        }
                        None => fixed.push(word),
                    }
                }
                *term = match fixed.len() {
                    1 => Term::Word {
                        text: fixed.remove(0),
                        prefix: false,
                    },
                    _ => Term::Phrase(fixed),
                };
            }
        }
        if !changed {
            return Ok(Vec::new());
        }
        self.ranked_candidates(&corrected, filters, false, CANDIDATES, pinned)
            .await
    }
}

/// The `hex id:score` pairs of a candidates statement.
fn unpack_candidates(packed: &str) -> Result<Vec<(Uuid, f64)>, StoreError> {
    packed
        .split(',')
        .map(|pair| {
            let (id, score) = pair.split_once(':')?;
            Some((Uuid::try_parse(id).ok()?, score.parse::<f64>().ok()?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            StoreError::Backend(format!("unreadable search candidates: {packed:.80}").into())
        })
}

impl SqliteStore {
    /// A better spelling of `word` from the index, if `word` is not in it.
    async fn spelling_of(&self, word: &str) -> Result<Option<String>, StoreError> {
        let length = word.chars().count();
        if length < 3 || is_stop_word(word) {
            return Ok(None);
        }
        let known: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM books_fts_vocab WHERE term = $1 LIMIT 1")
                .bind(word)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        if known.is_some() {
            return Ok(None);
        }
        // Near spellings are looked for among the words that begin with the same two letters:
        // listing words reads their posting lists (fts5vocab keeps no counts), and all the
        // words of one first letter take 100-200 ms at a million books, two letters a
        // twentieth of that. A typo in the first two letters is not corrected.
        let mut chars = word.chars();
        let (Some(first), Some(second)) = (chars.next(), chars.next()) else {
            return Ok(None);
        };
        let from = format!("{first}{second}");
        let to = format!(
            "{first}{}",
            char::from_u32(u32::from(second) + 1).unwrap_or(char::MAX)
        );
        let candidates: Vec<(String, i64)> = sqlx::query_as(
            "SELECT term, sum(doc) FROM books_fts_vocab WHERE term >= $1 AND term < $2 \
             AND col IN ('title', 'authors') AND length(term) BETWEEN $3 AND $4 GROUP BY term",
        )
        .bind(from)
        .bind(to)
        .bind(i64::try_from(length).unwrap_or(i64::MAX) - 2)
        .bind(i64::try_from(length).unwrap_or(i64::MAX) + 2)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        let best = candidates
            .into_iter()
            .map(|(term, docs)| (trigram_similarity(word, &term), docs, term))
            .filter(|(similarity, _, _)| *similarity >= SPELLING_THRESHOLD)
            .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)));
        Ok(best.map(|(_, _, term)| term))
    }
}

impl_catalog_store!(SqliteStore, sqlx::Sqlite);
crate::catalog::locations::impl_inventory_store!(SqliteStore, sqlx::Sqlite);

impl UserDialect for SqliteStore {
    /// No row locks: the single writer connection serialises every write transaction.
    const LOCK_USER: &'static str = "SELECT id FROM users WHERE id = $1";
    const LOCK_SIGNING_KEYS: Option<&'static str> = None;
    /// A batch at a time, like PostgreSQL's.
    const PRUNE_LOGIN_FAILURES: &'static str = "DELETE FROM login_failures WHERE rowid IN \
        (SELECT rowid FROM login_failures WHERE at < $1 LIMIT 1000)";
}

impl_user_store!(SqliteStore);

/// One writer: `BEGIN IMMEDIATE` holds off the others.
impl crate::sealed::SealedDialect for SqliteStore {
    const WEBHOOK_SECRETS: &'static str =
        "SELECT id, sealed_secret, previous_sealed_secret FROM webhooks";
}

impl WebhookDialect for SqliteStore {
    /// The single writer connection serialises every write transaction.
    const LOCK_FANOUT: &'static str = "SELECT position FROM webhook_fanout WHERE id = 1";
    const CLAIM_LOCK: &'static str = "";
}

impl_webhook_store!(SqliteStore, sqlx::Sqlite);

impl_import_store!(SqliteStore, sqlx::Sqlite);
crate::audit::impl_audit_log!(SqliteStore, sqlx::Sqlite);
