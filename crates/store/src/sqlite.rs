//! The SQLite store: the embedded default. One file in the data directory, WAL journal, a
//! writer pool of exactly one connection (so write transactions queue in the application,
//! never on SQLite's lock) and a separate pool of readers.

use crate::catalog::{impl_catalog_store, Dialect};
use crate::error::{backend, OpenError};
use crate::search::{field_score, push_filters, CANDIDATES};
use crate::sql::BookSql;
use crate::users::{impl_user_store, UserDialect};
use bookstore_core::search::{is_stop_word, trigram_similarity};
use bookstore_core::{BookFilters, StoreError, Term, TextQuery};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

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

/// An FTS5 string: the word (letters and digits only, see `TextQuery`) in double quotes, so
/// that nothing in it is ever FTS5 syntax.
fn fts_string(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The FTS5 form of a term; stop words are dropped, as PostgreSQL's `english` configuration
/// drops them, so that both engines answer the same query.
fn fts_term(term: &Term) -> Option<String> {
    match term {
        Term::Word { text, .. } if is_stop_word(text) => None,
        Term::Word { text, prefix } => Some(fts_string(text) + if *prefix { "*" } else { "" }),
        Term::Phrase(words) => Some(fts_string(&words.join(" "))),
    }
}

/// The FTS5 `MATCH` expression of a text query, or `None` when no word is left to match.
/// `title_only` also requires the positive terms in the title column.
pub(crate) fn fts_query(text: &TextQuery, title_only: bool) -> Option<String> {
    let groups: Vec<String> = text
        .groups
        .iter()
        .filter_map(|group| {
            let terms: Vec<String> = group.iter().filter_map(fts_term).collect();
            (!terms.is_empty()).then(|| format!("({})", terms.join(" OR ")))
        })
        .collect();
    if groups.is_empty() {
        return None;
    }
    let positive = groups.join(" AND ");
    let mut expr = format!("({positive})");
    for term in text.excluded.iter().filter_map(fts_term) {
        expr = format!("{expr} NOT {term}");
    }
    if title_only {
        expr = format!("({{title}} : ({positive})) AND ({expr})");
    }
    Some(expr)
}

pub(crate) struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
            });
        }
        // The writer first: it creates the file and switches it to WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_readers.max(1))
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { writer, reader })
    }
}

impl Dialect for SqliteStore {
    type Db = sqlx::Sqlite;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// No row locks in SQLite: the single writer connection and `BEGIN IMMEDIATE` serialise
    /// every write transaction.
    const LOCK_BOOK: Option<&'static str> = None;
    const GENRE_TREE_LOCK: Option<&'static str> = None;

    /// UUIDs are 16-byte BLOBs.
    fn uuid_literal(id: Uuid) -> String {
        format!("X'{}'", id.simple())
    }

    /// A title-only FTS5 query (`{title} : …`) reads the same posting lists as the whole
    /// query, but it stops at the hundredth title match: for a broad query that is far less
    /// than scoring the first 400 matches of every field.
    const TITLES_FIRST: bool = true;

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

    fn push_text_match(qb: &mut QueryBuilder<'static, Sqlite>, text: &TextQuery) {
        match fts_query(text, false) {
            None => {
                qb.push("1 = 0");
            }
            Some(expr) => {
                qb.push(
                    "b.id IN (SELECT d.book_id FROM books_fts JOIN book_docs d \
                     ON d.doc_id = books_fts.rowid WHERE books_fts MATCH ",
                )
                .push_bind(expr)
                .push(")");
            }
        }
    }

    /// Scores are computed by the application ([`field_score`]), not by bm25.
    fn push_text_score(qb: &mut QueryBuilder<'static, Sqlite>, _: &TextQuery) {
        qb.push("NULL");
    }

    fn app_score(text: &TextQuery, title: &str, authors: &str, genres: &str) -> Option<f64> {
        Some(field_score(text, title, authors, genres))
    }

    async fn ranked_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
        title_only: bool,
        limit: i64,
    ) -> Result<Vec<(Uuid, f64)>, StoreError> {
        let Some(expr) = fts_query(text, title_only) else {
            return Ok(Vec::new());
        };
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT d.book_id, b.title || ' ' || coalesce(b.subtitle, ''), b.search_authors, \
             b.search_genres FROM books_fts JOIN book_docs d \
             ON d.doc_id = books_fts.rowid JOIN books b ON b.id = d.book_id \
             WHERE books_fts MATCH ",
        );
        select.push_bind(expr);
        push_filters(&mut select, filters, Self::uuid_literal);
        select.push(" LIMIT ").push_bind(limit);
        let rows: Vec<(Uuid, String, String, String)> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(id, title, authors, genres)| (id, field_score(text, &title, &authors, &genres)))
            .collect())
    }

    /// Spellfix-style: each query word that is not in the index is replaced by its nearest
    /// spelling among the words of titles and author names that start with the same letter
    /// (trigram similarity, then frequency); the corrected query is then searched.
    async fn fuzzy_candidates(
        &self,
        text: &TextQuery,
        filters: &BookFilters,
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
        self.ranked_candidates(&corrected, filters, false, CANDIDATES)
            .await
    }
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
        let Some(first) = word.chars().next() else {
            return Ok(None);
        };
        let after = char::from_u32(u32::from(first) + 1).unwrap_or(char::MAX);
        let candidates: Vec<(String, i64)> = sqlx::query_as(
            "SELECT term, sum(doc) FROM books_fts_vocab WHERE term >= $1 AND term < $2 \
             AND col IN ('title', 'authors') AND length(term) BETWEEN $3 AND $4 GROUP BY term",
        )
        .bind(first.to_string())
        .bind(after.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_quote_every_word() {
        let q = TextQuery::parse(r#"tolkien "the two towers" -film hobbit or ring"#);
        assert_eq!(
            fts_query(&q, false).as_deref(),
            Some(r#"(("tolkien") AND ("the two towers") AND ("hobbit" OR "ring"*)) NOT "film""#)
        );
        let q = TextQuery::parse("the of and");
        assert_eq!(fts_query(&q, false), None);
        let q = TextQuery::parse(r#"NEAR(a b) AND "c"* {title}: x"#);
        let expr = fts_query(&q, true).unwrap_or_default();
        assert!(expr.starts_with("({title} : ("), "{expr}");
    }
}

impl_catalog_store!(SqliteStore, sqlx::Sqlite);

impl UserDialect for SqliteStore {
    /// No row locks: the single writer connection serialises every write transaction.
    const LOCK_USER: &'static str = "SELECT id FROM users WHERE id = $1";
    const LOCK_SIGNING_KEYS: Option<&'static str> = None;
    /// A batch at a time, like PostgreSQL's.
    const PRUNE_LOGIN_FAILURES: &'static str = "DELETE FROM login_failures WHERE rowid IN \
        (SELECT rowid FROM login_failures WHERE at < $1 LIMIT 1000)";
}

impl_user_store!(SqliteStore, sqlx::Sqlite);
