//! Search over the catalogue: the parsed text query (web-search syntax), the filters, the
//! facets a client asks for, and what a search returns.
//!
//! The text query is parsed here, once, into a small tree of words and phrases; each store
//! renders that tree into its own engine's syntax from sanitised words only, so that no user
//! input ever reaches a full-text parser (`to_tsquery`, FTS5 `MATCH`) as syntax.

use crate::book::{Book, BookFormat};
use crate::ids::{AuthorId, GenreId};
use crate::isbn::Isbn;
use crate::text::fold_key;
use crate::validation::ValidationErrors;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The longest `q` accepted, in characters. Longer queries are rejected with a field error.
pub const MAX_QUERY_CHARS: usize = 1000;
/// At most this many words and phrases of a query are used; the rest is ignored.
pub const MAX_QUERY_TERMS: usize = 32;
/// Words longer than this are cut (no real word is; it bounds the work per term).
pub const MAX_WORD_CHARS: usize = 64;
/// A last word shorter than this is not a prefix: one or two letters would match a good share
/// of every word there is.
pub const MIN_PREFIX_CHARS: usize = 3;
/// Facet values returned per facet, most frequent first.
pub const MAX_FACET_VALUES: usize = 50;

/// One searchable unit: a word, or a phrase of words that must appear in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word; `prefix` when it also matches as the start of a longer word.
    Word { text: String, prefix: bool },
    /// Words that must follow each other (at least two).
    Phrase(Vec<String>),
}

impl Term {
    /// The words of the term, in order.
    pub fn words(&self) -> Vec<&str> {
        match self {
            Term::Word { text, .. } => vec![text.as_str()],
            Term::Phrase(words) => words.iter().map(String::as_str).collect(),
        }
    }

    /// A bare word that is an English stop word (and not a prefix being typed).
    pub fn is_stop_word(&self) -> bool {
        matches!(self, Term::Word { text, prefix: false } if is_stop_word(text))
    }
}

/// A parsed text query: every group must match (AND); a group matches when any of its terms
/// does (OR); no `excluded` term may match (NOT). Web-search syntax: `"exact phrase"`,
/// `-word`, `a or b`; the last word is also a prefix; an ISBN anywhere finds that book.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextQuery {
    /// The query as given (trimmed).
    pub raw: String,
    pub groups: Vec<Vec<Term>>,
    pub excluded: Vec<Term>,
    /// An ISBN-10 or ISBN-13 found in the query (any hyphenation); its digits are not words.
    pub isbn: Option<Isbn>,
}

impl TextQuery {
    /// Whether there is anything to match by text (an ISBN alone is not text).
    pub fn has_text(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Every positive word of the query, in order (for typo correction and similarity).
    pub fn positive_words(&self) -> Vec<&str> {
        self.groups
            .iter()
            .flatten()
            .flat_map(|t| t.words())
            .collect()
    }

    /// The query with its groups joined into one: any of its first eight terms matches
    /// (exclusions stay). `None` when that is the query itself (one group).
    pub fn relaxed(&self) -> Option<TextQuery> {
        if self.groups.len() < 2 {
            return None;
        }
        Some(TextQuery {
            groups: vec![self.groups.iter().flatten().take(8).cloned().collect()],
            ..self.clone()
        })
    }

    /// The words that are also read as prefixes (the last one, being typed).
    pub fn prefix_words(&self) -> Vec<&str> {
        self.groups
            .iter()
            .flatten()
            .filter_map(|t| match t {
                Term::Word { text, prefix: true } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The query with no word read as a prefix: the words as typed. `None` when no word is
    /// read as a prefix (that is the query itself).
    pub fn as_typed(&self) -> Option<TextQuery> {
        if self.prefix_words().is_empty() {
            return None;
        }
        let exact = |t: &Term| match t {
            Term::Word { text, .. } => Term::Word {
                text: text.clone(),
                prefix: false,
            },
            other => other.clone(),
        };
        Some(TextQuery {
            groups: self
                .groups
                .iter()
                .map(|group| group.iter().map(exact).collect())
                .collect(),
            ..self.clone()
        })
    }

    /// The positive words joined by spaces: what trigram similarity compares with.
    pub fn plain_text(&self) -> String {
        self.positive_words().join(" ")
    }

    /// Parses `raw`. Never fails: anything that is not a word (punctuation, operators of
    /// either engine, control characters, emoji) separates words and is otherwise ignored.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        let (isbn, text) = extract_isbn(raw);
        let tokens = tokenize(&text);
        let mut groups: Vec<Vec<Term>> = Vec::new();
        let mut excluded: Vec<Term> = Vec::new();
        let mut pending_or = false;
        let mut count = 0usize;
        let mut last_positive_word: Option<(usize, usize)> = None;
        for token in tokens {
            if count >= MAX_QUERY_TERMS {
                break;
            }
            match token {
                Token::Or => {
                    // `or` between two terms joins them; at the start or the end it is a word
                    // no one searches for.
                    pending_or = !groups.is_empty();
                    continue;
                }
                Token::Term { negated, words } => {
                    let Some(term) = term_of(words) else {
                        continue;
                    };
                    count += 1;
                    if negated {
                        excluded.push(term);
                        pending_or = false;
                        continue;
                    }
                    let is_word = matches!(term, Term::Word { .. });
                    match groups.last_mut() {
                        Some(group) if pending_or => group.push(term),
                        _ => groups.push(vec![term]),
                    }
                    pending_or = false;
                    let g = groups.len() - 1;
                    let t = groups[g].len() - 1;
                    last_positive_word = if is_word { Some((g, t)) } else { None };
                }
            }
        }
        // The last word is the one being typed: it also matches as a prefix, unless the query
        // ends in something else (a phrase, an exclusion, a space after a finished word is
        // still the last word: people type "hobbit " too).
        let ends_with_word = raw.chars().last().is_some_and(|c| !matches!(c, '"'));
        if let (Some((g, t)), true) = (last_positive_word, ends_with_word) {
            if let Some(Term::Word { text, prefix }) =
                groups.get_mut(g).and_then(|gr| gr.get_mut(t))
            {
                *prefix = text.chars().count() >= MIN_PREFIX_CHARS;
            }
        }
        Self {
            raw: raw.to_owned(),
            groups,
            excluded,
            isbn,
        }
    }
}

enum Token {
    Or,
    Term { negated: bool, words: Vec<String> },
}

fn term_of(mut words: Vec<String>) -> Option<Term> {
    match words.len() {
        0 => None,
        1 => words.pop().map(|text| Term::Word {
            text,
            prefix: false,
        }),
        _ => Some(Term::Phrase(words)),
    }
}

/// Splits `s` into lower-case words: runs of letters and digits (any script). Everything
/// else separates words. Words are cut at [`MAX_WORD_CHARS`].
pub fn words_of(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .take(MAX_WORD_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .collect()
}

/// Web-search tokens: quoted phrases, `-` exclusions, the `or` operator, and chunks of
/// non-space text (a chunk of several words, such as `saint-exupéry` or `ender's`, is a
/// phrase: the words must follow each other, as they do in the text).
fn tokenize(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c.is_control() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            chars.next();
            if chars.peek().is_none_or(|c| c.is_whitespace()) {
                continue;
            }
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut phrase = String::new();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                phrase.push(c);
            }
            // An unbalanced quote runs to the end of the query.
            tokens.push(Token::Term {
                negated,
                words: words_of(&phrase),
            });
            continue;
        }
        let mut chunk = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c.is_control() || c == '"' {
                break;
            }
            chunk.push(c);
            chars.next();
        }
        if !negated && chunk.eq_ignore_ascii_case("or") {
            tokens.push(Token::Or);
            continue;
        }
        tokens.push(Token::Term {
            negated,
            words: words_of(&chunk),
        });
    }
    tokens
}

/// Finds the first ISBN in `q`: one to five consecutive space-separated chunks of digits,
/// hyphens (or dashes) and a final X that parse as an ISBN-10 or ISBN-13 together
/// ("978 0261103344", "0-261-10334-2", "ISBN: 0261103342"). Returns it and the query without
/// it.
fn extract_isbn(q: &str) -> (Option<Isbn>, String) {
    let is_part = |c: char| {
        c.is_ascii_digit() || matches!(c, '-' | 'x' | 'X' | '\u{2010}' | '\u{2011}' | '\u{2013}')
    };
    // Byte ranges of the whitespace-separated chunks, with whether each could be part of one.
    let mut chunks: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = None;
    for (i, c) in q.char_indices().chain(std::iter::once((q.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let chunk = q[s..i].trim_end_matches([',', ';', '.', ')']);
                let chunk = chunk.trim_start_matches(['(']);
                let chunk = chunk.strip_prefix("ISBN:").unwrap_or(chunk);
                let usable =
                    chunk.chars().any(|c| c.is_ascii_digit()) && chunk.chars().all(is_part);
                chunks.push((s, i, usable));
                start = None;
            }
            _ => {}
        }
    }
    for first in 0..chunks.len() {
        for last in first..chunks.len().min(first + 5) {
            if !chunks[last].2 {
                break;
            }
            let (s, e) = (chunks[first].0, chunks[last].1);
            let candidate: String = q[s..e]
                .chars()
                .filter(|c| is_part(*c) || c.is_whitespace())
                .collect();
            let digits = candidate.chars().filter(|c| c.is_ascii_digit()).count();
            if digits > 13 {
                break;
            }
            if digits < 9 {
                continue;
            }
            if let Ok(isbn) = Isbn::parse(&candidate) {
                // An "ISBN" label in front goes with it.
                let label = first
                    .checked_sub(1)
                    .map(|l| chunks[l])
                    .filter(|(ls, le, _)| {
                        let word = q[*ls..*le].trim_end_matches(':').to_ascii_lowercase();
                        matches!(
                            word.as_str(),
                            "isbn" | "isbn-10" | "isbn-13" | "isbn10" | "isbn13"
                        )
                    });
                let s = label.map_or(s, |(ls, _, _)| ls);
                let mut rest = String::with_capacity(q.len());
                rest.push_str(&q[..s]);
                rest.push(' ');
                rest.push_str(&q[e..]);
                return (Some(isbn), rest);
            }
        }
    }
    (None, q.to_owned())
}

/// PostgreSQL's English stop words (`english.stop`): the words its `english` configuration
/// drops. The SQLite store drops them too, so that both engines see the same query.
const STOP_WORDS: [&str; 127] = [
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Trigram similarity of two words, as `pg_trgm` computes it: each word padded with two
/// spaces in front and one behind, shared trigrams over all distinct trigrams.
pub fn trigram_similarity(a: &str, b: &str) -> f64 {
    fn trigrams(s: &str) -> Vec<[char; 3]> {
        let padded: Vec<char> = "  "
            .chars()
            .chain(s.chars().flat_map(char::to_lowercase))
            .chain(" ".chars())
            .collect();
        let mut out: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
    let (ta, tb) = (trigrams(a), trigrams(b));
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    let shared = ta.iter().filter(|t| tb.binary_search(t).is_ok()).count();
    let all = ta.len() + tb.len() - shared;
    shared as f64 / all as f64
}

/// An author or a genre named in a filter: by id, or by name (matched ignoring case and
/// repeated spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrId<I> {
    Id(I),
    /// The folded name (see [`fold_key`]).
    Name(String),
}

impl<I: From<Uuid>> NameOrId<I> {
    fn parse(value: &str) -> Self {
        match Uuid::parse_str(value.trim()) {
            Ok(id) => Self::Id(I::from(id)),
            Err(_) => Self::Name(fold_key(value)),
        }
    }
}

/// Filters of a book list; every one given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookFilters {
    /// A contributor of the book (any role).
    pub author: Option<NameOrId<AuthorId>>,
    /// One of the book's genres (not its sub-genres).
    pub genre: Option<NameOrId<GenreId>>,
    /// ISO 639-1 code, lower case.
    pub language: Option<String>,
    pub format: Option<BookFormat>,
    /// The publisher's name, folded (matched ignoring case and repeated spaces).
    pub publisher: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// Minor units; books without a price never match a price filter.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// Only books with at least one copy on hand.
    pub in_stock: bool,
}

impl BookFilters {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A facet: a field whose values are counted over the whole result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Facet {
    Genre,
    Language,
    Format,
}

impl Facet {
    pub const ALL: [Facet; 3] = [Facet::Genre, Facet::Language, Facet::Format];

    pub fn as_str(&self) -> &'static str {
        match self {
            Facet::Genre => "genre",
            Facet::Language => "language",
            Facet::Format => "format",
        }
    }
}

impl FromStr for Facet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not a facet; use genre, language or format"))
    }
}

impl fmt::Display for Facet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many books of the result have one value of a facet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

/// The counts of one facet, most frequent first (ties by value), at most
/// [`MAX_FACET_VALUES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCounts {
    pub facet: Facet,
    pub values: Vec<FacetCount>,
}

/// A listed book and, when the list answers a text query, its relevance score (higher is
/// more relevant; comparable only within one result).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredBook {
    pub book: Book,
    pub score: Option<f64>,
}

/// A page of a book list or search.
#[derive(Debug, Clone, PartialEq)]
pub struct BookPage {
    pub items: Vec<ScoredBook>,
    pub next_cursor: Option<String>,
    /// The facets asked for, in the order asked; empty when none were.
    pub facets: Vec<FacetCounts>,
}

impl BookPage {
    /// The books of the page, without scores.
    pub fn books(&self) -> Vec<&Book> {
        self.items.iter().map(|s| &s.book).collect()
    }
}

/// Search parameters as a client sent them (query string values), before any check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBookSearch {
    pub q: Option<String>,
    pub author: Option<String>,
    pub genre: Option<String>,
    pub language: Option<String>,
    pub format: Option<String>,
    pub publisher: Option<String>,
    pub year_from: Option<i64>,
    pub year_to: Option<i64>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub in_stock: Option<bool>,
    /// Comma-separated facet names.
    pub facets: Option<String>,
}

/// The checked search part of a list request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookSearch {
    pub text: Option<TextQuery>,
    pub filters: BookFilters,
    pub facets: Vec<Facet>,
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn year(value: Option<i64>) -> Result<Option<i32>, String> {
    match value {
        None => Ok(None),
        Some(y) if (1..=9999).contains(&y) => Ok(Some(y as i32)),
        Some(_) => Err("must be a year between 1 and 9999".into()),
    }
}

fn price(value: Option<i64>) -> Result<Option<i64>, String> {
    match value {
        Some(p) if p < 0 => Err("must be a non-negative amount in minor units".into()),
        other => Ok(other),
    }
}

impl BookSearch {
    /// Checks every parameter and reports every bad one under its name.
    pub fn parse(raw: &RawBookSearch) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let text = match raw.q.as_deref() {
            None => None,
            Some(q) => {
                let chars = q.chars().count();
                if chars > MAX_QUERY_CHARS {
                    errors.add(
                        "q",
                        format!("must be at most {MAX_QUERY_CHARS} characters (got {chars})"),
                    );
                    None
                } else if q.trim().is_empty() {
                    None
                } else {
                    Some(TextQuery::parse(q))
                }
            }
        };
        let bounded = |field: &str, value: &Option<String>, errors: &mut ValidationErrors| {
            let v = non_blank(value)?;
            if v.chars().count() > 500 {
                errors.add(field, "must be at most 500 characters");
                return None;
            }
            Some(v.to_owned())
        };
        let author = bounded("author", &raw.author, &mut errors).map(|v| NameOrId::parse(&v));
        let genre = bounded("genre", &raw.genre, &mut errors).map(|v| NameOrId::parse(&v));
        let publisher = bounded("publisher", &raw.publisher, &mut errors).map(|v| fold_key(&v));
        let language = match non_blank(&raw.language) {
            None => None,
            Some(l) if l.len() == 2 && l.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(l.to_ascii_lowercase())
            }
            Some(_) => {
                errors.add(
                    "language",
                    "must be a two-letter ISO 639-1 code such as \"en\"",
                );
                None
            }
        };
        let format = match non_blank(&raw.format) {
            None => None,
            Some(f) => errors.check("format", f.parse::<BookFormat>()),
        };
        let year_from = errors.check("year_from", year(raw.year_from)).flatten();
        let year_to = errors.check("year_to", year(raw.year_to)).flatten();
        if let (Some(from), Some(to)) = (year_from, year_to) {
            if from > to {
                errors.add("year_from", "must not be after year_to");
            }
        }
        let price_min = errors.check("price_min", price(raw.price_min)).flatten();
        let price_max = errors.check("price_max", price(raw.price_max)).flatten();
        if let (Some(min), Some(max)) = (price_min, price_max) {
            if min > max {
                errors.add("price_min", "must not be above price_max");
            }
        }
        let mut facets = Vec::new();
        if let Some(list) = non_blank(&raw.facets) {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if let Some(facet) = errors.check("facets", name.parse::<Facet>()) {
                    if !facets.contains(&facet) {
                        facets.push(facet);
                    }
                }
            }
        }
        errors.into_result()?;
        Ok(Self {
            text,
            filters: BookFilters {
                author,
                genre,
                language,
                format,
                publisher,
                year_from,
                year_to,
                price_min,
                price_max,
                in_stock: raw.in_stock.unwrap_or(false),
            },
            facets,
        })
    }

    /// A stable digest of what selects the books (text and filters), so that a cursor of one
    /// search is not taken for another (FNV-1a, 64 bits).
    pub fn fingerprint(&self) -> String {
        let described = format!(
            "{:?}|{:?}",
            self.text.as_ref().map(|t| &t.raw),
            self.filters
        );
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in described.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Term {
        Term::Word {
            text: text.into(),
            prefix: false,
        }
    }

    fn prefix(text: &str) -> Term {
        Term::Word {
            text: text.into(),
            prefix: true,
        }
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS;
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("hobbit"));
    }

    #[test]
    fn web_search_syntax() {
        let q = TextQuery::parse(r#"tolkien "the two towers" -film hobbit or ring"#);
        assert_eq!(
            q.groups,
            vec![
                vec![word("tolkien")],
                vec![Term::Phrase(vec![
                    "the".into(),
                    "two".into(),
                    "towers".into()
                ])],
                vec![word("hobbit"), prefix("ring")],
            ]
        );
        assert_eq!(q.excluded, vec![word("film")]);
        assert_eq!(q.isbn, None);
    }

    #[test]
    fn last_word_is_a_prefix_unless_a_phrase_ends_the_query() {
        assert_eq!(
            TextQuery::parse("hobbi").groups,
            vec![vec![prefix("hobbi")]]
        );
        assert_eq!(
            TextQuery::parse("\"the hobbit\"").groups,
            vec![vec![Term::Phrase(vec!["the".into(), "hobbit".into()])]]
        );
        // A trailing exclusion: the last positive word is not being typed.
        let q = TextQuery::parse("hobbit -film");
        assert_eq!(q.groups, vec![vec![prefix("hobbit")]]);
    }

    #[test]
    fn one_or_two_letters_are_not_a_prefix() {
        assert_eq!(TextQuery::parse("tolkien j").groups[1], vec![word("j")]);
        assert_eq!(
            TextQuery::parse("tolkien hob").groups[1],
            vec![prefix("hob")]
        );
    }

    #[test]
    fn hyphenated_and_accented_words() {
        let q = TextQuery::parse("Saint-Exupéry");
        assert_eq!(
            q.groups,
            vec![vec![Term::Phrase(vec!["saint".into(), "exupéry".into()])]]
        );
        assert_eq!(q.positive_words(), ["saint", "exupéry"]);
    }

    #[test]
    fn isbns_in_any_hyphenation_are_found_and_removed() {
        for q in [
            "978-0-261-10334-4",
            "9780261103344",
            "0-261-10334-2",
            "0261103342",
            "hobbit 978-0261103344",
            "978 0 261 10334 4",
            "ISBN: 0-261-10334-2 tolkien",
            "isbn-13 978-0-261-10334-4",
        ] {
            let parsed = TextQuery::parse(q);
            assert_eq!(
                parsed.isbn.as_ref().map(|i| i.as_str()),
                Some("9780261103344"),
                "{q}"
            );
            assert!(parsed
                .positive_words()
                .iter()
                .all(|w| !w.chars().any(|c| c.is_ascii_digit()) && !w.starts_with("isbn")));
        }
        // A wrong check digit is not an ISBN: its digits stay words.
        assert_eq!(TextQuery::parse("9780261103345").isbn, None);
        assert_eq!(TextQuery::parse("1984").isbn, None);
    }

    #[test]
    fn adversarial_input_parses_to_words_or_nothing() {
        for q in [
            "",
            "\"",
            "\"\"\"",
            "-",
            "- -",
            "or",
            "OR OR",
            "NEAR(a b) AND NOT *",
            "'; DROP TABLE books; --",
            "a:* & !b | (c <-> d)",
            "\u{0}\u{1}\u{7f}",
            "📚🔥",
            "كتاب שלום",
        ] {
            let parsed = TextQuery::parse(q);
            for w in parsed.positive_words() {
                assert!(w.chars().all(char::is_alphanumeric), "{q:?}: {w:?}");
            }
        }
        assert!(!TextQuery::parse("📚🔥").has_text());
        assert_eq!(TextQuery::parse("كتاب").positive_words(), ["كتاب"]);
        let long = "word ".repeat(1000);
        let parsed = TextQuery::parse(&long);
        assert_eq!(parsed.groups.len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn similarity_like_pg_trgm() {
        assert!((trigram_similarity("tolkien", "tolkien") - 1.0).abs() < 1e-9);
        let s = trigram_similarity("tolkein", "tolkien");
        assert!((s - 4.0 / 12.0).abs() < 1e-9, "{s}");
        assert_eq!(trigram_similarity("abc", "xyz"), 0.0);
    }

    #[test]
    fn parameters_are_checked_together() {
        let err = BookSearch::parse(&RawBookSearch {
            q: Some("x".repeat(MAX_QUERY_CHARS + 1)),
            year_from: Some(2000),
            year_to: Some(1990),
            price_min: Some(500),
            price_max: Some(100),
            language: Some("english".into()),
            format: Some("scroll".into()),
            facets: Some("genre,colour".into()),
            ..RawBookSearch::default()
        })
        .expect_err("invalid");
        let fields: Vec<&str> = err.errors().iter().map(|e| e.field.as_str()).collect();
        for f in [
            "q",
            "year_from",
            "price_min",
            "language",
            "format",
            "facets",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }

        let ok = BookSearch::parse(&RawBookSearch {
            q: Some("  ".into()),
            author: Some(" J. R. R.  Tolkien ".into()),
            facets: Some("format, genre,format".into()),
            in_stock: Some(true),
            ..RawBookSearch::default()
        })
        .expect("valid");
        assert_eq!(ok.text, None);
        assert_eq!(
            ok.filters.author,
            Some(NameOrId::Name("j. r. r. tolkien".into()))
        );
        assert_eq!(ok.facets, vec![Facet::Format, Facet::Genre]);
        assert!(ok.filters.in_stock);
    }

    #[test]
    fn fingerprints_differ_by_query_and_filters() {
        let a = BookSearch::parse(&RawBookSearch {
            q: Some("hobbit".into()),
            ..RawBookSearch::default()
        })
        .expect("valid");
        let b = BookSearch::parse(&RawBookSearch {
            q: Some("hobbit".into()),
            in_stock: Some(true),
            ..RawBookSearch::default()
        })
        .expect("valid");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
