//! Single words: the stop words both engines drop, and trigram similarity for typo correction.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS;
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
        assert!(is_stop_word("the"));
        assert!(!is_stop_word("hobbit"));
    }

    #[test]
    fn similarity_like_pg_trgm() {
        assert!((trigram_similarity("tolkien", "tolkien") - 1.0).abs() < 1e-9);
        let s = trigram_similarity("tolkein", "tolkien");
        assert!((s - 4.0 / 12.0).abs() < 1e-9, "{s}");
        assert_eq!(trigram_similarity("abc", "xyz"), 0.0);
    }
}
