//! Reorder suggestions: which books to order again, and how many copies.
//!
//! The rule is an (s, S) policy: a book whose stock on hand has fallen to its reorder point
//! `s` or below is ordered up to `s + reorder_quantity`. The suggestion is therefore never
//! less than `reorder_quantity`, and more when the stock fell below the point (sales between
//! two reports are made up). A book with nothing to order (at its point, with no reorder
//! quantity set) is left out.
//!
//! The stock on hand is the book's total over all locations, or, for one store, the stock at
//! that location and the shelves inside it: each store reorders for itself.

use crate::book::Book;
use crate::error::StoreError;
use futures_core::Stream;
use std::pin::Pin;

/// Items read one at a time, in the order the store was asked for: what an export or a
/// report streams without holding the catalog in memory.
pub type ItemStream<'a, T> = Pin<Box<dyn Stream<Item = Result<T, StoreError>> + Send + 'a>>;

/// Books, streamed (see [`ItemStream`]).
pub type BookStream<'a> = ItemStream<'a, Book>;

/// Books to reorder, streamed (see [`ItemStream`]).
pub type ReorderStream<'a> = ItemStream<'a, ReorderCandidate>;

/// A book that may need ordering, with the stock the suggestion is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderCandidate {
    /// The book; its `quantity` is the total over all locations.
    pub book: Book,
    /// The stock at the location asked for, the shelves inside it included; `None` when no
    /// location was asked for (the total counts).
    pub location_quantity: Option<i64>,
}

impl ReorderCandidate {
    /// A candidate judged by the book's total stock.
    pub fn total(book: Book) -> Self {
        Self {
            book,
            location_quantity: None,
        }
    }

    /// The stock compared with the reorder point: at the location, or the total.
    pub fn on_hand(&self) -> i64 {
        self.location_quantity
            .unwrap_or_else(|| self.book.quantity.get())
    }

    /// The copies to order: see [`suggested_quantity`].
    pub fn suggested_quantity(&self) -> Option<i64> {
        suggested_quantity(&self.book, self.on_hand())
    }
}

/// The copies of `book` to order when `on_hand` copies are there: enough to reach its reorder
/// point plus its reorder quantity; `None` when it is above its reorder point or has nothing
/// to order.
pub fn suggested_quantity(book: &Book, on_hand: i64) -> Option<i64> {
    let point = book.reorder_point.get();
    if on_hand > point {
        return None;
    }
    // Both are at most MAX_QUANTITY, and on hand at least 0: no overflow.
    let suggested = point + book.reorder_quantity.get() - on_hand;
    (suggested > 0).then_some(suggested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookDraft, Quantity, RawBook};
    use crate::fakes::book_from;

    fn book(quantity: i64, point: i64, reorder: i64) -> Book {
        let draft = BookDraft::parse(&RawBook {
            isbn: Some("9780261103344".into()),
            title: Some("The Hobbit".into()),
            ..RawBook::default()
        })
        .expect("valid");
        Book {
            quantity: Quantity::new(quantity).expect("quantity"),
            reorder_point: Quantity::new(point).expect("point"),
            reorder_quantity: Quantity::new(reorder).expect("reorder quantity"),
            ..book_from(&draft)
        }
    }

    fn suggested(book: &Book) -> Option<i64> {
        ReorderCandidate::total(book.clone()).suggested_quantity()
    }

    #[test]
    fn orders_up_to_the_point_plus_the_reorder_quantity() {
        // At the point: the reorder quantity.
        assert_eq!(suggested(&book(2, 2, 10)), Some(10));
        // Below it: what was sold below the point as well.
        assert_eq!(suggested(&book(0, 2, 10)), Some(12));
        // No reorder quantity: back up to the point.
        assert_eq!(suggested(&book(1, 3, 0)), Some(2));
        // Above the point: nothing.
        assert_eq!(suggested(&book(3, 2, 10)), None);
        // At the point with nothing to order (a new book with no settings): left out.
        assert_eq!(suggested(&book(0, 0, 0)), None);
        assert_eq!(suggested(&book(2, 2, 0)), None);
    }

    #[test]
    fn a_location_judges_by_its_own_stock() {
        // Plenty in total, little at this store: order for the store.
        let at_store = ReorderCandidate {
            book: book(20, 3, 5),
            location_quantity: Some(1),
        };
        assert_eq!(at_store.on_hand(), 1);
        assert_eq!(at_store.suggested_quantity(), Some(7));
        // Above the point at the store: nothing, however low the total would be elsewhere.
        let stocked = ReorderCandidate {
            book: book(20, 3, 5),
            location_quantity: Some(4),
        };
        assert_eq!(stocked.suggested_quantity(), None);
        // Nothing at the location at all.
        let empty = ReorderCandidate {
            book: book(9, 2, 0),
            location_quantity: Some(0),
        };
        assert_eq!(empty.suggested_quantity(), Some(2));
    }
}
