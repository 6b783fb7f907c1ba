//! SQLite full text: a `TextQuery` as an FTS5 expression, and its bm25 ranking with column
//! weights and corpus statistics pinned for a whole paginated search (`bookstore-fts5-rank`).

use crate::error::backend;
use bookstore_core::search::is_stop_word;
use bookstore_core::{StoreError, Term, TextQuery};
use bookstore_fts5_rank::{avg_len, encode_idfs, idf, Corpus};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// bm25 weights of the FTS5 columns title, authors, genres, description: PostgreSQL's
/// `ts_rank_cd` weights of A, B, C, D (1.0, 0.4, 0.2, 0.1), times ten.
const COLUMN_WEIGHTS: &str = "10.0, 4.0, 2.0, 1.0";

/// Added to bm25 times the share of the title (column 0) the query covers, so that the book
/// whose title is the query ranks first, as PostgreSQL's cover density has it: bm25 alone
/// ranks "Children of Dune" above "Dune" for `dune` when its description says "Dune" again.
const TITLE_COVERAGE_WEIGHT: f64 = 5.0;

/// An FTS5 `MATCH` expression and its phrases, in the order FTS5 numbers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FtsQuery {
    pub(crate) expr: String,
    /// Each phrase of `expr`: the phrase as FTS5 syntax when it counts towards the score,
    /// `None` when it does not (excluded words; the title filter's copy of the words).
    pub(crate) phrases: Vec<Option<String>>,
}

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

impl FtsQuery {
    /// The FTS5 query of `text`, or `None` when no word is left to match. `title_only` also
    /// requires the positive terms in the title column (they are still scored on the whole
    /// document).
    pub(crate) fn of(text: &TextQuery, title_only: bool) -> Option<Self> {
        let groups: Vec<Vec<String>> = text
            .groups
            .iter()
            .map(|group| group.iter().filter_map(fts_term).collect::<Vec<_>>())
            .filter(|terms| !terms.is_empty())
            .collect();
        if groups.is_empty() {
            return None;
        }
        let positive = groups
            .iter()
            .map(|terms| format!("({})", terms.join(" OR ")))
            .collect::<Vec<_>>()
            .join(" AND ");
        let excluded: Vec<String> = text.excluded.iter().filter_map(fts_term).collect();
        let mut expr = format!("({positive})");
        for term in &excluded {
            expr = format!("{expr} NOT {term}");
        }
        let words = groups.iter().flatten();
        let mut phrases: Vec<Option<String>> = Vec::new();
        if title_only {
            expr = format!("({{title}} : ({positive})) AND ({expr})");
            phrases.extend(words.clone().map(|_| None));
        }
        phrases.extend(words.cloned().map(Some));
        phrases.extend(excluded.iter().map(|_| None));
        Some(Self { expr, phrases })
    }
}

/// The corpus statistics a relevance search ranks with, taken on its first page and carried
/// by its cursor: with them, a book's score depends on the book alone, and keyset pages on
/// (score, id) neither repeat nor skip books when others are added or removed in between.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinnedCorpus {
    /// Books in the index.
    #[serde(rename = "n")]
    rows: i64,
    /// Tokens in the index.
    #[serde(rename = "t")]
    tokens: i64,
    /// Books containing each phrase, by its FTS5 form.
    #[serde(rename = "d")]
    docs: BTreeMap<String, i64>,
}

impl PinnedCorpus {
    /// Fills in what is missing for `query`'s phrases: from `cache` when it is fresh there,
    /// else from the index (one statement for all of them).
    pub(crate) async fn pin(
        &mut self,
        reader: &SqlitePool,
        cache: &CorpusCache,
        query: &FtsQuery,
    ) -> Result<(), StoreError> {
        let mut missing: Vec<&String> = query
            .phrases
            .iter()
            .flatten()
            .filter(|p| !self.docs.contains_key(*p))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        if self.rows == 0 {
            if let Some((rows, tokens)) = cache.totals() {
                (self.rows, self.tokens) = (rows, tokens);
            }
        }
        missing.retain(|phrase| match cache.docs(phrase) {
            Some(docs) => {
                self.docs.insert((*phrase).clone(), docs);
                false
            }
            None => true,
        });
        if missing.is_empty() && self.rows > 0 {
            return Ok(());
        }
        let any = missing
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" OR ");
        let blob: Option<Vec<u8>> = if any.is_empty() {
            // Only the index's size is missing: any row tells it.
            sqlx::query_scalar("SELECT bookstore_corpus(books_fts) FROM books_fts LIMIT 1")
                .fetch_optional(reader)
                .await
        } else {
            sqlx::query_scalar(
                "SELECT bookstore_corpus(books_fts) FROM books_fts WHERE books_fts MATCH $1 \
                 LIMIT 1",
            )
            .bind(any)
            .fetch_optional(reader)
            .await
        }
        .map_err(backend)?;
        // No row has any of them: they are in no book.
        let corpus = blob.as_deref().and_then(Corpus::decode);
        if let Some(corpus) = &corpus {
            cache.set_totals(corpus.rows, corpus.tokens);
            if self.rows == 0 {
                self.rows = corpus.rows;
                self.tokens = corpus.tokens;
            }
        }
        for (i, phrase) in missing.into_iter().enumerate() {
            let docs = corpus
                .as_ref()
                .and_then(|c| c.docs.get(i).copied())
                .unwrap_or(0);
            cache.set_docs(phrase, docs);
            self.docs.insert(phrase.clone(), docs);
        }
        Ok(())
    }

    /// Pushes the bm25 score of the FTS5 row `books_fts` for `query` (pinned first).
    pub(crate) fn push_score(&self, qb: &mut QueryBuilder<'static, Sqlite>, query: &FtsQuery) {
        let idfs: Vec<f64> = query
            .phrases
            .iter()
            .map(|phrase| match phrase {
                Some(p) => idf(self.rows, self.docs.get(p).copied().unwrap_or(0)),
                None => 0.0,
            })
            .collect();
        qb.push("(bookstore_bm25(books_fts, ")
            .push_bind(avg_len(self.rows, self.tokens))
            .push(", ")
            .push_bind(encode_idfs(&idfs))
            .push(format_args!(
                ", {COLUMN_WEIGHTS}) + {TITLE_COVERAGE_WEIGHT:.1} * bookstore_coverage(books_fts, 0))"
            ));
    }
}

/// How long counts are reused.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Phrases counted at most; past it the cache starts over.
const CACHE_PHRASES: usize = 10_000;

/// The books of each phrase and the size of the index, reused for a minute by the first
/// pages of searches. FTS5 keeps no count of a word's books, so a count reads the word's
/// whole posting list (5 ms for a word in 9% of a million books, on every search for it);
/// a minute-old count ranks as well as a fresh one.
#[derive(Default)]
pub(crate) struct CorpusCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    totals: Option<(i64, i64, Instant)>,
    docs: HashMap<String, (i64, Instant)>,
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < CACHE_TTL
}

impl CorpusCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding it cannot leave it half-written: each write is one insert.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn totals(&self) -> Option<(i64, i64)> {
        match self.lock().totals {
            Some((rows, tokens, at)) if fresh(at) => Some((rows, tokens)),
            _ => None,
        }
    }

    fn set_totals(&self, rows: i64, tokens: i64) {
        self.lock().totals = Some((rows, tokens, Instant::now()));
    }

    fn docs(&self, phrase: &str) -> Option<i64> {
        match self.lock().docs.get(phrase) {
            Some((docs, at)) if fresh(*at) => Some(*docs),
            _ => None,
        }
    }

    fn set_docs(&self, phrase: &str, docs: i64) {
        let mut inner = self.lock();
        if inner.docs.len() >= CACHE_PHRASES {
            inner.docs.retain(|_, (_, at)| fresh(*at));
            if inner.docs.len() >= CACHE_PHRASES {
                inner.docs.clear();
            }
        }
        inner.docs.insert(phrase.to_owned(), (docs, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_quote_every_word_and_list_the_phrases_in_order() {
        let q = TextQuery::parse(r#"tolkien "the two towers" -film hobbit or ring"#);
        let fts = FtsQuery::of(&q, false).expect("a query");
        assert_eq!(
            fts.expr,
            r#"(("tolkien") AND ("the two towers") AND ("hobbit" OR "ring"*)) NOT "film""#
        );
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            fts.phrases,
            vec![
                some(r#""tolkien""#),
                some(r#""the two towers""#),
                some(r#""hobbit""#),
                some(r#""ring"*"#),
                None
            ]
        );
        assert_eq!(FtsQuery::of(&TextQuery::parse("the of and"), false), None);
        let q = TextQuery::parse(r#"NEAR(a b) AND "c"* {title}: x"#);
        let title = FtsQuery::of(&q, true).expect("a query");
        assert!(title.expr.starts_with("({title} : ("), "{}", title.expr);
        let counted = title.phrases.iter().flatten().count();
        assert_eq!(title.phrases.len(), 2 * counted);
        assert!(title.phrases[..counted].iter().all(Option::is_none));
    }

    #[test]
    fn the_cache_gives_back_what_it_was_told_and_starts_over_when_full() {
        let cache = CorpusCache::default();
        assert_eq!(cache.docs("\"dune\""), None);
        assert_eq!(cache.totals(), None);
        cache.set_docs("\"dune\"", 12);
        cache.set_totals(1000, 52_000);
        assert_eq!(cache.docs("\"dune\""), Some(12));
        assert_eq!(cache.totals(), Some((1000, 52_000)));
        for i in 0..CACHE_PHRASES {
            cache.set_docs(&format!("\"w{i}\""), 1);
        }
        assert!(cache.lock().docs.len() <= CACHE_PHRASES);
        assert_eq!(
            cache.docs("\"dune\""),
            None,
            "the oldest went with the rest"
        );
    }

    #[test]
    fn pinned_statistics_travel_in_a_compact_form() {
        let mut pinned = PinnedCorpus {
            rows: 1_000_000,
            tokens: 52_000_000,
            docs: BTreeMap::new(),
        };
        pinned.docs.insert("\"dune\"".into(), 89_051);
        let json = serde_json::to_string(&pinned).expect("serialisable");
        assert_eq!(json, r#"{"n":1000000,"t":52000000,"d":{"\"dune\"":89051}}"#);
        assert_eq!(
            serde_json::from_str::<PinnedCorpus>(&json).ok(),
            Some(pinned)
        );
    }
}
