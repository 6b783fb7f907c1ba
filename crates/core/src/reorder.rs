//! Reorder suggestions: which books to order again, and how many copies.
//!
//! The rule is an (s, S) policy: a book whose stock on hand has fallen to its reorder point
//! `s` or below is ordered up to `s + reorder_quantity`. The suggestion is therefore never
//! less than `reorder_quantity`, and more when the stock fell below the point (sales between
//! two reports are made up). A book with nothing to order (at its point, with no reorder
//! quantity set) is left out.

use crate::book::Book;
use crate::error::StoreError;
use futures_core::Stream;
use std::pin::Pin;

/// Books read one at a time, in the order the store was asked for: what an export or a
/// report streams without holding the catalog in memory.
pub type BookStream<'a> = Pin<Box<dyn Stream<Item = Result<Book, StoreError>> + Send + 'a>>;

/// The copies to order of `book`: enough to reach its reorder point plus its reorder
/// quantity; `None` when it is above its reorder point or has nothing to order.
pub fn suggested_quantity(book: &Book) -> Option<i64> {
    let on_hand = book.quantity.get();
    let point = book.reorder_point.get();
    if on_hand > point {
        return None;
    }
    // Both are at most MAX_QUANTITY: no overflow.
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

    #[test]
    fn orders_up_to_the_point_plus_the_reorder_quantity() {
        // At the point: the reorder quantity.
        assert_eq!(suggested_quantity(&book(2, 2, 10)), Some(10));
        // Below it: what was sold below the point as well.
        assert_eq!(suggested_quantity(&book(0, 2, 10)), Some(12));
        // No reorder quantity: back up to the point.
        assert_eq!(suggested_quantity(&book(1, 3, 0)), Some(2));
        // Above the point: nothing.
        assert_eq!(suggested_quantity(&book(3, 2, 10)), None);
        // At the point with nothing to order (a new book with no settings): left out.
        assert_eq!(suggested_quantity(&book(0, 0, 0)), None);
        assert_eq!(suggested_quantity(&book(2, 2, 0)), None);
    }
}
