//! Keyset pagination and list ordering. Cursors are opaque to everyone but the store.

use crate::search::BookSearch;
use crate::validation::ValidationErrors;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: Limit = Limit(20);
    pub const MAX: u32 = 100;

    pub fn new(value: i64) -> Result<Self, String> {
        if (1..=i64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as u32))
        } else {
            Err(format!("must be between 1 and {}", Self::MAX))
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Limit,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The orders a book list can be read in. Every order ends with the id, so it is total and
/// pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BookSort {
    #[default]
    UpdatedDesc,
    Title,
    Price,
    PriceDesc,
    PublishedYear,
    /// Most relevant first: only with a text query, where it is the default.
    Relevance,
}

impl BookSort {
    pub const ALL: [BookSort; 6] = [
        Self::UpdatedDesc,
        Self::Title,
        Self::Price,
        Self::PriceDesc,
        Self::PublishedYear,
        Self::Relevance,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UpdatedDesc => "-updated_at",
            Self::Title => "title",
            Self::Price => "price",
            Self::PriceDesc => "-price",
            Self::PublishedYear => "published_year",
            Self::Relevance => "relevance",
        }
    }
}

impl FromStr for BookSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sort| sort.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("'{s}' is not one of: {}", names.join(", "))
            })
    }
}

impl fmt::Display for BookSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookListQuery {
    pub page: PageRequest,
    pub sort: BookSort,
    /// Text query, filters and facets; all empty for a plain list.
    pub search: BookSearch,
}

impl BookListQuery {
    /// A list request: `sort` defaults to relevance when there is a text query and to
    /// `-updated_at` otherwise; relevance without a text query is an error.
    pub fn new(
        page: PageRequest,
        sort: Option<BookSort>,
        search: BookSearch,
    ) -> Result<Self, ValidationErrors> {
        let sort = match (sort, search.text.is_some()) {
            (None, true) => BookSort::Relevance,
            (None, false) => BookSort::default(),
            (Some(BookSort::Relevance), false) => {
                return Err(ValidationErrors::single(
                    "sort",
                    "relevance needs a text query (q)",
                ))
            }
            (Some(sort), _) => sort,
        };
        Ok(Self { page, sort, search })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(-1).is_err());
        assert!(Limit::new(1_000_000_000).is_err());
        assert_eq!(Limit::new(100).map(|l| l.get()), Ok(100));
    }

    #[test]
    fn sort_names_round_trip() {
        for sort in BookSort::ALL {
            assert_eq!(sort.as_str().parse::<BookSort>(), Ok(sort));
        }
        assert!("updated_at".parse::<BookSort>().is_err());
    }
}
