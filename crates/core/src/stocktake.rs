//! Stocktakes: a count of one location (and the shelves inside it), book by book, reviewed
//! against the stock on hand and committed as `count` movements in one transaction.
//!
//! A shop may stay open while it counts. Each count line remembers the stock at its location
//! when it was last counted (`on_hand_at_count`); what moved there after that (sales,
//! receipts) is shown beside it, and the commit sets the stock to what was counted plus what
//! moved since: a copy sold after its shelf was counted is not counted twice, and is not
//! "found" again either. The difference a commit applies is `counted - on_hand_at_count`.

use crate::book::MAX_QUANTITY;
use crate::ids::{BookId, LocationId, StocktakeId};
use crate::isbn::Isbn;
use crate::location::LocationRef;
use crate::text;
use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_NOTE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StocktakeState {
    Open,
    Committed,
    Cancelled,
}

impl StocktakeState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Committed => "committed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Committed, Self::Cancelled]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stocktake {
    pub id: StocktakeId,
    pub location_id: LocationId,
    /// The location's code when the stocktake was opened.
    pub location: String,
    pub note: Option<String>,
    pub state: StocktakeState,
    /// Goes up with every count, and with the commit or the cancel.
    pub version: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was committed or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    pub line_count: i64,
    /// A page of the count lines, by ISBN (left empty in lists).
    pub lines: Vec<StocktakeLine>,
    /// The cursor of the next page of lines, if there are more.
    pub lines_next_cursor: Option<String>,
}

/// One book counted at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StocktakeLine {
    pub book_id: BookId,
    /// `None` once the book is deleted.
    pub isbn: Option<String>,
    pub title: Option<String>,
    pub location_id: LocationId,
    pub location: String,
    pub counted: i64,
    /// When it was last counted.
    pub counted_at: DateTime<Utc>,
    /// The stock at the location then.
    pub on_hand_at_count: i64,
    /// The stock at the location now (while open), or at the commit.
    pub on_hand: i64,
    /// Copies sold at the location after the line was counted (until now, or the commit).
    pub sold_since_count: i64,
}

impl StocktakeLine {
    /// What moved at the location since the count (sales, receipts, ...).
    pub fn moved_since_count(&self) -> i64 {
        self.on_hand - self.on_hand_at_count
    }

    /// The stock the commit sets (or set): what was counted, plus what moved since.
    pub fn expected(&self) -> i64 {
        (self.counted + self.moved_since_count()).clamp(0, MAX_QUANTITY)
    }

    /// The difference the count makes: counted against the stock at count time.
    pub fn difference(&self) -> i64 {
        self.expected() - self.on_hand
    }
}

/// A stocktake as a client opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StocktakeDraft {
    location: Option<LocationRef>,
    note: Option<String>,
}

impl StocktakeDraft {
    pub fn parse(location: Option<&str>, note: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let location = location.and_then(|l| errors.check_all(LocationRef::parse("location", l)));
        let note = errors
            .check("note", text::optional(note, MAX_NOTE, true))
            .flatten();
        errors.into_result()?;
        Ok(Self { location, note })
    }

    /// `None`: the default location.
    pub fn location(&self) -> Option<&LocationRef> {
        self.location.as_ref()
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }
}

/// Which book a count is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountedBook {
    Isbn(Isbn),
    Id(BookId),
}

/// What a count does to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountChange {
    /// Sets the count.
    Set(i64),
    /// Adds to it (a scanner sends `add: 1` per scan; `add: -1` takes a wrong scan back).
    Add(i64),
}

/// One count as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountDraft {
    book: CountedBook,
    change: CountChange,
    location: Option<LocationRef>,
}

impl CountDraft {
    pub fn parse(
        isbn: Option<&str>,
        book_id: Option<&str>,
        counted: Option<i64>,
        add: Option<i64>,
        location: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let book = match (isbn, book_id) {
            (Some(isbn), None) => match Isbn::parse(isbn) {
                Ok(isbn) => Some(CountedBook::Isbn(isbn)),
                Err(err) => {
                    errors.add("isbn", err);
                    None
                }
            },
            (None, Some(id)) => match uuid::Uuid::parse_str(id.trim()) {
                Ok(id) => Some(CountedBook::Id(BookId::from_uuid(id))),
                Err(_) => {
                    errors.add("book_id", "must be a book id (UUID)");
                    None
                }
            },
            (None, None) => {
                errors.add("isbn", "is required (or book_id)");
                None
            }
            (Some(_), Some(_)) => {
                errors.add("book_id", "give isbn or book_id, not both");
                None
            }
        };
        let change = match (counted, add) {
            (Some(n), None) if (0..=MAX_QUANTITY).contains(&n) => Some(CountChange::Set(n)),
            (Some(_), None) => {
                errors.add("counted", format!("must be 0 to {MAX_QUANTITY}"));
                None
            }
            (None, Some(n)) if n != 0 && (-MAX_QUANTITY..=MAX_QUANTITY).contains(&n) => {
                Some(CountChange::Add(n))
            }
            (None, Some(_)) => {
                errors.add(
                    "add",
                    format!("must be a non-zero change, at most {MAX_QUANTITY} either way"),
                );
                None
            }
            (None, None) => {
                errors.add("counted", "is required (or add)");
                None
            }
            (Some(_), Some(_)) => {
                errors.add("add", "give counted or add, not both");
                None
            }
        };
        let location = location.and_then(|l| errors.check_all(LocationRef::parse("location", l)));
        errors.into_result()?;
        match (book, change) {
            (Some(book), Some(change)) => Ok(Self {
                book,
                change,
                location,
            }),
            _ => Err(ValidationErrors::single("isbn", "is required")),
        }
    }

    pub fn book(&self) -> &CountedBook {
        &self.book
    }

    pub fn change(&self) -> CountChange {
        self.change
    }

    /// `None`: the stocktake's own location.
    pub fn location(&self) -> Option<&LocationRef> {
        self.location.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_name_one_book_and_one_change() {
        let ok = CountDraft::parse(Some("978-0-261-10334-4"), None, None, Some(1), None)
            .expect("a scan");
        assert_eq!(ok.change(), CountChange::Add(1));
        for (isbn, id, counted, add) in [
            (None, None, Some(1), None),
            (Some("9780261103344"), Some("x"), Some(1), None),
            (Some("9780261103344"), None, None, None),
            (Some("9780261103344"), None, Some(1), Some(1)),
            (Some("9780261103344"), None, Some(-1), None),
            (Some("9780261103344"), None, None, Some(0)),
            (Some("123"), None, Some(1), None),
        ] {
            assert!(CountDraft::parse(isbn, id, counted, add, None).is_err());
        }
    }

    #[test]
    fn a_line_keeps_what_moved_since_its_count() {
        let line = StocktakeLine {
            book_id: BookId::generate(),
            isbn: None,
            title: None,
            location_id: LocationId::generate(),
            location: "main".into(),
            counted: 5,
            counted_at: Utc::now(),
            on_hand_at_count: 6,
            // Two sold after the count.
            on_hand: 4,
            sold_since_count: 2,
        };
        assert_eq!(line.moved_since_count(), -2);
        assert_eq!(line.expected(), 3);
        assert_eq!(line.difference(), -1);
    }
}
