//! The words of a query: splitting it into tokens, and finding an ISBN in it.

use crate::isbn::Isbn;

/// Words longer than this are cut (no real word is; it bounds the work per term).
pub const MAX_WORD_CHARS: usize = 64;

pub(super) enum Token {
    Or,
    Term { negated: bool, words: Vec<String> },
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
pub(super) fn tokenize(s: &str) -> Vec<Token> {
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
pub(super) fn extract_isbn(q: &str) -> (Option<Isbn>, String) {
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

#[cfg(test)]
mod tests {
    use crate::search::TextQuery;

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
}
