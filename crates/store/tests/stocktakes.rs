//! Stocktakes on both stores: counting by ISBN and by id (set, and add per scan) at a location
//! and the shelves inside it, sales during the count shown and reconciled, the commit as
//! `count` movements with history and events, conflicts, cancelling, and
//! `not_counted_since`.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{
    Book, BookDraft, BookListQuery, BookSearch, CountDraft, Limit, LocationDraft, LocationRef,
    PageRequest, Precondition, RawBook, RawBookSearch, StockMovementDraft, StocktakeDraft,
    StocktakeState, StoreError,
};
use bookstore_store::{testing, Store};
use common::{ctx, isbn};

contract!(
    a_count_is_reconciled_and_committed,
    a_cancelled_stocktake_applies_nothing,
    the_lines_are_read_a_page_at_a_time
);

async fn book(store: &Store, isbn: &str, quantity: i64) -> Book {
    let draft = BookDraft::parse(&RawBook {
        isbn: Some(isbn.into()),
        title: Some(format!("Book {isbn}")),
        quantity: Some(quantity),
        ..RawBook::default()
    })
    .unwrap();
    store
        .catalog()
        .create_book(&draft, &ctx(), None)
        .await
        .unwrap()
}

fn scan(isbn: &str) -> CountDraft {
    CountDraft::parse(Some(isbn), None, None, Some(1), None).unwrap()
}

fn set(isbn: &str, counted: i64) -> CountDraft {
    CountDraft::parse(Some(isbn), None, Some(counted), None, None).unwrap()
}

async fn level(store: &Store, book: &Book, code: &str) -> i64 {
    store
        .inventory()
        .book_stock(book.id)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .find(|l| l.code == code)
        .map_or(0, |l| l.quantity)
}

async fn not_counted_since(store: &Store, since: &str) -> Vec<String> {
    let search = BookSearch::parse(&RawBookSearch {
        not_counted_since: Some(since.into()),
        ..RawBookSearch::default()
    })
    .unwrap();
    let query = BookListQuery::new(
        PageRequest {
            limit: Limit::new(100).unwrap(),
            cursor: None,
        },
        None,
        search,
    )
    .unwrap();
    let mut isbns: Vec<String> = store
        .catalog()
        .list_books(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.book.isbn.as_str().to_owned())
        .collect();
    isbns.sort();
    isbns
}

fn closed(result: Result<impl std::fmt::Debug, StoreError>) {
    match result {
        Err(StoreError::Conflict { problem, .. }) => assert_eq!(problem, "stocktake-closed"),
        other => panic!("expected the stocktake closed, got {other:?}"),
    }
}

async fn a_count_is_reconciled_and_committed(store: &Store) {
    let (cat, inv) = (store.catalog(), store.inventory());
    let main = inv
        .get_location(bookstore_core::location::DEFAULT_LOCATION)
        .await
        .unwrap()
        .unwrap();
    let shelf = LocationDraft::parse(
        Some("s1"),
        Some("Shelf 1"),
        Some("shelf"),
        Some(&main.id.to_string()),
    )
    .unwrap();
    inv.create_location(&shelf, None).await.unwrap();
    let north = LocationDraft::parse(Some("north"), Some("North"), Some("store"), None).unwrap();
    inv.create_location(&north, None).await.unwrap();
    let a = book(store, "9780000000019", 10).await;
    let b = book(store, "9780000000026", 0).await;
    let c = book(store, "9780000000033", 1).await;
    let receive_at_shelf = StockMovementDraft::parse("receive", 3, None)
        .unwrap()
        .at(LocationRef::Code("s1".into()));
    cat.record_stock_movement(b.id, &Precondition::Any, &receive_at_shelf, &ctx(), None)
        .await
        .unwrap();
    let before_counts = chrono::Utc::now().to_rfc3339();
    assert_eq!(
        not_counted_since(store, &before_counts).await,
        ["9780000000019", "9780000000026", "9780000000033"]
    );

    let take = inv
        .open_stocktake(
            &StocktakeDraft::parse(None, Some("year end")).unwrap(),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (take.location.as_str(), take.state),
        ("main", StocktakeState::Open)
    );
    assert_eq!((take.version, take.created_by.as_str()), (1, "alice"));
    // Four scans, then a recount that sets it.
    for _ in 0..4 {
        inv.record_count(take.id, &scan("978-0-00-000001-9"))
            .await
            .unwrap();
    }
    let (_, line) = inv
        .record_count(take.id, &scan("9780000000019"))
        .await
        .unwrap();
    assert_eq!((line.counted, line.on_hand_at_count), (5, 10));
    let (_, line) = inv
        .record_count(take.id, &set("9780000000019", 6))
        .await
        .unwrap();
    assert_eq!(line.counted, 6);
    // B by id, on the shelf inside the counted location.
    let on_shelf =
        CountDraft::parse(None, Some(&b.id.to_string()), Some(2), None, Some("s1")).unwrap();
    let (counted, line) = inv.record_count(take.id, &on_shelf).await.unwrap();
    assert_eq!((line.location.as_str(), line.on_hand_at_count), ("s1", 3));
    assert_eq!(counted.version, 8, "one version per count");

    // Refused: an unknown book, a location outside, a count below zero.
    match inv.record_count(take.id, &set("9780000000040", 1)).await {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "isbn"),
        other => panic!("expected an unknown book, got {other:?}"),
    }
    let outside =
        CountDraft::parse(Some("9780000000019"), None, Some(1), None, Some("north")).unwrap();
    match inv.record_count(take.id, &outside).await {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "location"),
        other => panic!("expected a location outside, got {other:?}"),
    }
    let too_few = CountDraft::parse(Some("9780000000019"), None, None, Some(-7), None).unwrap();
    match inv.record_count(take.id, &too_few).await {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "add"),
        other => panic!("expected a negative count refused, got {other:?}"),
    }
    // The location is being counted: it stays.
    match inv.delete_location(main.id).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }

    // The shop is open: two of A sell after A was counted.
    let sale = StockMovementDraft::parse("sale", 2, None).unwrap();
    cat.record_stock_movement(a.id, &Precondition::Any, &sale, &ctx(), None)
        .await
        .unwrap();
    let review = inv
        .get_stocktake(take.id, &PageRequest::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(review.line_count, 2);
    /// ISBN, counted, on hand at count, on hand, sold since, expected, difference.
    type Reviewed<'a> = (Option<&'a str>, i64, i64, i64, i64, i64, i64);
    let lines: Vec<Reviewed> = review
        .lines
        .iter()
        .map(|l| {
            (
                l.isbn.as_deref(),
                l.counted,
                l.on_hand_at_count,
                l.on_hand,
                l.sold_since_count,
                l.expected(),
                l.difference(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (Some("9780000000019"), 6, 10, 8, 2, 4, -4),
            (Some("9780000000026"), 2, 3, 3, 0, 2, -1),
        ]
    );

    // A stale version (the review before the last count) is refused; the current one commits.
    match inv
        .commit_stocktake(take.id, &Precondition::version(review.version - 1), &ctx())
        .await
    {
        Err(StoreError::VersionMismatch { current }) => assert_eq!(current, review.version),
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    let outbox_before = testing::count_rows(store, "outbox").await;
    let done = inv
        .commit_stocktake(take.id, &Precondition::version(review.version), &ctx())
        .await
        .unwrap();
    assert_eq!(done.state, StocktakeState::Committed);
    assert!(done.closed_at.is_some());
    assert_eq!(level(store, &a, "main").await, 4);
    assert_eq!(level(store, &b, "s1").await, 2);
    assert_eq!(cat.get_book(a.id).await.unwrap().unwrap().quantity.get(), 4);
    assert_eq!(
        testing::count_rows(store, "outbox").await - outbox_before,
        2,
        "one event per count movement"
    );
    let movements = cat
        .stock_movements(a.id, &PageRequest::default())
        .await
        .unwrap();
    let count = &movements.items[0];
    assert_eq!(
        (
            count.kind.as_str(),
            count.quantity,
            count.delta,
            count.location.as_str()
        ),
        ("count", 4, -4, "main")
    );
    assert_eq!(
        count.reason.as_deref(),
        Some(format!("stocktake {}", take.id).as_str())
    );
    // The lines keep what the commit saw.
    let after = inv
        .get_stocktake(take.id, &PageRequest::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (after.lines[0].on_hand, after.lines[0].sold_since_count),
        (8, 2)
    );
    cat.record_stock_movement(a.id, &Precondition::Any, &sale, &ctx(), None)
        .await
        .unwrap();
    let later = inv
        .get_stocktake(take.id, &PageRequest::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.lines[0].on_hand, 8, "frozen at the commit");

    // Counted books are not due any more; the one never counted is.
    assert_eq!(
        not_counted_since(store, &before_counts).await,
        ["9780000000033"]
    );
    let _ = c;

    // A committed stocktake takes nothing more.
    closed(
        inv.commit_stocktake(take.id, &Precondition::Any, &ctx())
            .await,
    );
    closed(inv.record_count(take.id, &scan("9780000000019")).await);
    closed(inv.cancel_stocktake(take.id).await);

    let listed = inv.list_stocktakes(&PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].lines.is_empty());
    assert_eq!(listed.items[0].line_count, 2);
}

async fn a_cancelled_stocktake_applies_nothing(store: &Store) {
    let inv = store.inventory();
    let a = book(store, "9780000000019", 5).await;
    let take = inv
        .open_stocktake(
            &StocktakeDraft::parse(Some("MAIN"), None).unwrap(),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    inv.record_count(take.id, &set("9780000000019", 1))
        .await
        .unwrap();
    // A location being counted stays until its stocktake is closed.
    let north = LocationDraft::parse(Some("north"), Some("North"), Some("store"), None).unwrap();
    let north = inv.create_location(&north, None).await.unwrap();
    let counting = inv
        .open_stocktake(
            &StocktakeDraft::parse(Some("north"), None).unwrap(),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    match inv.delete_location(north.id).await {
        Err(StoreError::Conflict { detail, .. }) => assert!(detail.contains("being counted")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    inv.cancel_stocktake(counting.id).await.unwrap();
    inv.delete_location(north.id).await.unwrap();

    let cancelled = inv.cancel_stocktake(take.id).await.unwrap();
    assert_eq!(cancelled.state, StocktakeState::Cancelled);
    closed(
        inv.commit_stocktake(take.id, &Precondition::Any, &ctx())
            .await,
    );
    closed(inv.cancel_stocktake(take.id).await);
    assert_eq!(level(store, &a, "main").await, 5);
    assert!(matches!(
        inv.open_stocktake(
            &StocktakeDraft::parse(Some("nowhere"), None).unwrap(),
            &ctx(),
            None
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        inv.commit_stocktake(
            bookstore_core::StocktakeId::generate(),
            &Precondition::Any,
            &ctx()
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    // Newest first, in keyset pages.
    let second = inv
        .open_stocktake(&StocktakeDraft::parse(None, None).unwrap(), &ctx(), None)
        .await
        .unwrap();
    let first_page = inv
        .list_stocktakes(&PageRequest {
            limit: Limit::new(1).unwrap(),
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(first_page.items[0].id, second.id);
    let next = inv
        .list_stocktakes(&PageRequest {
            limit: Limit::new(2).unwrap(),
            cursor: first_page.next_cursor,
        })
        .await
        .unwrap();
    let ids: Vec<_> = next.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, [counting.id, take.id]);
    assert!(next.next_cursor.is_none());
}

async fn the_lines_are_read_a_page_at_a_time(store: &Store) {
    let (cat, inv) = (store.catalog(), store.inventory());
    let take = inv
        .open_stocktake(&StocktakeDraft::parse(None, None).unwrap(), &ctx(), None)
        .await
        .unwrap();
    // Counted in an order that is not the ISBN order; one book is deleted after its count.
    let mut isbns: Vec<String> = Vec::new();
    for n in [7, 3, 12, 1, 9, 5, 11, 2, 8, 4, 10, 6] {
        let b = book(store, &isbn(n), 1).await;
        inv.record_count(take.id, &set(&isbn(n), 2)).await.unwrap();
        if n == 5 {
            cat.delete_book(b.id, &Precondition::Any, &ctx())
                .await
                .unwrap();
        } else {
            isbns.push(isbn(n));
        }
    }
    isbns.sort();

    let page = |cursor: Option<String>| PageRequest {
        limit: Limit::new(5).unwrap(),
        cursor,
    };
    let mut seen: Vec<Option<String>> = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let read = inv
            .get_stocktake(take.id, &page(cursor))
            .await
            .unwrap()
            .unwrap();
        pages += 1;
        assert!(read.lines.len() <= 5);
        assert_eq!(read.line_count, 12, "the count is of every line");
        seen.extend(read.lines.into_iter().map(|l| l.isbn));
        cursor = read.lines_next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    // Every line once, by ISBN; the deleted book's line (no ISBN any more) last.
    let mut expected: Vec<Option<String>> = isbns.into_iter().map(Some).collect();
    expected.push(None);
    assert_eq!(seen, expected);

    // A cursor of one stocktake's lines is not another's.
    let first = inv
        .get_stocktake(take.id, &page(None))
        .await
        .unwrap()
        .unwrap();
    // One open stocktake per location: the other counts another store.
    inv.create_location(
        &LocationDraft::parse(Some("north"), Some("North"), Some("store"), None).unwrap(),
        None,
    )
    .await
    .unwrap();
    let other = inv
        .open_stocktake(
            &StocktakeDraft::parse(Some("north"), None).unwrap(),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    match inv
        .get_stocktake(other.id, &page(first.lines_next_cursor))
        .await
    {
        Err(StoreError::InvalidCursor) => {}
        other => panic!("expected the cursor refused, got {other:?}"),
    }
}
