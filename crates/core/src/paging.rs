//! Keyset pagination and list ordering. Cursors are opaque to everyone but the store.

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
}

impl BookSort {
    pub const ALL: [BookSort; 5] = [
        Self::UpdatedDesc,
        Self::Title,
        Self::Price,
        Self::PriceDesc,
        Self::PublishedYear,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UpdatedDesc => "-updated_at",
            Self::Title => "title",
            Self::Price => "price",
            Self::PriceDesc => "-price",
            Self::PublishedYear => "published_year",
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
