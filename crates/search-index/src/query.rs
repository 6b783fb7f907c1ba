//! A search as a Tantivy query: the parsed `TextQuery` (groups AND, terms of a group OR,
//! exclusions NOT), the ISBN, the filters; in one of three passes, as the stores search:
//! the words as given (the last also as a prefix), then near spellings, then any word.

use crate::schema::{self, Fields, WEIGHTS};
use bookstore_core::{BookFilters, NameOrId, Term as QueryTerm, TextQuery};
use std::ops::Bound;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, Term};

/// The score of the book whose ISBN is in the query: above any text score.
pub const ISBN_SCORE: f32 = 1_000_000.0;
/// A prefix match counts this share of a whole-word match in the same field.
const PREFIX_SHARE: f32 = 0.5;
/// A near spelling counts this share of the field's weight.
const TYPO_SHARE: f32 = 0.3;
/// A word being typed is read as its completions, each ranked like a word, while it has at
/// most this many over the four fields (each is a term of the cursor's pinned statistics);
/// a shorter start with more is matched by an automaton, every completion scoring the same.
pub const MAX_COMPLETIONS: usize = 64;

/// How a text query is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pass {
    /// The words as given, none as a prefix: when they fill a page they are the search (as
    /// in both stores), and a single word is then a plain union of term postings, which
    /// Tantivy ranks with block-max WAND instead of scoring every match.
    Typed,
    /// The words as given; the word being typed also as a prefix.
    Exact,
    /// Near spellings: edit distance by word length, first letters included.
    Typo,
    /// Any of the words (`TextQuery::relaxed`).
    Relaxed,
}

/// The edit distance allowed for a word of `chars` characters: none for short words (every
/// three-letter word is near dozens of others), one up to seven, two from eight.
pub fn typo_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

pub struct Builder<'a> {
    pub fields: &'a Fields,
    /// The index's segments now: where the completions of a word being typed are looked up.
    pub searcher: &'a Searcher,
    pub stem: TextAnalyzer,
    pub plain: TextAnalyzer,
}

fn boxed(q: impl Query) -> Box<dyn Query> {
    Box::new(q)
}

/// A query that selects without scoring.
fn filter(q: Box<dyn Query>) -> Box<dyn Query> {
    boxed(ConstScoreQuery::new(q, 0.0))
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    boxed(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

/// At least one of `queries`; one query as itself, so that nesting does not hide a union of
/// terms from Tantivy's WAND (it needs the term scorers as the clauses of one union).
fn any(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        if let Some(q) = queries.pop() {
            return q;
        }
    }
    boxed(BooleanQuery::new(
        queries.into_iter().map(|q| (Occur::Should, q)).collect(),
    ))
}

impl Builder<'_> {
    /// The whole query; `None` when the filters include one the index does not hold
    /// (`not_counted_since`: stock movements are the store's).
    pub fn build(
        &mut self,
        text: Option<&TextQuery>,
        filters: &BookFilters,
        pass: Pass,
    ) -> Option<Box<dyn Query>> {
        if filters.not_counted_since.is_some() {
            return None;
        }
        let f = *self.fields;
        // Tombstones hold no text and no filtered value: any other clause excludes them, and
        // a `live` clause would turn a plain union into an intersection (no WAND).
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(text) = text {
            let relaxed;
            let text = match pass {
                Pass::Relaxed => {
                    relaxed = text.relaxed();
                    relaxed.as_ref().unwrap_or(text)
                }
                _ => text,
            };
            let mut matching = Vec::new();
            if let Some(isbn) = &text.isbn {
                matching.push(boxed(ConstScoreQuery::new(
                    term_query(f.isbn, isbn.as_str()),
                    ISBN_SCORE,
                )));
            }
            if let Some(words) = self.text(text, pass) {
                matching.push(words);
            }
            if matching.is_empty() {
                return Some(boxed(tantivy::query::EmptyQuery));
            }
            clauses.push((Occur::Must, any(matching)));
            for term in &text.excluded {
                let excluded = self.term(term, Pass::Exact, false);
                clauses.push((Occur::MustNot, boxed(crate::guard::Guarded(excluded))));
            }
        }
        clauses.extend(self.filters(filters).into_iter().map(|q| (Occur::Must, q)));
        if !clauses.iter().any(|(occur, _)| *occur == Occur::Must) {
            clauses.push((
                Occur::Must,
                filter(boxed(TermQuery::new(
                    Term::from_field_u64(f.live, 1),
                    IndexRecordOption::Basic,
                ))),
            ));
        }
        if let [(Occur::Must, _)] = clauses.as_slice() {
            return clauses.pop().map(|(_, q)| q);
        }
        Some(boxed(BooleanQuery::new(clauses)))
    }

    /// Every group must match; `None` when there are no words.
    fn text(&mut self, text: &TextQuery, pass: Pass) -> Option<Box<dyn Query>> {
        // A group that is only a stop word matches almost everything; PostgreSQL drops it,
        // so does the index, unless the query is nothing else.
        let meaningful: Vec<&Vec<QueryTerm>> = text
            .groups
            .iter()
            .filter(|g| !g.iter().all(QueryTerm::is_stop_word))
            .collect();
        let groups = if meaningful.is_empty() {
            text.groups.iter().collect()
        } else {
            meaningful
        };
        if groups.is_empty() {
            return None;
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = groups
            .into_iter()
            .map(|group| {
                let terms = group.iter().map(|t| self.term(t, pass, true)).collect();
                (Occur::Must, any(terms))
            })
            .collect();
        if clauses.len() == 1 {
            return clauses.pop().map(|(_, q)| q);
        }
        Some(boxed(BooleanQuery::new(clauses)))
    }

    /// One word or phrase over every text field, weighted.
    fn term(&mut self, term: &QueryTerm, pass: Pass, weighted: bool) -> Box<dyn Query> {
        let f = *self.fields;
        let weight = |i: usize| if weighted { WEIGHTS[i] } else { 1.0 };
        let mut per_field = Vec::new();
        match term {
            QueryTerm::Word { text, prefix } => {
                let stems = schema::tokens(&mut self.stem, text);
                let plain = schema::tokens(&mut self.plain, text);
                // Completions ranked like words keep the union one of terms, which Tantivy
                // ranks with block-max WAND instead of scoring every match the same.
                let completions = (*prefix && pass == Pass::Exact)
                    .then(|| completions(self.searcher, &f.text, &plain));
                for (i, field) in f.text.iter().enumerate() {
                    for stem in &stems {
                        per_field.push(boxed(BoostQuery::new(term_query(*field, stem), weight(i))));
                    }
                    match &completions {
                        None => {}
                        Some(Some(per_text_field)) => {
                            for completion in &per_text_field[i] {
                                per_field.push(boxed(BoostQuery::new(
                                    term_query(*field, completion),
                                    weight(i) * PREFIX_SHARE,
                                )));
                            }
                        }
                        Some(None) => {
                            for word in &plain {
                                let q = FuzzyTermQuery::new_prefix(
                                    Term::from_field_text(*field, word),
                                    0,
                                    true,
                                );
                                per_field.push(boxed(ConstScoreQuery::new(
                                    boxed(q),
                                    weight(i) * PREFIX_SHARE,
                                )));
                            }
                        }
                    }
                    // Near spellings of the word as typed, and of its stem (the index holds
                    // stems: "nueromancer" is near "neuromanc" only once stemmed too).
                    let mut near: Vec<&String> = plain.iter().chain(&stems).collect();
                    near.dedup();
                    for word in near {
                        let distance = typo_distance(word.chars().count());
                        if pass == Pass::Typo && distance > 0 {
                            let q = if *prefix {
                                FuzzyTermQuery::new_prefix(
                                    Term::from_field_text(*field, word),
                                    distance,
                                    true,
                                )
                            } else {
                                FuzzyTermQuery::new(
                                    Term::from_field_text(*field, word),
                                    distance,
                                    true,
                                )
                            };
                            per_field.push(boxed(ConstScoreQuery::new(
                                boxed(q),
                                weight(i) * TYPO_SHARE,
                            )));
                        }
                    }
                }
            }
            QueryTerm::Phrase(words) => {
                let stems: Vec<String> = words
                    .iter()
                    .flat_map(|w| schema::tokens(&mut self.stem, w))
                    .collect();
                for (i, field) in f.text.iter().enumerate() {
                    let q = match stems.as_slice() {
                        [] => continue,
                        [one] => term_query(*field, one),
                        many => boxed(PhraseQuery::new(
                            many.iter()
                                .map(|s| Term::from_field_text(*field, s))
                                .collect(),
                        )),
                    };
                    per_field.push(boxed(BoostQuery::new(q, weight(i))));
                }
            }
        }
        if per_field.is_empty() {
            return boxed(tantivy::query::EmptyQuery);
        }
        any(per_field)
    }

    /// The filters alone, selecting without scores; `None` without filters.
    pub fn filter_query(&self, filters: &BookFilters) -> Option<Box<dyn Query>> {
        let mut clauses = self.filters(filters);
        if clauses.len() <= 1 {
            return clauses.pop();
        }
        Some(boxed(BooleanQuery::new(
            clauses.into_iter().map(|q| (Occur::Must, q)).collect(),
        )))
    }

    fn filters(&self, filters: &BookFilters) -> Vec<Box<dyn Query>> {
        let f = self.fields;
        let mut out = Vec::new();
        let named = |value: &NameOrId<_>, id: Field, key: Field| match value {
            NameOrId::Id(id_value) => term_query(id, &uuid_of(id_value)),
            NameOrId::Name(name) => term_query(key, name),
        };
        if let Some(a) = &filters.author {
            out.push(filter(named_author(a, f)));
        }
        if let Some(g) = &filters.genre {
            out.push(filter(named(&map_genre(g), f.genre_id, f.genre_key)));
        }
        if let Some(l) = &filters.language {
            out.push(filter(term_query(f.language, l)));
        }
        if let Some(format) = filters.format {
            out.push(filter(term_query(f.format, format.as_str())));
        }
        if let Some(p) = &filters.publisher {
            out.push(filter(term_query(f.publisher_key, p)));
        }
        let range = |field: Field, lo: Option<i64>, hi: Option<i64>| -> Option<Box<dyn Query>> {
            if lo.is_none() && hi.is_none() {
                return None;
            }
            let bound = |v: Option<i64>| match v {
                Some(v) => Bound::Included(Term::from_field_i64(field, v)),
                None => Bound::Unbounded,
            };
            Some(filter(boxed(RangeQuery::new(bound(lo), bound(hi)))))
        };
        out.extend(range(
            f.year,
            filters.year_from.map(i64::from),
            filters.year_to.map(i64::from),
        ));
        out.extend(range(f.price, filters.price_min, filters.price_max));
        if filters.in_stock {
            out.extend(range(f.quantity, Some(1), None));
        }
        out
    }
}

/// The indexed words of each text field that start with one of `starts`, over every segment;
/// `None` when there are more than [`MAX_COMPLETIONS`] in all (or a segment cannot be read:
/// the automaton then matches them).
fn completions(
    searcher: &Searcher,
    fields: &[Field; 4],
    starts: &[String],
) -> Option<[Vec<String>; 4]> {
    let mut found: [std::collections::BTreeSet<String>; 4] = Default::default();
    let mut total = 0;
    for (i, field) in fields.iter().enumerate() {
        for reader in searcher.segment_readers() {
            let inverted = reader.inverted_index(*field).ok()?;
            for start in starts {
                let mut terms = inverted
                    .terms()
                    .range()
                    .ge(start.as_bytes())
                    .into_stream()
                    .ok()?;
                while terms.advance() {
                    let key = terms.key();
                    if !key.starts_with(start.as_bytes()) {
                        break;
                    }
                    let word = std::str::from_utf8(key).ok()?;
                    if found[i].insert(word.to_owned()) {
                        total += 1;
                        if total > MAX_COMPLETIONS {
                            return None;
                        }
                    }
                }
            }
        }
    }
    Some(found.map(|words| words.into_iter().collect()))
}

fn uuid_of<I: Copy + Into<uuid::Uuid>>(id: &I) -> String {
    (*id).into().to_string()
}

fn named_author(a: &NameOrId<bookstore_core::AuthorId>, f: &Fields) -> Box<dyn Query> {
    match a {
        NameOrId::Id(id) => term_query(f.author_id, &id.as_uuid().to_string()),
        NameOrId::Name(name) => term_query(f.author_key, name),
    }
}

fn map_genre(g: &NameOrId<bookstore_core::GenreId>) -> NameOrId<uuid::Uuid> {
    match g {
        NameOrId::Id(id) => NameOrId::Id(id.as_uuid()),
        NameOrId::Name(n) => NameOrId::Name(n.clone()),
    }
}
