//! What a search returns: the scored books of a page and the facet counts.

use crate::book::Book;
use std::fmt;
use std::str::FromStr;

/// Facet values returned per facet, most frequent first.
pub const MAX_FACET_VALUES: usize = 50;

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
