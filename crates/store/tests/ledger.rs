//! The stock ledger explains the stock, writes that change nothing write nothing, and a
//! rename reaches the books it changes (issue 11, points 1.2, 1.23 and 1.3), on both stores.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{
    AuthorDraft, Book, BookDraft, BookId, CatalogStore, GenreDraft, PageRequest, Precondition,
    Principal, RawBook, RawContributor, Role, StockMovement, StockMovementDraft, WriteContext,
};
use bookstore_store::{testing, Store};
use common::{ctx, isbn, Harness};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::Arc;

contract!(
    a_created_quantity_is_a_first_receipt,
    a_replace_without_quantity_leaves_the_stock_alone,
    an_edited_quantity_is_an_adjustment,
    a_replace_that_changes_nothing_writes_nothing,
    renaming_an_author_gives_its_books_a_new_version,
    renaming_a_genre_gives_its_books_a_new_version,
);

fn raw(n: u32, quantity: Option<i64>) -> RawBook {
    RawBook {
        isbn: Some(isbn(n)),
        title: Some(format!("Book {n}")),
        quantity,
        ..RawBook::default()
    }
}

fn bob() -> WriteContext {
    WriteContext {
        principal: Principal {
            subject: "u-2".into(),
            username: "bob".into(),
            role: Role::Admin,
        },
        request_id: Some("req-rename".into()),
        traceparent: None,
    }
}

async fn create(cat: &Arc<dyn CatalogStore>, raw: &RawBook) -> Book {
    cat.create_book(&BookDraft::parse(raw).unwrap(), &ctx(), None)
        .await
        .unwrap()
}

async fn replace(cat: &Arc<dyn CatalogStore>, book: &Book, raw: &RawBook) -> Book {
    cat.replace_book(
        book.id,
        &Precondition::Any,
        &BookDraft::parse(raw).unwrap(),
        &ctx(),
    )
    .await
    .unwrap()
}

/// Every movement of a book, oldest first.
async fn movements(cat: &Arc<dyn CatalogStore>, id: BookId) -> Vec<StockMovement> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = PageRequest {
            limit: bookstore_core::Limit::new(100).unwrap(),
            cursor,
        };
        let got = cat.stock_movements(id, &page).await.unwrap();
        all.extend(got.items);
        match got.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    all.reverse();
    all
}

/// The ledger's invariant: the movements of the book sum to its quantity, and the last one
/// says what is on hand.
async fn assert_explained(cat: &Arc<dyn CatalogStore>, id: BookId) -> Result<(), TestCaseError> {
    let book = cat.get_book(id).await.unwrap().unwrap();
    let moves = movements(cat, id).await;
    let sum: i64 = moves.iter().map(|m| m.delta).sum();
    prop_assert_eq!(sum, book.quantity.get(), "movements {:?}", moves);
    if let Some(last) = moves.last() {
        prop_assert_eq!(last.quantity_after, book.quantity.get());
    }
    Ok(())
}

async fn a_created_quantity_is_a_first_receipt(store: &Store) {
    let cat = store.catalog();
    let stocked = create(&cat, &raw(1, Some(7))).await;
    let moves = movements(&cat, stocked.id).await;
    assert_eq!(moves.len(), 1);
    let first = &moves[0];
    assert_eq!(
        (
            first.kind.as_str(),
            first.quantity,
            first.delta,
            first.quantity_after
        ),
        ("receive", 7, 7, 7)
    );
    assert_eq!(first.actor, "alice");
    // Nothing on hand, nothing received.
    let empty = create(&cat, &raw(2, None)).await;
    assert!(movements(&cat, empty.id).await.is_empty());
}

async fn a_replace_without_quantity_leaves_the_stock_alone(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, &raw(1, Some(7))).await;
    let retitled = RawBook {
        title: Some("Another title".into()),
        ..raw(1, None)
    };
    let after = replace(&cat, &book, &retitled).await;
    assert_eq!(after.quantity.get(), 7);
    assert_eq!(after.version, 2);
    assert_eq!(movements(&cat, book.id).await.len(), 1);
}

async fn an_edited_quantity_is_an_adjustment(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, &raw(1, Some(7))).await;
    let after = replace(&cat, &book, &raw(1, Some(3))).await;
    assert_eq!(after.quantity.get(), 3);
    let moves = movements(&cat, book.id).await;
    assert_eq!(moves.len(), 2);
    let edit = &moves[1];
    assert_eq!(
        (
            edit.kind.as_str(),
            edit.quantity,
            edit.delta,
            edit.quantity_after
        ),
        ("adjustment", -4, -4, 3)
    );
    assert_eq!(edit.reason.as_deref(), Some("edited"));
    // One transaction: one new version, one history row, one event.
    assert_eq!(testing::count_rows(store, "book_history").await, 2);
    assert_eq!(
        testing::outbox_event_types(store).await,
        ["bookstore.book.created", "bookstore.book.updated"]
    );
}

async fn a_replace_that_changes_nothing_writes_nothing(store: &Store) {
    let cat = store.catalog();
    let book = create(
        &cat,
        &RawBook {
            authors: vec![RawContributor {
                name: Some("Ursula K. Le Guin".into()),
                ..RawContributor::default()
            }],
            genres: vec!["Fantasy".into()],
            ..raw(1, Some(2))
        },
    )
    .await;
    // The book as it is, as a merge patch of `{}` produces it, and without a quantity.
    for same in [
        book.to_raw(),
        RawBook {
            quantity: None,
            ..book.to_raw()
        },
    ] {
        let after = replace(&cat, &book, &same).await;
        assert_eq!(after, book);
    }
    let current = cat.get_book(book.id).await.unwrap().unwrap();
    assert_eq!((current.version, current.updated_at), (1, book.updated_at));
    assert_eq!(testing::count_rows(store, "book_history").await, 1);
    assert_eq!(testing::count_rows(store, "outbox").await, 1);
    assert_eq!(testing::count_rows(store, "stock_movements").await, 1);
    // An old version is still refused, change or not.
    let stale = cat
        .replace_book(
            book.id,
            &Precondition::version(7),
            &BookDraft::parse(&book.to_raw()).unwrap(),
            &ctx(),
        )
        .await;
    assert!(stale.is_err());
}

async fn renaming_an_author_gives_its_books_a_new_version(store: &Store) {
    let cat = store.catalog();
    let named = |n: u32, names: &[&str]| RawBook {
        authors: names
            .iter()
            .map(|name| RawContributor {
                name: Some((*name).into()),
                ..RawContributor::default()
            })
            .collect(),
        ..raw(n, None)
    };
    let one = create(&cat, &named(1, &["Old Name", "Someone Else"])).await;
    let two = create(&cat, &named(2, &["Old Name"])).await;
    let other = create(&cat, &named(3, &["Someone Else"])).await;
    let author = one.authors[0].author_id;
    let history_before = testing::count_rows(store, "book_history").await;

    // A new biography changes no book.
    cat.update_author(
        author,
        &AuthorDraft::parse(Some("Old Name"), Some("A bio.")).unwrap(),
        &bob(),
    )
    .await
    .unwrap();
    assert_eq!(cat.get_book(one.id).await.unwrap().unwrap().version, 1);

    cat.update_author(
        author,
        &AuthorDraft::parse(Some("New Name"), Some("A bio.")).unwrap(),
        &bob(),
    )
    .await
    .unwrap();
    for book in [&one, &two] {
        let now = cat.get_book(book.id).await.unwrap().unwrap();
        assert_eq!(now.version, 2);
        assert_eq!(now.authors[0].name, "New Name");
        assert!(now.updated_at > book.updated_at);
        let history = cat
            .book_history(book.id, &PageRequest::default())
            .await
            .unwrap();
        let entry = &history.items[0];
        assert_eq!((entry.version, entry.actor.as_str()), (2, "bob"));
        assert_eq!(entry.request_id.as_deref(), Some("req-rename"));
        let before = entry.before.as_ref().unwrap();
        let after = entry.after.as_ref().unwrap();
        assert_eq!(before["authors"][0]["name"], "Old Name");
        assert_eq!(before["version"], 1);
        assert_eq!(after["authors"][0]["name"], "New Name");
        assert_eq!(after, &serde_json::to_value(&now).unwrap());
    }
    assert_eq!(cat.get_book(other.id).await.unwrap().unwrap().version, 1);
    assert_eq!(
        testing::count_rows(store, "book_history").await,
        history_before + 2
    );
    let events = testing::outbox_events(store).await;
    let updated: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "bookstore.book.updated")
        .collect();
    assert_eq!(updated.len(), 2);
    assert!(updated.iter().all(|e| e["version"] == 2));
}

async fn renaming_a_genre_gives_its_books_a_new_version(store: &Store) {
    let cat = store.catalog();
    let tagged = create(
        &cat,
        &RawBook {
            genres: vec!["Sci-Fi".into()],
            ..raw(1, None)
        },
    )
    .await;
    let untagged = create(&cat, &raw(2, None)).await;
    let genre = tagged.genres[0].id;
    // Moving the genre in the tree changes no book: books show genres by name.
    let parent = cat
        .create_genre(&GenreDraft::parse(Some("Fiction"), None).unwrap(), None)
        .await
        .unwrap();
    cat.update_genre(
        genre,
        &GenreDraft::parse(Some("Sci-Fi"), Some(&parent.id.to_string())).unwrap(),
        &bob(),
    )
    .await
    .unwrap();
    assert_eq!(cat.get_book(tagged.id).await.unwrap().unwrap().version, 1);
    cat.update_genre(
        genre,
        &GenreDraft::parse(Some("Science Fiction"), None).unwrap(),
        &bob(),
    )
    .await
    .unwrap();
    let now = cat.get_book(tagged.id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.genres[0].name.as_str()),
        (2, "Science Fiction")
    );
    let history = cat
        .book_history(tagged.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(history.items[0].actor, "bob");
    assert_eq!(
        history.items[0].before.as_ref().unwrap()["genres"][0]["name"],
        "Sci-Fi"
    );
    assert_eq!(cat.get_book(untagged.id).await.unwrap().unwrap().version, 1);
    assert_eq!(
        testing::outbox_event_types(store)
            .await
            .last()
            .map(String::as_str),
        Some("bookstore.book.updated")
    );
}

// ---------------------------------------------------------------------------------------------
// The invariant under random writes

#[derive(Debug, Clone)]
enum Op {
    Create {
        quantity: Option<i64>,
    },
    /// A full replace (a PUT; with the current quantity, a PATCH that leaves it).
    Replace {
        book: usize,
        quantity: Option<i64>,
        retitle: bool,
    },
    Move {
        book: usize,
        kind: &'static str,
        quantity: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let quantity = proptest::option::of(0i64..40);
    prop_oneof![
        quantity
            .clone()
            .prop_map(|quantity| Op::Create { quantity }),
        (any::<usize>(), quantity, any::<bool>()).prop_map(|(book, quantity, retitle)| {
            Op::Replace {
                book,
                quantity,
                retitle,
            }
        }),
        (
            any::<usize>(),
            prop::sample::select(vec!["receive", "sale", "return", "adjustment", "count"]),
            -20i64..30,
        )
            .prop_map(|(book, kind, quantity)| Op::Move {
                book,
                kind,
                quantity
            }),
    ]
}

async fn apply(cat: &Arc<dyn CatalogStore>, books: &mut Vec<BookId>, next_isbn: &mut u32, op: &Op) {
    match op {
        Op::Create { quantity } => {
            *next_isbn += 1;
            books.push(create(cat, &raw(*next_isbn, *quantity)).await.id);
        }
        Op::Replace {
            book,
            quantity,
            retitle,
        } => {
            let Some(id) = books.get(book % books.len().max(1)) else {
                return;
            };
            let current = cat.get_book(*id).await.unwrap().unwrap();
            let mut raw = current.to_raw();
            raw.quantity = *quantity;
            if *retitle {
                raw.title = Some(format!("{} again", current.title));
            }
            replace(cat, &current, &raw).await;
        }
        Op::Move {
            book,
            kind,
            quantity,
        } => {
            let Some(id) = books.get(book % books.len().max(1)) else {
                return;
            };
            let reason = Some("shelf check");
            // Invalid movements and oversales are refused; the ledger must hold either way.
            if let Ok(draft) = StockMovementDraft::parse(kind, *quantity, reason) {
                let _ = cat
                    .record_stock_movement(*id, &Precondition::Any, &draft, &ctx(), None)
                    .await;
            }
        }
    }
}

fn ledger_explains_the_stock(harness: Harness, runtime: &tokio::runtime::Runtime) {
    let cat = harness.store.catalog();
    let next_isbn = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..25), |ops| {
        runtime.block_on(async {
            let mut books = Vec::new();
            let mut isbn = next_isbn.get();
            for op in &ops {
                apply(&cat, &mut books, &mut isbn, op).await;
            }
            next_isbn.set(isbn);
            for id in &books {
                assert_explained(&cat, *id).await?;
            }
            Ok(())
        })
    });
    runtime.block_on(harness.finish());
    if let Err(err) = result {
        panic!("{err}");
    }
}

#[test]
fn sqlite_ledger_explains_the_stock_after_random_writes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(Harness::sqlite());
    ledger_explains_the_stock(harness, &runtime);
}

#[test]
fn postgres_ledger_explains_the_stock_after_random_writes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(Harness::postgres());
    ledger_explains_the_stock(harness, &runtime);
}
