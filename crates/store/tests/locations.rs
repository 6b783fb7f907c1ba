//! Stock per location on both stores: the default location, the location tree and its rules,
//! movements at a location, transfers, and transfers racing sales at one source.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::location::DEFAULT_LOCATION;
use bookstore_core::{
    Book, BookDraft, InventoryStore, Limit, LocationDraft, LocationRef, PageRequest, Precondition,
    RawBook, StockMovementDraft, StockMovementKind, StoreError, TransferDraft,
};
use bookstore_store::{testing, Store};
use common::ctx;
use std::sync::Arc;

contract!(locations_keep_their_rules, stock_is_kept_per_location);

mod concurrent {
    use super::*;
    contract!(multi_thread; transfers_and_sales_never_take_a_source_below_zero);
}

fn location(code: &str, kind: &str) -> LocationDraft {
    LocationDraft::parse(Some(code), Some(&code.to_uppercase()), Some(kind), None).unwrap()
}

fn shelf(code: &str, parent: uuid::Uuid) -> LocationDraft {
    LocationDraft::parse(
        Some(code),
        Some("Shelf"),
        Some("shelf"),
        Some(&parent.to_string()),
    )
    .unwrap()
}

async fn book(store: &Store, isbn: &str, quantity: i64) -> Book {
    let draft = BookDraft::parse(&RawBook {
        isbn: Some(isbn.into()),
        title: Some("Stocked".into()),
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

fn at(kind: &str, quantity: i64, code: &str) -> StockMovementDraft {
    StockMovementDraft::parse(kind, quantity, None)
        .unwrap()
        .at(LocationRef::Code(code.into()))
}

fn transfer(from: &str, to: &str, quantity: i64) -> TransferDraft {
    TransferDraft::parse(Some(from), Some(to), quantity, None).unwrap()
}

async fn levels(inv: &dyn InventoryStore, book: &Book) -> Vec<(String, i64)> {
    inv.book_stock(book.id)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|l| (l.code, l.quantity))
        .collect()
}

/// Every level is explained by the movements at it, and none is negative.
async fn assert_ledger_agrees(store: &Store) {
    for (book, location, level, total) in testing::stock_ledger(store).await {
        assert_eq!(
            level.unwrap_or(0),
            total.unwrap_or(0),
            "book {book} at {location}"
        );
        assert!(level.unwrap_or(0) >= 0);
    }
}

async fn locations_keep_their_rules(store: &Store) {
    let inv = store.inventory();
    let page = inv.list_locations(&PageRequest::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].code, "main");
    assert!(page.items[0].is_default());

    let wh = inv
        .create_location(&location("WH-1", "warehouse"), None)
        .await
        .unwrap();
    assert_eq!(wh.code, "wh-1", "codes are kept in lower case");
    match inv.create_location(&location("wh-1", "store"), None).await {
        Err(StoreError::DuplicateName { entity, name }) => {
            assert_eq!((entity, name.as_str()), ("location", "wh-1"))
        }
        other => panic!("expected a duplicate code, got {other:?}"),
    }
    match inv
        .create_location(&shelf("a1", uuid::Uuid::now_v7()), None)
        .await
    {
        Err(StoreError::UnknownReference { field, .. }) => assert_eq!(field, "parent_id"),
        other => panic!("expected an unknown parent, got {other:?}"),
    }
    let a1 = inv
        .create_location(&shelf("a1", wh.id.as_uuid()), None)
        .await
        .unwrap();
    let a2 = inv
        .create_location(&shelf("a2", a1.id.as_uuid()), None)
        .await
        .unwrap();
    assert_eq!(a2.parent_id, Some(a1.id));
    // a1 inside a2, which is inside a1: a cycle.
    match inv
        .update_location(a1.id, &shelf("a1", a2.id.as_uuid()))
        .await
    {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "parent_id"),
        other => panic!("expected a cycle refused, got {other:?}"),
    }
    match inv
        .update_location(a1.id, &shelf("a1", a1.id.as_uuid()))
        .await
    {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("expected a cycle refused, got {other:?}"),
    }
    // The default one may be renamed, and keeps being the default.
    let renamed = inv
        .update_location(DEFAULT_LOCATION, &location("shop", "store"))
        .await
        .unwrap();
    assert!(renamed.is_default());
    assert_eq!(renamed.code, "shop");

    let conflict = |result: Result<(), StoreError>| match result {
        Err(StoreError::Conflict { problem, detail }) => {
            assert_eq!(problem, "in-use");
            detail
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    let detail = conflict(inv.delete_location(DEFAULT_LOCATION).await);
    assert!(detail.contains("default"), "{detail}");
    let detail = conflict(inv.delete_location(a1.id).await);
    assert!(detail.contains("inside it"), "{detail}");
    let b = book(store, "9780000000019", 0).await;
    store
        .catalog()
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &at("receive", 2, "a2"),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    let detail = conflict(inv.delete_location(a2.id).await);
    assert!(detail.contains("holds 2"), "{detail}");
    inv.transfer_stock(
        b.id,
        &Precondition::Any,
        &transfer("a2", "shop", 2),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    // Empty now: it goes, and then its parent can go too.
    inv.delete_location(a2.id).await.unwrap();
    inv.delete_location(a1.id).await.unwrap();
    assert!(inv.get_location(a2.id).await.unwrap().is_none());
    assert!(matches!(
        inv.delete_location(a2.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Its movements stay, under the code it had.
    let movements = store
        .catalog()
        .stock_movements(b.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(movements.items.last().unwrap().location, "a2");

    // Keyset pages, by code.
    for code in ["c", "b", "d"] {
        inv.create_location(&location(code, "store"), None)
            .await
            .unwrap();
    }
    let mut codes = Vec::new();
    let mut cursor = None;
    loop {
        let page = inv
            .list_locations(&PageRequest {
                limit: Limit::new(2).unwrap(),
                cursor,
            })
            .await
            .unwrap();
        codes.extend(page.items.into_iter().map(|l| l.code));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(codes, ["b", "c", "d", "shop", "wh-1"]);
    assert_ledger_agrees(store).await;
}

async fn stock_is_kept_per_location(store: &Store) {
    let cat = store.catalog();
    let inv = store.inventory();
    inv.create_location(&location("north", "store"), None)
        .await
        .unwrap();
    // A shop that never names a location: everything is at the default one.
    let b = book(store, "9780000000026", 4).await;
    assert_eq!(levels(inv.as_ref(), &b).await, [("main".to_owned(), 4)]);
    let (b, sale) = cat
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &StockMovementDraft::parse("sale", 1, None).unwrap(),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (sale.location.as_str(), sale.location_id),
        ("main", DEFAULT_LOCATION)
    );
    assert_eq!((sale.quantity_after, sale.location_quantity_after), (3, 3));

    let (b, receipt) = cat
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &at("receive", 5, "NORTH"),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(b.quantity.get(), 8, "the total over the locations");
    assert_eq!(
        (receipt.quantity_after, receipt.location_quantity_after),
        (8, 5)
    );
    match cat
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &at("sale", 6, "north"),
            &ctx(),
            None,
        )
        .await
    {
        Err(StoreError::InsufficientStock {
            available,
            requested,
        }) => assert_eq!((available, requested), (5, 6)),
        other => panic!("expected too little stock at north, got {other:?}"),
    }
    match cat
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &at("sale", 1, "south"),
            &ctx(),
            None,
        )
        .await
    {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.errors()[0].field, "location"),
        other => panic!("expected an unknown location, got {other:?}"),
    }
    // A count at one location sets that location's stock only.
    let (b, count) = cat
        .record_stock_movement(
            b.id,
            &Precondition::Any,
            &at("count", 2, "north"),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((count.delta, b.quantity.get()), (-3, 5));

    let (b, [out, into]) = inv
        .transfer_stock(
            b.id,
            &Precondition::Any,
            &transfer("main", "north", 2),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(b.quantity.get(), 5, "a transfer leaves the total as it is");
    assert_eq!(
        (
            out.kind,
            out.delta,
            out.location.as_str(),
            out.counterpart.as_deref()
        ),
        (StockMovementKind::Transfer, -2, "main", Some("north"))
    );
    assert_eq!(
        (
            into.delta,
            into.location.as_str(),
            into.location_quantity_after
        ),
        (2, "north", 4)
    );
    assert_eq!(
        levels(inv.as_ref(), &b).await,
        [("main".to_owned(), 1), ("north".to_owned(), 4)]
    );
    match inv
        .transfer_stock(
            b.id,
            &Precondition::Any,
            &transfer("main", "north", 2),
            &ctx(),
            None,
        )
        .await
    {
        Err(StoreError::InsufficientStock { available, .. }) => assert_eq!(available, 1),
        other => panic!("expected too little at the source, got {other:?}"),
    }
    match inv
        .transfer_stock(
            b.id,
            &Precondition::version(b.version - 1),
            &transfer("north", "main", 1),
            &ctx(),
            None,
        )
        .await
    {
        Err(StoreError::VersionMismatch { current }) => assert_eq!(current, b.version),
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    let same =
        TransferDraft::parse(Some("main"), Some(&DEFAULT_LOCATION.to_string()), 1, None).unwrap();
    assert!(matches!(
        inv.transfer_stock(b.id, &Precondition::Any, &same, &ctx(), None)
            .await,
        Err(StoreError::Invalid(_))
    ));

    // An edit of the quantity moves stock at the default location only.
    let edit = |quantity: i64| {
        BookDraft::parse(&RawBook {
            isbn: Some("9780000000026".into()),
            title: Some("Stocked".into()),
            quantity: Some(quantity),
            ..RawBook::default()
        })
        .unwrap()
    };
    match cat
        .replace_book(b.id, &Precondition::Any, &edit(3), &ctx())
        .await
    {
        Err(StoreError::Conflict { problem, detail }) => {
            assert_eq!(problem, "insufficient-stock");
            assert!(detail.contains("'main'"), "{detail}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let b = cat
        .replace_book(b.id, &Precondition::Any, &edit(7), &ctx())
        .await
        .unwrap();
    assert_eq!(
        levels(inv.as_ref(), &b).await,
        [("main".to_owned(), 3), ("north".to_owned(), 4)]
    );

    // The movements list names their locations, newest first.
    let movements = cat
        .stock_movements(b.id, &PageRequest::default())
        .await
        .unwrap();
    let listed: Vec<(&str, &str, i64)> = movements
        .items
        .iter()
        .map(|m| (m.kind.as_str(), m.location.as_str(), m.delta))
        .collect();
    assert_eq!(
        listed,
        [
            ("adjustment", "main", 2),
            ("transfer", "north", 2),
            ("transfer", "main", -2),
            ("count", "north", -3),
            ("receive", "north", 5),
            ("sale", "main", -1),
            ("receive", "main", 4),
        ]
    );
    assert_ledger_agrees(store).await;
    // A deleted book's levels go with it.
    cat.delete_book(b.id, &Precondition::Any, &ctx())
        .await
        .unwrap();
    assert!(inv.book_stock(b.id).await.unwrap().is_none());
    assert_eq!(testing::count_rows(store, "stock_levels").await, 0);
}

/// 200 concurrent transfers and sales of one copy each against a source holding 100: exactly
/// 100 succeed, the source ends at zero and never below, and the totals and the movements
/// agree afterwards.
async fn transfers_and_sales_never_take_a_source_below_zero(store: &Store) {
    let cat = store.catalog();
    let inv = store.inventory();
    for code in ["src", "dst"] {
        inv.create_location(&location(code, "store"), None)
            .await
            .unwrap();
    }
    let b = book(store, "9780000000033", 0).await;
    cat.record_stock_movement(
        b.id,
        &Precondition::Any,
        &at("receive", 100, "src"),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (cat, inv) = (Arc::clone(&cat), Arc::clone(&inv));
            tokio::spawn(async move {
                let result = if i % 2 == 0 {
                    inv.transfer_stock(
                        b.id,
                        &Precondition::Any,
                        &transfer("src", "dst", 1),
                        &ctx(),
                        None,
                    )
                    .await
                    .map(|_| ())
                } else {
                    cat.record_stock_movement(
                        b.id,
                        &Precondition::Any,
                        &at("sale", 1, "src"),
                        &ctx(),
                        None,
                    )
                    .await
                    .map(|_| ())
                };
                (i % 2 == 0, result)
            })
        })
        .collect();
    let (mut transfers, mut sales) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (true, Ok(())) => transfers += 1,
            (false, Ok(())) => sales += 1,
            (_, Err(StoreError::InsufficientStock { .. })) => {}
            (_, Err(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        transfers + sales,
        100,
        "exactly as many as the stock allows"
    );
    let after = cat.get_book(b.id).await.unwrap().unwrap();
    assert_eq!(after.quantity.get(), 100 - sales);
    // A location the book never reached has no level.
    let mut expected = vec![("dst".to_owned(), transfers), ("src".to_owned(), 0)];
    expected.retain(|(code, q)| code == "src" || *q > 0);
    assert_eq!(levels(inv.as_ref(), &after).await, expected);
    assert_eq!(
        testing::count_rows(store, "stock_movements").await,
        1 + sales + 2 * transfers
    );
    // Every movement left its location at zero or more.
    let mut page = PageRequest {
        limit: Limit::new(100).unwrap(),
        cursor: None,
    };
    loop {
        let movements = cat.stock_movements(b.id, &page).await.unwrap();
        assert!(movements
            .items
            .iter()
            .all(|m| m.location_quantity_after >= 0));
        match movements.next_cursor {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    assert_ledger_agrees(store).await;
}
