//! The search part of a list request: the parameters as sent, checked into text, filters and
//! facets.

use super::query::TextQuery;
use super::results::Facet;
use crate::book::BookFormat;
use crate::ids::{AuthorId, GenreId};
use crate::text::fold_key;
use crate::validation::ValidationErrors;
use uuid::Uuid;

/// The longest `q` accepted, in characters. Longer queries are rejected with a field error.
pub const MAX_QUERY_CHARS: usize = 1000;

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
    /// Only books without a `count` stock movement at or after this instant (rolling cycle
    /// counts: what is due for counting).
    pub not_counted_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl BookFilters {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
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
    /// An RFC 3339 instant.
    pub not_counted_since: Option<String>,
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
        let not_counted_since = match non_blank(&raw.not_counted_since) {
            None => None,
            Some(t) => errors.check(
                "not_counted_since",
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| "must be an RFC 3339 date and time, e.g. 2024-01-31T00:00:00Z"),
            ),
        };
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
                not_counted_since,
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
