//! bm25 for SQLite FTS5, with the corpus statistics pinned by the caller.
//!
//! FTS5's own `bm25()` reads the statistics of the whole index on every query: the number of
//! rows, their mean length and how many rows contain each phrase. They change with every
//! insert and delete, and so does every score; a result paginated on (score, id) then repeats
//! or skips rows between two pages. This crate computes the same bm25 (same formula, same
//! column weights, same `k1` and `b`) from statistics taken once — by [`CORPUS_FUNCTION`], on
//! a search's first page — and handed back on every later page: a row's score then depends
//! on the row alone, as PostgreSQL's `ts_rank_cd` does.
//!
//! Two FTS5 auxiliary functions, added to a connection by [`register`]:
//!
//! - `bookstore_corpus(fts)`: a blob of the statistics of the query it runs in (see
//!   [`Corpus::decode`]); run it on a single matching row.
//! - `bookstore_bm25(fts, avg_len, idfs, w0, w1, …)`: the row's score, higher is better (FTS5's
//!   `bm25()` is negated); `idfs` is [`encode_idfs`] of one weight per phrase of the query,
//!   `w0…` the weights of the columns (1 for a column without one).
//! - `bookstore_coverage(fts, column)`: the share (0 to 1) of the column's tokens that the
//!   query's phrases found in the row: 1 when a title is exactly the words searched.

mod functions;

pub use functions::{register, RegisterError};

/// The name of the function that scores a row.
pub const RANK_FUNCTION: &str = "bookstore_bm25";
/// The name of the function that reads the index's statistics.
pub const CORPUS_FUNCTION: &str = "bookstore_corpus";
/// The name of the function that tells how much of a column the query's phrases cover.
pub const COVERAGE_FUNCTION: &str = "bookstore_coverage";

/// Statistics of an FTS5 index for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Rows in the index.
    pub rows: i64,
    /// Tokens in all the rows, every column.
    pub tokens: i64,
    /// Rows that contain each phrase of the query, in the query's order.
    pub docs: Vec<i64>,
}

impl Corpus {
    pub(crate) fn encode(&self) -> Vec<u8> {
        [self.rows, self.tokens]
            .iter()
            .chain(&self.docs)
            .flat_map(|n| n.to_le_bytes())
            .collect()
    }

    /// The statistics in a blob of `bookstore_corpus`; `None` if it is not one.
    pub fn decode(blob: &[u8]) -> Option<Self> {
        let chunks = blob.chunks_exact(8);
        if !chunks.remainder().is_empty() || blob.len() < 16 {
            return None;
        }
        let mut numbers = chunks.map(|chunk| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            i64::from_le_bytes(bytes)
        });
        let rows = numbers.next()?;
        let tokens = numbers.next()?;
        Some(Self {
            rows,
            tokens,
            docs: numbers.collect(),
        })
    }

    /// The mean length of a row, in tokens.
    pub fn avg_len(&self) -> f64 {
        avg_len(self.rows, self.tokens)
    }
}

/// The mean length of a row of an index of `rows` rows and `tokens` tokens (1 for an empty
/// index): the `avg_len` argument of `bookstore_bm25`.
pub fn avg_len(rows: i64, tokens: i64) -> f64 {
    if rows > 0 && tokens > 0 {
        tokens as f64 / rows as f64
    } else {
        1.0
    }
}

/// The inverse document frequency of a phrase found in `docs` of `rows` rows, as FTS5's
/// `bm25()` computes it: never zero or negative (a phrase in more than half of the rows
/// still counts a little).
pub fn idf(rows: i64, docs: i64) -> f64 {
    let rows = rows.max(0) as f64;
    let docs = docs.clamp(0, i64::MAX) as f64;
    let idf = ((rows - docs + 0.5) / (docs + 0.5)).ln();
    if idf.is_finite() && idf > 0.0 {
        idf
    } else {
        1e-6
    }
}

/// The `idfs` argument of `bookstore_bm25`: one weight per phrase of the query (0 for a
/// phrase that must not count).
pub fn encode_idfs(idfs: &[f64]) -> Vec<u8> {
    idfs.iter().flat_map(|f| f.to_le_bytes()).collect()
}

pub(crate) fn decode_idfs(blob: &[u8]) -> impl Iterator<Item = f64> + '_ {
    blob.chunks_exact(8).map(|chunk| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let idf = f64::from_le_bytes(bytes);
        if idf.is_finite() {
            idf
        } else {
            0.0
        }
    })
}

/// FTS5's `bm25()` constants.
pub(crate) const K1: f64 = 1.2;
pub(crate) const B: f64 = 0.75;

/// The bm25 score of a row: `hits[i]` is the column-weighted count of phrase `i` in it,
/// `len` its length in tokens.
pub(crate) fn bm25(hits: &[f64], idfs: &[f64], len: f64, avg_len: f64) -> f64 {
    let avg_len = if avg_len.is_finite() && avg_len > 0.0 {
        avg_len
    } else {
        len.max(1.0)
    };
    let norm = K1 * (1.0 - B + B * len / avg_len);
    hits.iter()
        .zip(idfs)
        .filter(|(f, _)| **f > 0.0)
        .map(|(f, idf)| idf * f * (K1 + 1.0) / (f + norm))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_blobs_round_trip_and_reject_garbage() {
        let corpus = Corpus {
            rows: 1000,
            tokens: 52_000,
            docs: vec![3, 0, 999],
        };
        assert_eq!(Corpus::decode(&corpus.encode()), Some(corpus));
        assert_eq!(Corpus::decode(&[1, 2, 3]), None);
        assert_eq!(Corpus::decode(&[0; 8]), None);
    }

    #[test]
    fn idf_is_positive_even_for_a_phrase_in_every_row() {
        assert!(idf(1000, 1) > idf(1000, 100));
        assert_eq!(idf(1000, 1000), 1e-6);
        assert_eq!(idf(0, 5), 1e-6);
        assert!(idf(i64::MAX, -3).is_finite());
    }

    #[test]
    fn bm25_rewards_hits_and_short_rows() {
        let idfs = [2.0, 1.0];
        assert!(bm25(&[2.0, 0.0], &idfs, 10.0, 10.0) > bm25(&[1.0, 0.0], &idfs, 10.0, 10.0));
        assert!(bm25(&[1.0, 0.0], &idfs, 5.0, 10.0) > bm25(&[1.0, 0.0], &idfs, 50.0, 10.0));
        assert!(bm25(&[1.0, 0.0], &idfs, 10.0, 10.0) > bm25(&[0.0, 1.0], &idfs, 10.0, 10.0));
        assert_eq!(bm25(&[0.0, 0.0], &idfs, 10.0, 10.0), 0.0);
        assert!(bm25(&[1.0], &idfs, 10.0, 0.0).is_finite());
    }
}
