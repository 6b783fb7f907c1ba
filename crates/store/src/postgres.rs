//! The PostgreSQL store: for several replicas. Write transactions run on the primary and lock
//! the book row they change (`FOR UPDATE`); reads go to the primary or, inside a read
//! request, to a read replica (`read_router.rs`).

use crate::catalog::{impl_catalog_store, Dialect};
use crate::error::{backend, OpenError};
use crate::event_log::{listen_postgres, CommitNotifier, WakeupSenders, Wakeups};
use crate::imports::impl_import_store;
use crate::pg_read_pool::ReadPool;
use crate::read_router::ReadRouter;
use crate::search::{push_filters, FUZZY_CANDIDATES};
use crate::sql::BookSql;
use crate::users::{impl_user_store, UserDialect};
use crate::webhooks::{impl_webhook_store, WebhookDialect};
use bookstore_core::search::is_stop_word;
use bookstore_core::{BookFilters, StoreError, Term, TextQuery};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const AUTHORS_JSON: &str = "(SELECT coalesce(json_agg(json_build_object('author_id', a.id, \
    'name', a.name, 'role', ba.role) ORDER BY ba.position), '[]'::json) \
    FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id)";
const GENRES_JSON: &str = "(SELECT coalesce(json_agg(json_build_object('id', g.id, \
    'name', g.name) ORDER BY bg.position), '[]'::json) \
    FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id)";

static BOOK_SQL: LazyLock<BookSql> = LazyLock::new(|| BookSql::new(AUTHORS_JSON, GENRES_JSON));

/// `ts_rank_cd` weights of D, C, B, A: description 0.1, genres 0.2, authors 0.4, title 1.0.
const RANK: &str = "ts_rank_cd('{0.1, 0.2, 0.4, 1.0}'::float4[], b.search_doc, tsq.q)::float8";

/// Word similarity at or above which the typo fallback takes a title or author name
/// ("tolkein" is 0.5 from "Tolkien"; pg_trgm's default, 0.6, misses it).
const FUZZY_THRESHOLD: &str = "SET LOCAL pg_trgm.word_similarity_threshold = 0.4";

/// The words of the typo fallback: the first two positive words long enough to have a
/// useful set of trigrams (each costs a trigram index scan of titles and of author names).
fn fuzzy_words(text: &TextQuery) -> Vec<String> {
    text.positive_words()
        .into_iter()
        .filter(|w| w.chars().count() >= 4 && !is_stop_word(w))
        .take(2)
        .map(str::to_owned)
        .collect()
}

fn push_term(qb: &mut QueryBuilder<'static, Postgres>, term: &Term) {
    match term {
        Term::Word {
            text,
            prefix: false,
        } => {
            qb.push("plainto_tsquery('english'::regconfig, bookstore_unaccent(")
                .push_bind(text.clone())
                .push("))");
        }
        Term::Word { text, prefix: true } => {
            qb.push("bookstore_prefix_query(")
                .push_bind(text.clone())
                .push(")");
        }
        Term::Phrase(words) => {
            qb.push("phraseto_tsquery('english'::regconfig, bookstore_unaccent(")
                .push_bind(words.join(" "))
                .push("))");
        }
    }
}

/// The `tsquery` of a text query, built from its sanitised words with the tsquery functions
/// and operators (never parsed from user text): groups `&&`, alternatives `||`, exclusions
/// `&& !!`. A stop word gives an empty query, which the operators ignore.
pub(crate) fn push_tsquery(qb: &mut QueryBuilder<'static, Postgres>, text: &TextQuery) {
    qb.push("(");
    for (g, group) in text.groups.iter().enumerate() {
        if g > 0 {
            qb.push(" && ");
        }
        qb.push("(");
        for (t, term) in group.iter().enumerate() {
            if t > 0 {
                qb.push(" || ");
            }
            push_term(qb, term);
        }
        qb.push(")");
    }
    for term in &text.excluded {
        qb.push(" && (!! ");
        push_term(qb, term);
        qb.push(")");
    }
    qb.push(")");
}

pub(crate) struct PgStore {
    /// Write transactions, and the few reads that need a transaction of their own.
    pub(crate) writer: PgPool,
    /// Every other read: on the primary, or on a replica inside a read request's scope.
    pub(crate) reader: ReadRouter,
    /// The same pools, always reading from the primary.
    primary_reader: ReadRouter,
    /// Keeps the replicas' (and the primary's) log positions, when tokens are handed out.
    poller: Mutex<Option<JoinHandle<()>>>,
    /// Whether writes hand out consistency tokens.
    issues_tokens: bool,
    pub(crate) wakeups: Arc<WakeupSenders>,
    /// Tells the other replicas' relays of this process's outbox commits.
    commits: CommitNotifier,
    /// The task that listens for the wake-ups, started by the first to ask for them.
    listener: Mutex<Option<JoinHandle<()>>>,
    /// When the credentials last changed: the writer's older connections are closed as they
    /// come back, so that they drain.
    pub(crate) rotation: Arc<Rotation>,
}

/// When the database credentials last changed, if they did, and how often they did: the
/// connections held for good (the event listener's, the relay's leases) compare the count
/// with the one they were opened at, and reconnect.
#[derive(Default)]
pub(crate) struct Rotation(Mutex<Option<Instant>>, std::sync::atomic::AtomicU64);

impl Rotation {
    /// How many times the credentials changed so far.
    pub(crate) fn generation(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a connection opened `age` ago was opened with the previous credentials.
    fn predates(&self, age: Duration) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| age > at.elapsed())
    }

    fn mark(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Some(Instant::now());
        }
        self.1.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn connect_options(url: &str) -> Result<PgConnectOptions, OpenError> {
    Ok(PgConnectOptions::from_str(url)
        .map_err(OpenError::InvalidUrl)?
        .application_name("bookstore"))
}

impl PgStore {
    async fn close_reader(&self) {
        if let Some(listener) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            listener.abort();
        }
        if let Some(poller) = self.poller.lock().ok().and_then(|mut p| p.take()) {
            poller.abort();
        }
        self.reader.close();
    }

    /// Whether writes hand out consistency tokens.
    pub(crate) fn issues_tokens(&self) -> bool {
        self.issues_tokens
    }

    /// The primary's log position now: the consistency token of every write committed so far.
    pub(crate) async fn token_now(&self) -> Result<u64, StoreError> {
        let lsn: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
            .fetch_one(self.primary_reader.primary_pool())
            .await
            .map_err(backend)?;
        let lsn = u64::try_from(lsn).unwrap_or(0);
        self.reader.primary_reached(lsn);
        Ok(lsn)
    }

    pub(crate) fn router(&self) -> &ReadRouter {
        &self.reader
    }

    /// The wake-ups, listened for from the first call on.
    pub(crate) fn wakeups(&self) -> Wakeups {
        if let Ok(mut listener) = self.listener.lock() {
            if listener.is_none() {
                *listener = Some(tokio::spawn(listen_postgres(
                    self.writer.clone(),
                    self.wakeups.clone(),
                    self.rotation.clone(),
                )));
            }
        }
        self.wakeups.receivers()
    }

    /// New connections use `url` (new credentials) from now on; the writer's connections
    /// opened before are closed as they are released or next acquired, the reader's as they
    /// come back to its pool: they drain without failing a request. (The read replicas keep
    /// the URLs they were opened with.)
    pub(crate) fn set_url(&self, url: &str) -> Result<(), OpenError> {
        let options = connect_options(url)?;
        self.writer.set_connect_options(options.clone());
        self.rotation.mark();
        self.reader.set_primary_options(options);
        Ok(())
    }

    /// Opens the primary at `url` and, if any, the read replicas at `read_urls`; tokens are
    /// handed out where there are replicas, or where `tokens` asks for them anyway.
    pub(crate) async fn open(
        url: &str,
        read_urls: &[String],
        max_connections: u32,
        max_lag: std::time::Duration,
        tokens: bool,
    ) -> Result<Self, OpenError> {
        let options = connect_options(url)?;
        let rotation = Arc::new(Rotation::default());
        let (before, after) = (rotation.clone(), rotation.clone());
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .before_acquire(move |_, meta| {
                let keep = !before.predates(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .after_release(move |_, meta| {
                let keep = !after.predates(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let primary =
            ReadPool::new(options.clone(), max_connections as usize).map_err(OpenError::Connect)?;
        let mut replicas = Vec::new();
        for (i, read_url) in read_urls.iter().enumerate() {
            let replica_options = PgConnectOptions::from_str(read_url)
                .map_err(|source| OpenError::InvalidReadUrl {
                    number: i + 1,
                    source,
                })?
                .application_name("bookstore");
            let pool = ReadPool::new(replica_options.clone(), max_connections as usize)
                .map_err(OpenError::Connect)?;
            replicas.push((pool, replica_options));
        }
        let reader = ReadRouter::new(primary, options, replicas, max_lag);
        let issues_tokens = tokens || reader.has_replicas();
        // A replica that is down at start is left out until it is up: not an error.
        let poller = if issues_tokens {
            Some(reader.start_polling().await)
        } else {
            None
        };
        let wakeups = Arc::new(WakeupSenders::default());
        Ok(Self {
            commits: CommitNotifier::start(pool.clone(), wakeups.token()),
            writer: pool,
            primary_reader: reader.primary_only(),
            reader,
            poller: Mutex::new(poller),
            issues_tokens,
            wakeups,
            listener: Mutex::new(None),
            rotation,
        })
    }
}

impl Dialect for PgStore {
    type Db = sqlx::Postgres;

    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_BOOK: Option<&'static str> = Some("SELECT 1 FROM books WHERE id = $1 FOR UPDATE");
    /// A transaction-scoped advisory lock (an arbitrary constant key) around re-parenting.
    const GENRE_TREE_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(7262591030)");
    const LOCK_BOOKS: Option<&'static str> = Some(" ORDER BY b.id FOR UPDATE");
    /// Skips rows a concurrent prune holds: no waiting, no deadlock.
    const PRUNE_IDEMPOTENCY: &'static str = "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(\
        SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED))";

    fn outbox_committed(&self) {
        self.wakeups.outbox_committed();
        self.commits.committed();
    }

    fn uuid_literal(id: Uuid) -> String {
        format!("'{id}'::uuid")
    }

    /// The ids as one array: one statement text, and one plan, for any number of ids.
    fn push_id_in(qb: &mut QueryBuilder<'static, Postgres>, column: &str, ids: &[Uuid]) {
        qb.push(column)
            .push(" = ANY(")
            .push_bind(ids.to_vec())
            .push(")");
    }

    const PACK_FACET_ROWS: (&'static str, &'static str) = (
        "SELECT coalesce(json_agg(json_build_array(facet, value, n))::text, '[]') FROM (",
        ") facet_rows",
    );

    /// PostgreSQL computes the select list after the limit.
    const IDS_BEFORE_BOOKS: bool = false;

    /// Titles have their own GIN index (`title_doc`).
    const TITLES_FIRST: bool = true;

    const COLLATE_BYTES: &'static str = " COLLATE \"C\"";

    fn book_sql() -> &'static BookSql {
        &BOOK_SQL
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn writer(&self) -> &PgPool {
        &self.writer
    }

    type Reader = ReadRouter;

    fn reader(&self) -> &ReadRouter {
        &self.reader
    }

    fn primary_reader(&self) -> &ReadRouter {
        &self.primary_reader
    }

    fn push_text_match(qb: &mut QueryBuilder<'static, Postgres>, text: &TextQuery) {
        qb.push("b.search_doc @@ ");
        push_tsquery(qb, text);
    }

    fn push_text_score(qb: &mut QueryBuilder<'static, Postgres>, text: &TextQuery) {
        qb.push("ts_rank_cd('{0.1, 0.2, 0.4, 1.0}'::float4[], b.search_doc, ");
        push_tsquery(qb, text);
        qb.push(")::float8");
    }

    /// The SQL score is the whole score.
    async fn listed_scores(
        &self,
        _: &TextQuery,
        _: &[Uuid],
    ) -> Result<HashMap<Uuid, f64>, StoreError> {
        Ok(HashMap::new())
    }

    /// `ts_rank_cd` reads the book's document only.
    type Pinned = ();

    async fn ranked_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        title_only: bool,
        limit: i64,
        _: &mut (),
    ) -> Result<Vec<(Uuid, f64)>, StoreError> {
        // `OFFSET 0` keeps the one-row subquery from being pulled up into the join, so the
        // tsquery is computed once per statement, not once per candidate row, and the plan
        // does not depend on the words: PostgreSQL can then reuse one plan for every search
        // instead of planning each (bench/search at 1M books, p95 of a rare word: 33 -> 19 ms).
        let mut select =
            QueryBuilder::<Postgres>::new(format!("SELECT b.id, {RANK} FROM (SELECT "));
        push_tsquery(&mut select, text);
        if title_only {
            // The title index finds them; the whole query (exclusions) is checked on each
            // one found, not by intersecting with the big index's bitmap of every match.
            select.push(" AS q OFFSET 0) tsq JOIN books b ON b.title_doc @@ tsq.q AND (b.search_doc @@ tsq.q) IS TRUE");
        } else {
            select.push(" AS q OFFSET 0) tsq JOIN books b ON b.search_doc @@ tsq.q");
        }
        select.push(" WHERE 1 = 1");
        push_filters(&mut select, filters, Self::uuid_literal);
        select.push(" LIMIT ").push_bind(limit);
        select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(backend)
    }

    /// Asks `search_words` (migration 0005): a prefix in the GIN index costs four times the
    /// word, even when no other word begins with it.
    async fn prefix_adds_words(&self, text: &TextQuery) -> Result<bool, StoreError> {
        let prefixes = text.prefix_words();
        if prefixes.is_empty() {
            return Ok(false);
        }
        sqlx::query_scalar(
            "SELECT coalesce(bool_or(bookstore_prefix_adds_words(w)), false) \
             FROM unnest($1::text[]) AS w",
        )
        .bind(prefixes)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)
    }

    async fn fuzzy_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        _: &mut (),
    ) -> Result<Vec<(Uuid, f64)>, StoreError> {
        let words = fuzzy_words(text);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // Per word, the titles and author names it is near to (trigram indexes); a book's
        // score is the mean over the words of its best title or author similarity.
        let mut select = QueryBuilder::<Postgres>::new("SELECT b.id, ((");
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                select.push(" + ");
            }
            select
                .push("greatest(word_similarity(bookstore_fold(")
                .push_bind(word.clone())
                .push("), bookstore_fold(b.title)), coalesce((SELECT max(word_similarity(bookstore_fold(")
                .push_bind(word.clone())
                .push("), bookstore_fold(a.name))) FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id), 0))");
        }
        select.push(format_args!(
            ") / {})::float8 FROM books b WHERE b.id IN (",
            words.len()
        ));
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                select.push(" UNION ");
            }
            select
                .push("(SELECT t.id FROM books t WHERE bookstore_fold(")
                .push_bind(word.clone())
                .push(") <% bookstore_fold(t.title) LIMIT ")
                .push_bind(FUZZY_CANDIDATES)
                .push(") UNION (SELECT ba.book_id FROM authors a JOIN book_authors ba ON ba.author_id = a.id WHERE bookstore_fold(")
                .push_bind(word.clone())
                .push(") <% bookstore_fold(a.name) LIMIT ")
                .push_bind(FUZZY_CANDIDATES)
                .push(")");
        }
        select.push(")");
        push_filters(&mut select, filters, Self::uuid_literal);
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(FUZZY_THRESHOLD)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let rows: Vec<(Uuid, f64)> = select
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(rows)
    }
}

impl_catalog_store!(PgStore, sqlx::Postgres);
crate::catalog::locations::impl_inventory_store!(PgStore, sqlx::Postgres);

impl UserDialect for PgStore {
    const LOCK_USER: &'static str = "SELECT id FROM users WHERE id = $1 FOR UPDATE";
    /// Conflicts with itself, not with readers.
    const LOCK_SIGNING_KEYS: Option<&'static str> =
        Some("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE");
    /// Skips rows a concurrent prune holds: no waiting, no deadlock.
    const PRUNE_LOGIN_FAILURES: &'static str =
        "DELETE FROM login_failures WHERE ctid = ANY (ARRAY(\
        SELECT ctid FROM login_failures WHERE at < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED))";
}

impl_user_store!(PgStore);

impl crate::sealed::SealedDialect for PgStore {
    const WEBHOOK_SECRETS: &'static str =
        "SELECT id, sealed_secret, previous_sealed_secret FROM webhooks FOR UPDATE";
}

impl WebhookDialect for PgStore {
    const LOCK_FANOUT: &'static str = "SELECT position FROM webhook_fanout WHERE id = 1 FOR UPDATE";
    const CLAIM_LOCK: &'static str = " FOR UPDATE OF d SKIP LOCKED";
}

impl_webhook_store!(PgStore, sqlx::Postgres);

impl_import_store!(PgStore, sqlx::Postgres);
crate::audit::impl_audit_log!(PgStore, sqlx::Postgres);
