//! Books, and (in `draft`) the parsing of client input into a valid [`BookDraft`].

mod draft;

pub use draft::{
    AuthorRef, BookDraft, ContributorRef, GenreRef, RawBook, RawContributor, RawPrice,
};

use crate::ids::{AuthorId, BookId, GenreId};
use crate::isbn::Isbn;
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

pub const MAX_TITLE: usize = 500;
pub const MAX_DESCRIPTION: usize = 20_000;
pub const MAX_PUBLISHER: usize = 200;
pub const MAX_LOCATION: usize = 100;
pub const MAX_NAME: usize = 200;
pub const MAX_AUTHORS: usize = 50;
pub const MAX_GENRES: usize = 20;
pub const MAX_QUANTITY: i64 = 1_000_000_000;
pub const MAX_PAGE_COUNT: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookFormat {
    Hardcover,
    Paperback,
    Ebook,
    Audiobook,
    Other,
}

impl BookFormat {
    pub const ALL: [BookFormat; 5] = [
        Self::Hardcover,
        Self::Paperback,
        Self::Ebook,
        Self::Audiobook,
        Self::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hardcover => "hardcover",
            Self::Paperback => "paperback",
            Self::Ebook => "ebook",
            Self::Audiobook => "audiobook",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{0}' is not one of: {1}")]
pub struct UnknownVariant(String, &'static str);

impl UnknownVariant {
    /// `value` is not one of `allowed` (a list for the message).
    pub fn new(value: &str, allowed: &'static str) -> Self {
        Self(value.to_owned(), allowed)
    }
}

impl FromStr for BookFormat {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                UnknownVariant(
                    s.to_owned(),
                    "hardcover, paperback, ebook, audiobook, other",
                )
            })
    }
}

impl fmt::Display for BookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContributorRole {
    #[default]
    Author,
    Editor,
    Translator,
    Illustrator,
}

impl ContributorRole {
    pub const ALL: [ContributorRole; 4] = [
        Self::Author,
        Self::Editor,
        Self::Translator,
        Self::Illustrator,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Author => "author",
            Self::Editor => "editor",
            Self::Translator => "translator",
            Self::Illustrator => "illustrator",
        }
    }
}

impl FromStr for ContributorRole {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownVariant(s.to_owned(), "author, editor, translator, illustrator"))
    }
}

impl ContributorRole {
    /// A contributor as an item of a list in one text field (a CSV cell): the name, followed
    /// by ` (role)` unless the role is author, so that an export keeps the roles.
    pub fn label(self, name: &str) -> String {
        match self {
            Self::Author => name.to_owned(),
            role => format!("{name} ({})", role.as_str()),
        }
    }

    /// Reads [`ContributorRole::label`]'s form back: a trailing ` (editor)`, ` (translator)`,
    /// ` (illustrator)` or ` (author)` is the role; anything else is all name.
    pub fn parse_label(label: &str) -> (&str, Option<ContributorRole>) {
        let trimmed = label.trim();
        for role in Self::ALL {
            let suffix = format!(" ({})", role.as_str());
            if let Some(name) = trimmed.strip_suffix(suffix.as_str()) {
                if !name.trim().is_empty() {
                    return (name.trim_end(), Some(role));
                }
            }
        }
        (trimmed, None)
    }
}

/// A stock count: never negative.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error("must not be negative")]
    Negative,
    #[error("must be at most {MAX_QUANTITY}")]
    TooLarge,
}

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    pub fn new(value: i64) -> Result<Self, QuantityError> {
        if value < 0 {
            Err(QuantityError::Negative)
        } else if value > MAX_QUANTITY {
            Err(QuantityError::TooLarge)
        } else {
            Ok(Self(value))
        }
    }

    pub fn get(&self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = QuantityError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for i64 {
    fn from(q: Quantity) -> i64 {
        q.0
    }
}

/// A contributor as it appears on a book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributor {
    pub author_id: AuthorId,
    pub name: String,
    pub role: ContributorRole,
}

/// A genre as it appears on a book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreTag {
    pub id: GenreId,
    pub name: String,
}

/// A book as stored. Also the snapshot written to the audit history and into events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub id: BookId,
    pub isbn: Isbn,
    pub title: String,
    pub subtitle: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<Contributor>,
    pub genres: Vec<GenreTag>,
    pub publisher: Option<String>,
    pub published_year: Option<i32>,
    pub language: Option<String>,
    pub format: Option<BookFormat>,
    pub page_count: Option<i32>,
    pub price: Option<Money>,
    pub quantity: Quantity,
    pub reorder_point: Quantity,
    /// How many copies to order once the stock falls to the reorder point (see
    /// [`crate::reorder`]). Snapshots written before it existed read as 0.
    #[serde(default)]
    pub reorder_quantity: Quantity,
    pub location: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod label_tests {
    use super::ContributorRole;

    #[test]
    fn a_label_reads_back_as_its_name_and_role() {
        for role in ContributorRole::ALL {
            let label = role.label("Alan Lee");
            let (name, parsed) = ContributorRole::parse_label(&label);
            assert_eq!(name, "Alan Lee");
            assert_eq!(parsed.unwrap_or_default(), role);
        }
        assert_eq!(ContributorRole::Author.label("A (B)"), "A (B)");
        assert_eq!(ContributorRole::parse_label("A (B)"), ("A (B)", None));
        assert_eq!(
            ContributorRole::parse_label(" (editor)"),
            ("(editor)", None)
        );
    }
}
