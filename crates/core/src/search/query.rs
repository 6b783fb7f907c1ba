//! The text query: web-search syntax parsed into groups of words and phrases.

use super::lex::{extract_isbn, tokenize, Token};
use super::words::is_stop_word;
use crate::isbn::Isbn;

/// At most this many words and phrases of a query are used; the rest is ignored.
pub const MAX_QUERY_TERMS: usize = 32;
/// A last word shorter than this is not a prefix: one or two letters would match a good share
/// of every word there is.
pub const MIN_PREFIX_CHARS: usize = 3;

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
}
