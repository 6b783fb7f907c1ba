//! Reorder quantities and the streamed reads of many books (the export and the books to
//! reorder), on both stores.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::location::DEFAULT_LOCATION;
use bookstore_core::{
    Book, BookDraft, BookSearch, CatalogStore, LocationDraft, LocationId, LocationRef,
    Precondition, RawBook, RawBookSearch, RawContributor, RawPrice, ReorderCandidate,
    StockMovementDraft,
};
use bookstore_store::testing;
use bookstore_store::Store;
use common::{ctx, isbn};
use futures_util::{StreamExt, TryStreamExt};
use std::sync::Arc;

contract!(
    reorder_quantity_is_kept_in_books_history_and_events,
    reorder_candidates_are_grouped_by_publisher_with_something_to_order,
    reorder_candidates_for_one_location_count_its_stock_and_its_shelves,
    export_streams_every_book_in_id_order,
    export_applies_the_filters_and_the_text_query,
    an_export_dropped_halfway_leaves_the_store_usable,
);

fn raw(n: u32, title: &str) -> RawBook {
    RawBook {
        isbn: Some(isbn(n)),
        title: Some(title.into()),
        ..RawBook::default()
    }
}

async fn create(cat: &Arc<dyn CatalogStore>, raw: &RawBook) -> Book {
    cat.create_book(&BookDraft::parse(raw).unwrap(), &ctx(), None)
        .await
        .unwrap()
}

fn search(raw: RawBookSearch) -> BookSearch {
    BookSearch::parse(&raw).unwrap()
}

async fn exported(cat: &Arc<dyn CatalogStore>, search: &BookSearch) -> Vec<Book> {
    cat.export_books(search).try_collect().await.unwrap()
}

async fn reorder_quantity_is_kept_in_books_history_and_events(store: &Store) {
    let cat = store.catalog();
    let book = create(
        &cat,
        &RawBook {
            reorder_point: Some(2),
            reorder_quantity: Some(6),
            ..raw(1, "The Hobbit")
        },
    )
    .await;
    assert_eq!(book.reorder_quantity.get(), 6);
    let read = cat.get_book(book.id).await.unwrap().unwrap();
    assert_eq!(read.reorder_quantity.get(), 6);
    let events = testing::outbox_events(store).await;
    assert_eq!(events[0]["data"]["reorder_quantity"], 6, "{}", events[0]);

    // A full replace without it sets it back to 0, like the reorder point.
    let replaced = cat
        .replace_book(
            book.id,
            &Precondition::version(1),
            &BookDraft::parse(&raw(1, "The Hobbit")).unwrap(),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(replaced.reorder_quantity.get(), 0);
    let history = cat
        .book_history(book.id, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        history.items[0].before.as_ref().unwrap()["reorder_quantity"],
        6
    );
    assert_eq!(
        history.items[0].after.as_ref().unwrap()["reorder_quantity"],
        0
    );
    let events = testing::outbox_events(store).await;
    assert_eq!(events[1]["data"]["reorder_quantity"], 0);

    // Never negative, in the database either.
    assert!(BookDraft::parse(&RawBook {
        reorder_quantity: Some(-1),
        ..raw(2, "Negative")
    })
    .is_err());
}

async fn reorder_candidates_are_grouped_by_publisher_with_something_to_order(store: &Store) {
    let cat = store.catalog();
    // (n, title, publisher, quantity, reorder point, reorder quantity)
    let books = [
        (1u32, "Zebra", Some("Ace"), 0i64, 2i64, 10i64),
        (2, "Apple", Some("Ace"), 2, 2, 5),
        (3, "Above", Some("Ace"), 3, 2, 5),
        (4, "Unset", Some("Ace"), 0, 0, 0),
        (5, "Nothing to order", Some("Ace"), 2, 2, 0),
        (6, "Lower case", Some("ace"), 1, 1, 1),
        (7, "Orphan", None, 0, 1, 0),
        (8, "Baen book", Some("Baen"), 1, 4, 0),
    ];
    for (n, title, publisher, quantity, point, reorder) in books {
        create(
            &cat,
            &RawBook {
                publisher: publisher.map(str::to_owned),
                quantity: Some(quantity),
                reorder_point: Some(point),
                reorder_quantity: Some(reorder),
                ..raw(n, title)
            },
        )
        .await;
    }
    let listed: Vec<ReorderCandidate> = cat.reorder_candidates(None).try_collect().await.unwrap();
    assert!(listed.iter().all(|c| c.location_quantity.is_none()));
    let seen: Vec<(Option<&str>, &str)> = listed
        .iter()
        .map(|c| (c.book.publisher.as_deref(), c.book.title.as_str()))
        .collect();
    // Bytewise: upper case before lower case; no publisher last; by title within one.
    assert_eq!(
        seen,
        [
            (Some("Ace"), "Apple"),
            (Some("Ace"), "Zebra"),
            (Some("Baen"), "Baen book"),
            (Some("ace"), "Lower case"),
            (None, "Orphan"),
        ]
    );
    let suggested: Vec<Option<i64>> = listed
        .iter()
        .map(ReorderCandidate::suggested_quantity)
        .collect();
    assert_eq!(suggested, [Some(5), Some(12), Some(3), Some(1), Some(1)]);
}

/// (title, total, stock at the location, suggested) of each candidate, in order.
async fn reorder_at(
    cat: &Arc<dyn CatalogStore>,
    location: Option<LocationId>,
) -> Vec<(String, i64, Option<i64>, Option<i64>)> {
    let listed: Vec<ReorderCandidate> = cat
        .reorder_candidates(location)
        .try_collect()
        .await
        .unwrap();
    listed
        .into_iter()
        .map(|c| {
            let suggested = c.suggested_quantity();
            (
                c.book.title.clone(),
                c.book.quantity.get(),
                c.location_quantity,
                suggested,
            )
        })
        .collect()
}

async fn reorder_candidates_for_one_location_count_its_stock_and_its_shelves(store: &Store) {
    let cat = store.catalog();
    let inv = store.inventory();
    let location = |code: &str, kind: &str, parent: Option<LocationId>| {
        LocationDraft::parse(
            Some(code),
            Some(code),
            Some(kind),
            parent.map(|p| p.to_string()).as_deref(),
        )
        .unwrap()
    };
    let north = inv
        .create_location(&location("north", "store", None), None)
        .await
        .unwrap();
    let shelf = inv
        .create_location(&location("north-a", "shelf", Some(north.id)), None)
        .await
        .unwrap();
    let empty = inv
        .create_location(&location("wh", "warehouse", None), None)
        .await
        .unwrap();
    let receive = |quantity: i64, code: &str| {
        StockMovementDraft::parse("receive", quantity, None)
            .unwrap()
            .at(LocationRef::Code(code.into()))
    };
    // (n, title, quantity at the default location, reorder point, reorder quantity)
    let mut books = Vec::new();
    for (n, title, quantity, point, reorder) in [
        (1u32, "A split", 4i64, 3i64, 5i64),
        (2, "B north only", 0, 2, 2),
        (3, "C none anywhere", 0, 1, 0),
    ] {
        let book = create(
            &cat,
            &RawBook {
                quantity: Some(quantity),
                reorder_point: Some(point),
                reorder_quantity: Some(reorder),
                ..raw(n, title)
            },
        )
        .await;
        books.push(book);
    }
    // A: 4 at main, 1 at north and 1 on its shelf: 6 in total. B: 5 at north.
    for (book, quantity, code) in [
        (&books[0], 1, "north"),
        (&books[0], 1, "north-a"),
        (&books[1], 5, "NORTH"),
    ] {
        cat.record_stock_movement(
            book.id,
            &Precondition::Any,
            &receive(quantity, code),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    }
    let row = |title: &str, total: i64, at: Option<i64>, suggested: i64| {
        (title.to_owned(), total, at, Some(suggested))
    };

    // In total, A and B are above their points.
    assert_eq!(
        reorder_at(&cat, None).await,
        [row("C none anywhere", 0, None, 1)]
    );
    // Main holds 4 of A (above 3) and none of B.
    assert_eq!(
        reorder_at(&cat, Some(DEFAULT_LOCATION)).await,
        [
            row("B north only", 5, Some(0), 4),
            row("C none anywhere", 0, Some(0), 1)
        ]
    );
    // North counts its shelf: 2 of A, ordered up to 3 + 5; 5 of B is above 2.
    assert_eq!(
        reorder_at(&cat, Some(north.id)).await,
        [
            row("A split", 6, Some(2), 6),
            row("C none anywhere", 0, Some(0), 1)
        ]
    );
    // The shelf alone: 1 of A, none of B.
    assert_eq!(
        reorder_at(&cat, Some(shelf.id)).await,
        [
            row("A split", 6, Some(1), 7),
            row("B north only", 5, Some(0), 4),
            row("C none anywhere", 0, Some(0), 1)
        ]
    );
    // A location without stock orders everything with something to order.
    assert_eq!(reorder_at(&cat, Some(empty.id)).await.len(), 3);

    // Found by code in any case, or by id; an unknown one is none.
    for asked in [LocationRef::Code("North".into()), LocationRef::Id(north.id)] {
        let found = inv.find_location(&asked).await.unwrap().unwrap();
        assert_eq!((found.id, found.code.as_str()), (north.id, "north"));
    }
    assert!(inv
        .find_location(&LocationRef::Code("south".into()))
        .await
        .unwrap()
        .is_none());
    assert!(inv
        .find_location(&LocationRef::Id(LocationId::generate()))
        .await
        .unwrap()
        .is_none());
}

async fn export_streams_every_book_in_id_order(store: &Store) {
    let cat = store.catalog();
    assert!(exported(&cat, &BookSearch::default()).await.is_empty());
    let mut created = Vec::new();
    for n in 0..300 {
        created.push(create(&cat, &raw(n, &format!("Book {n}"))).await.id);
    }
    let everything = BookSearch::default();
    let mut stream = cat.export_books(&everything);
    let mut ids = Vec::new();
    while let Some(book) = stream.next().await {
        ids.push(book.unwrap().id);
    }
    created.sort();
    assert_eq!(ids, created);
}

async fn export_applies_the_filters_and_the_text_query(store: &Store) {
    let cat = store.catalog();
    let author = |name: &str| RawContributor {
        name: Some(name.into()),
        ..RawContributor::default()
    };
    create(
        &cat,
        &RawBook {
            authors: vec![author("Ursula K. Le Guin")],
            publisher: Some("Ace".into()),
            language: Some("en".into()),
            quantity: Some(3),
            price: Some(RawPrice::Minor {
                amount_minor: 899,
                currency: "EUR".into(),
            }),
            ..raw(1, "The Left Hand of Darkness")
        },
    )
    .await;
    create(
        &cat,
        &RawBook {
            authors: vec![author("Ursula K. Le Guin")],
            publisher: Some("Harper".into()),
            published_year: Some(1974),
            ..raw(2, "The Dispossessed")
        },
    )
    .await;
    create(
        &cat,
        &RawBook {
            authors: vec![author("Frank Herbert")],
            publisher: Some("Ace".into()),
            language: Some("fr".into()),
            ..raw(3, "Dune")
        },
    )
    .await;
    let titles = |books: Vec<Book>| -> Vec<String> { books.into_iter().map(|b| b.title).collect() };
    let by = |raw: RawBookSearch| search(raw);
    assert_eq!(
        titles(
            exported(
                &cat,
                &by(RawBookSearch {
                    publisher: Some("ace".into()),
                    ..RawBookSearch::default()
                })
            )
            .await
        ),
        ["The Left Hand of Darkness", "Dune"]
    );
    assert_eq!(
        titles(
            exported(
                &cat,
                &by(RawBookSearch {
                    author: Some("ursula k. le guin".into()),
                    ..RawBookSearch::default()
                })
            )
            .await
        ),
        ["The Left Hand of Darkness", "The Dispossessed"]
    );
    // An author no book names: no book.
    let nobody = by(RawBookSearch {
        author: Some("Nobody".into()),
        ..RawBookSearch::default()
    });
    assert!(exported(&cat, &nobody).await.is_empty());
    let filtered = by(RawBookSearch {
        in_stock: Some(true),
        price_max: Some(1000),
        ..RawBookSearch::default()
    });
    assert_eq!(
        titles(exported(&cat, &filtered).await),
        ["The Left Hand of Darkness"]
    );
    let year = by(RawBookSearch {
        year_from: Some(1970),
        ..RawBookSearch::default()
    });
    assert_eq!(titles(exported(&cat, &year).await), ["The Dispossessed"]);
    let text = by(RawBookSearch {
        q: Some("dispossessed".into()),
        ..RawBookSearch::default()
    });
    assert_eq!(titles(exported(&cat, &text).await), ["The Dispossessed"]);
    let by_isbn = by(RawBookSearch {
        q: Some(isbn(3)),
        ..RawBookSearch::default()
    });
    assert_eq!(titles(exported(&cat, &by_isbn).await), ["Dune"]);
}

async fn an_export_dropped_halfway_leaves_the_store_usable(store: &Store) {
    let cat = store.catalog();
    for n in 0..40 {
        create(&cat, &raw(n, &format!("Book {n}"))).await;
    }
    for _ in 0..20 {
        let everything = BookSearch::default();
        let mut stream = cat.export_books(&everything);
        assert!(stream.next().await.unwrap().is_ok());
        // The client went away.
        drop(stream);
    }
    create(&cat, &raw(100, "After")).await;
    assert_eq!(exported(&cat, &BookSearch::default()).await.len(), 41);
}
