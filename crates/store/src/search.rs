//! Search shared by both stores: filters as SQL, and the ranking of candidates.
//!
//! A relevance search runs in three steps:
//!
//! 1. **Candidates.** The dialect's full-text engine finds the matching books, with their
//!    scores, *bounded*, because ranking every match is what makes search crawl on a big
//!    catalogue (each match's document must be read and scored):
//!    - Titles first: when [`TITLE_CANDIDATES`] titles or more match (PostgreSQL: through a
//!      GIN index of title-only documents; SQLite: an FTS5 `{title}` column filter, which
//!      stops at the hundredth title match), the query is a broad one and those title
//!      matches are its result (scored on the whole document).
//!    - Otherwise up to [`CANDIDATES`] matches of the whole document are scored; when there
//!      are that many, the title matches are added.
//!
//!    When both bounds hold, every match is scored: the ranking is exact. Above them, title
//!    matches rank first ([`TITLE_BONUS`]). An ISBN in the query puts that book first
//!    ([`ISBN_SCORE`]).
//! 2. **Fallback.** When the full-text query finds nothing, the dialect's typo fallback
//!    proposes candidates (PostgreSQL: `pg_trgm` similarity of titles and author names;
//!    SQLite: near spellings of the query's words among the indexed words); when that finds
//!    nothing either, books matching *any* of the words (`TextQuery::relaxed`).
//! 3. **Page.** Candidates are ordered by score, then id, and the keyset cursor (score, id)
//!    picks the page; the books of the page are read in one statement. A score must not
//!    change between two pages: PostgreSQL's depends on the book alone; SQLite's bm25 also
//!    on the whole index, whose statistics the first page takes and the cursor carries
//!    (`Dialect::Pinned`, `sqlite_fts.rs`).

use crate::cursor::ScorePosition;
use bookstore_core::{BookFilters, NameOrId};
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::HashMap;
use uuid::Uuid;

/// Matches scored per full-text query before ranking; above this, the result is approximate.
pub(crate) const CANDIDATES: i64 = 400;
/// Title matches scored in addition when a query has more than [`CANDIDATES`] matches.
pub(crate) const TITLE_CANDIDATES: i64 = 100;
/// Candidates of the typo fallback.
pub(crate) const FUZZY_CANDIDATES: i64 = 200;
/// Added to the score of title matches when the bound is reached: they rank first.
pub(crate) const TITLE_BONUS: f64 = 1000.0;
/// The score of the book whose ISBN is in the query.
pub(crate) const ISBN_SCORE: f64 = 1_000_000.0;

/// Appends ` AND …` for every filter given, over the book alias `b`. An author or genre
/// given by id is written as a literal (`uuid_literal`; ids are UUIDs, nothing else can be
/// in them), so that PostgreSQL plans with that author's or genre's real frequency: a big
/// genre is then filtered while walking the list order, not joined book by book.
pub(crate) fn push_filters<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    filters: &BookFilters,
    uuid_literal: fn(Uuid) -> String,
) where
    DB: Database,
    Uuid: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    i32: Encode<'a, DB> + Type<DB>,
{
    match &filters.author {
        None => {}
        Some(NameOrId::Id(id)) => {
            qb.push(format_args!(
                " AND EXISTS (SELECT 1 FROM book_authors fa WHERE fa.book_id = b.id \
                 AND fa.author_id = {})",
                uuid_literal(id.as_uuid())
            ));
        }
        Some(NameOrId::Name(key)) => {
            qb.push(
                " AND EXISTS (SELECT 1 FROM book_authors fa WHERE fa.book_id = b.id \
                 AND fa.author_id IN (SELECT fan.id FROM authors fan WHERE fan.name_key = ",
            )
            .push_bind(key.clone())
            .push("))");
        }
    }
    match &filters.genre {
        None => {}
        Some(NameOrId::Id(id)) => {
            qb.push(format_args!(
                " AND EXISTS (SELECT 1 FROM book_genres fg WHERE fg.book_id = b.id \
                 AND fg.genre_id = {})",
                uuid_literal(id.as_uuid())
            ));
        }
        Some(NameOrId::Name(key)) => {
            qb.push(
                " AND EXISTS (SELECT 1 FROM book_genres fg WHERE fg.book_id = b.id \
                 AND fg.genre_id IN (SELECT fgn.id FROM genres fgn WHERE fgn.name_key = ",
            )
            .push_bind(key.clone())
            .push("))");
        }
    }
    if let Some(language) = &filters.language {
        qb.push(" AND b.language = ").push_bind(language.clone());
    }
    if let Some(format) = filters.format {
        qb.push(" AND b.format = ")
            .push_bind(format.as_str().to_owned());
    }
    if let Some(publisher) = &filters.publisher {
        qb.push(" AND lower(b.publisher) = ")
            .push_bind(publisher.clone());
    }
    if let Some(year) = filters.year_from {
        qb.push(" AND b.published_year >= ").push_bind(year);
    }
    if let Some(year) = filters.year_to {
        qb.push(" AND b.published_year <= ").push_bind(year);
    }
    if let Some(price) = filters.price_min {
        qb.push(" AND b.price_minor >= ").push_bind(price);
    }
    if let Some(price) = filters.price_max {
        qb.push(" AND b.price_minor <= ").push_bind(price);
    }
    if filters.in_stock {
        qb.push(" AND b.quantity > 0");
    }
    if let Some(since) = filters.not_counted_since {
        // A literal of the stores' fixed-width text form: PostgreSQL reads it as a timestamp,
        // SQLite compares it as the text it stores; we wrote it, nothing else can be in it.
        qb.push(format_args!(
            " AND NOT EXISTS (SELECT 1 FROM stock_movements nc WHERE nc.book_id = b.id \
             AND nc.kind = 'count' AND nc.at >= '{}')",
            crate::time::DbTime(crate::time::truncate_to_micros(since)).to_text()
        ));
    }
}

/// A candidate of a relevance search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) id: Uuid,
    pub(crate) score: f64,
}

/// Candidates merged: one per book, with its best score.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    scores: HashMap<Uuid, f64>,
    /// A bound was reached: these are not all the matches.
    pub(crate) bounded: bool,
}

impl Candidates {
    pub(crate) fn add(&mut self, id: Uuid, score: f64) {
        let score = if score.is_finite() { score } else { 0.0 };
        let best = self.scores.entry(id).or_insert(score);
        if score > *best {
            *best = score;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn ids(&self) -> Vec<Uuid> {
        self.scores.keys().copied().collect()
    }

    /// Ordered by score (highest first), then id; only those after `after`; at most `take`.
    pub(crate) fn page(&self, after: Option<&ScorePosition>, take: usize) -> Vec<Candidate> {
        let mut all: Vec<Candidate> = self
            .scores
            .iter()
            .map(|(id, score)| Candidate {
                id: *id,
                score: *score,
            })
            .collect();
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        all.into_iter()
            .filter(|c| match after {
                None => true,
                Some(p) => c.score < p.score || (c.score == p.score && c.id > p.id),
            })
            .take(take)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_keep_best_score_and_page_by_score_then_id() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let mut c = Candidates::default();
        c.add(ids[0], 1.0);
        c.add(ids[1], 2.0);
        c.add(ids[2], 1.0);
        c.add(ids[0], 3.0);
        c.add(ids[3], f64::NAN);
        let first = c.page(None, 2);
        assert_eq!(
            first.iter().map(|c| c.id).collect::<Vec<_>>(),
            [ids[0], ids[1]]
        );
        let after = ScorePosition {
            as_typed: false,
            fuzzy: false,
            score: first[1].score,
            id: first[1].id,
            pinned: None,
        };
        let rest = c.page(Some(&after), 10);
        assert_eq!(
            rest.iter().map(|c| c.id).collect::<Vec<_>>(),
            [ids[2], ids[3]]
        );
    }
}
