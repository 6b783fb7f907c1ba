//! The index's cursors, and the statistics a relevance search pins in them.
//!
//! BM25 scores depend on the whole index (how many books, how long their fields, how many
//! contain each word), which every commit changes; a keyset cursor of `(score, id)` would
//! then skip or repeat books when a write lands between two pages. The first page records
//! every statistic its scoring reads and the cursor carries them, so later pages score with
//! the same numbers (the SQLite store pins its bm25 statistics the same way).

use crate::collect::Position;
use crate::query::Pass;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// What the index's cursors start with, so that a store's cursor is never read as one.
const PREFIX: &str = "ix1.";

/// Statistics of one search's scoring.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pinned {
    #[serde(rename = "n")]
    pub docs: u64,
    /// Tokens per field id.
    #[serde(rename = "t")]
    pub tokens: BTreeMap<u32, u64>,
    /// Documents per term (field id, then the term's value bytes in base64).
    #[serde(rename = "d")]
    pub doc_freqs: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    /// The search's fingerprint (`BookSearch::fingerprint`) and sort.
    pub f: String,
    pub s: String,
    pub p: Pass,
    /// The last position of the page: key, and id as a decimal string (JSON has no u128).
    pub k: i64,
    pub i: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub st: Option<Pinned>,
}

impl Cursor {
    pub fn position(&self) -> Option<Position> {
        Some((self.k, self.i.parse().ok()?))
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// `None` when `text` is not an index cursor at all (a store's); `Some(Err)` when it is
    /// one that does not read.
    pub fn decode(text: &str) -> Option<Result<Self, ()>> {
        let body = text.strip_prefix(PREFIX)?;
        Some(
            URL_SAFE_NO_PAD
                .decode(body)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok())
                .ok_or(()),
        )
    }

    pub fn is_index_cursor(text: &str) -> bool {
        text.starts_with(PREFIX)
    }
}

/// Serves statistics from a pinned set where it has them, from the searcher otherwise, and
/// records what it served (the set the next page's cursor pins).
pub struct Recording<'a> {
    pub searcher: &'a Searcher,
    pub pinned: Mutex<Pinned>,
}

impl<'a> Recording<'a> {
    pub fn new(searcher: &'a Searcher, pinned: Option<Pinned>) -> Self {
        let pinned = pinned.unwrap_or_else(|| Pinned {
            docs: searcher.num_docs(),
            ..Pinned::default()
        });
        Self {
            searcher,
            pinned: Mutex::new(pinned),
        }
    }

    pub fn into_pinned(self) -> Pinned {
        self.pinned.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bm25StatisticsProvider for Recording<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = pinned.tokens.get(&field.field_id()) {
            return Ok((*n).max(1));
        }
        let n = self.searcher.total_num_tokens(field)?;
        pinned.tokens.insert(field.field_id(), n);
        Ok(n.max(1))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self
            .pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .docs
            .max(1))
    }

    // Pinned numbers come from a client's cursor: whatever they say, they are kept within
    // what BM25 takes (Tantivy asserts a term is in no more documents than there are).
    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let docs = self.total_num_docs()?;
        self.doc_freq_unchecked(term).map(|n| n.min(docs))
    }
}

impl Recording<'_> {
    fn doc_freq_unchecked(&self, term: &Term) -> tantivy::Result<u64> {
        let key = format!(
            "{}:{}",
            term.field().field_id(),
            URL_SAFE_NO_PAD.encode(term.serialized_value_bytes())
        );
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = pinned.doc_freqs.get(&key) {
            return Ok(*n);
        }
        let n = self.searcher.doc_freq(term)?;
        pinned.doc_freqs.insert(key, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_store_cursors_are_not_ours() {
        let c = Cursor {
            f: "abc".into(),
            s: "relevance".into(),
            p: Pass::Typo,
            k: -42,
            i: u128::MAX.to_string(),
            st: Some(Pinned::default()),
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text), Some(Ok(c.clone())));
        assert_eq!(c.position(), Some((-42, u128::MAX)));
        assert_eq!(Cursor::decode("eyJrIjoxfQ"), None);
        assert_eq!(Cursor::decode("ix1.!!"), Some(Err(())));
    }
}
