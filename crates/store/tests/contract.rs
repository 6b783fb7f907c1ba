//! The store contract: one suite of cases, each written once against a [`Store`], run against
//! SQLite (a temporary directory) and PostgreSQL (a fresh database per test).
//!
//! PostgreSQL tests need a server: `BOOKSTORE_TEST_DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`.

// Test code: the cases are plain `async fn`s called by the generated `#[tokio::test]`s, which
// clippy's `allow-unwrap-in-tests` does not see as tests.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;
use common::isbn;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::{
    AuthorDraft, Book, BookDraft, BookId, BookListQuery, BookSort, CatalogStore, ContributorRole,
    GenreDraft, GenreId, HistoryAction, IdempotencyRequest, Isbn, Limit, PageRequest, Precondition,
    Principal, RawBook, RawContributor, RawPrice, Role, StoreError, WriteContext,
};
use bookstore_store::testing;
use bookstore_store::{Backend, OpenError, Store, StoreConfig};
use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness

contract!(
    create_get_round_trip,
    minimal_book_round_trip,
    authors_and_genres_by_name_are_reused_in_order,
    unknown_reference_writes_nothing,
    duplicate_isbn_writes_nothing,
    replace_checks_precondition_and_records_history,
    delete_keeps_history_and_emits_events_in_order,
    idempotency_record_is_written_with_the_book,
    pagination_walks_every_sort_without_gaps,
    foreign_and_garbage_cursors_are_rejected,
    history_is_paginated_newest_first,
    author_crud_and_rules,
    genre_crud_and_rules,
    unicode_titles_sort_bytewise,
    concurrent_creates_share_a_new_author,
    ready_once_migrated,
    stock_movements_apply_and_are_recorded,
    stock_never_goes_below_zero_under_concurrent_sales,
    low_stock_lists_books_at_or_below_their_reorder_point,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn ctx() -> WriteContext {
    WriteContext {
        principal: Principal {
            subject: "u-1".into(),
            username: "alice".into(),
            role: Role::Admin,
        },
        request_id: Some("req-1".into()),
        traceparent: None,
    }
}

fn raw(n: u32, title: &str) -> RawBook {
    RawBook {
        isbn: Some(isbn(n)),
        title: Some(title.into()),
        ..RawBook::default()
    }
}

fn draft(raw: &RawBook) -> BookDraft {
    BookDraft::parse(raw).unwrap()
}

fn author(name: &str) -> RawContributor {
    RawContributor {
        name: Some(name.into()),
        ..RawContributor::default()
    }
}

fn contributor(name: &str, role: &str) -> RawContributor {
    RawContributor {
        name: Some(name.into()),
        role: Some(role.into()),
        ..RawContributor::default()
    }
}

fn author_id(id: impl ToString) -> RawContributor {
    RawContributor {
        id: Some(id.to_string()),
        ..RawContributor::default()
    }
}

fn eur(amount_minor: i64) -> Option<RawPrice> {
    Some(RawPrice::Minor {
        amount_minor,
        currency: "EUR".into(),
    })
}

fn page(limit: i64, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        cursor,
    }
}

fn json(book: &Book) -> serde_json::Value {
    serde_json::to_value(book).unwrap()
}

async fn create(cat: &Arc<dyn CatalogStore>, raw: &RawBook) -> Book {
    cat.create_book(&draft(raw), &ctx(), None).await.unwrap()
}

async fn counts(store: &Store, tables: &[&str]) -> Vec<i64> {
    let mut out = Vec::new();
    for table in tables {
        out.push(testing::count_rows(store, table).await);
    }
    out
}

const WRITE_TABLES: &[&str] = &testing::CATALOG_TABLES;

// ---------------------------------------------------------------------------------------------
// Cases

async fn create_get_round_trip(store: &Store) {
    let cat = store.catalog();
    let raw = RawBook {
        subtitle: Some("A Novel".into()),
        description: Some("Winter.\nA planet of one gender.".into()),
        authors: vec![
            author("Ursula K. Le Guin"),
            contributor("Alan Lee", "illustrator"),
        ],
        genres: vec!["Science Fiction".into(), "Classics".into()],
        publisher: Some("Ace".into()),
        published_year: Some(1969),
        language: Some("EN".into()),
        format: Some("paperback".into()),
        page_count: Some(304),
        price: eur(1299),
        quantity: Some(7),
        reorder_point: Some(2),
        location: Some("A-3".into()),
        ..raw(1, "The Left Hand of Darkness")
    };
    let book = create(&cat, &raw).await;

    assert_eq!(book.version, 1);
    assert_eq!(book.created_at, book.updated_at);
    assert_eq!(book.created_at.timestamp_subsec_nanos() % 1_000, 0);
    assert_eq!(book.isbn.as_str(), isbn(1));
    assert_eq!(book.language.as_deref(), Some("en"));
    assert_eq!(book.price.map(|p| p.amount_minor()), Some(1299));
    assert_eq!(book.quantity.get(), 7);
    let names: Vec<(&str, ContributorRole)> = book
        .authors
        .iter()
        .map(|c| (c.name.as_str(), c.role))
        .collect();
    assert_eq!(
        names,
        [
            ("Ursula K. Le Guin", ContributorRole::Author),
            ("Alan Lee", ContributorRole::Illustrator)
        ]
    );
    let genres: Vec<&str> = book.genres.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(genres, ["Science Fiction", "Classics"]);

    assert_eq!(cat.get_book(book.id).await.unwrap(), Some(book.clone()));
    assert_eq!(
        cat.get_book_by_isbn(&book.isbn).await.unwrap(),
        Some(book.clone())
    );
    assert_eq!(cat.get_book(BookId::generate()).await.unwrap(), None);
    let other = Isbn::parse(&isbn(2)).unwrap();
    assert_eq!(cat.get_book_by_isbn(&other).await.unwrap(), None);

    let history = cat.book_history(book.id, &page(10, None)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.next_cursor, None);
    let entry = &history.items[0];
    assert_eq!(entry.book_id, book.id);
    assert_eq!(entry.action, HistoryAction::Created);
    assert_eq!(entry.version, 1);
    assert_eq!(entry.actor, "alice");
    assert_eq!(entry.request_id.as_deref(), Some("req-1"));
    assert_eq!(entry.at, book.created_at);
    assert_eq!(entry.before, None);
    assert_eq!(entry.after, Some(json(&book)));

    let events = testing::outbox_events(store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "bookstore.book.created");
    assert_eq!(events[0]["subject"], book.id.to_string());
    assert_eq!(events[0]["version"], 1);
    assert_eq!(events[0]["data"], json(&book));
}

async fn minimal_book_round_trip(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, &raw(3, "Untitled")).await;
    assert!(book.authors.is_empty() && book.genres.is_empty());
    assert_eq!(book.price, None);
    assert_eq!(cat.get_book(book.id).await.unwrap(), Some(book));
    assert_eq!(
        counts(store, &["authors", "genres", "book_authors"]).await,
        [0, 0, 0]
    );
}

async fn authors_and_genres_by_name_are_reused_in_order(store: &Store) {
    let cat = store.catalog();
    let first = create(
        &cat,
        &RawBook {
            authors: vec![author("Terry Pratchett"), author("Neil Gaiman")],
            genres: vec!["Fantasy".into()],
            ..raw(10, "Good Omens")
        },
    )
    .await;
    let pratchett = first.authors[0].author_id;
    let gaiman = first.authors[1].author_id;
    assert_ne!(pratchett, gaiman);

    let second = create(
        &cat,
        &RawBook {
            authors: vec![
                contributor("NEIL   GAIMAN", "editor"),
                author("terry pratchett"),
                contributor("Neil Gaiman", "author"),
            ],
            genres: vec!["Humour".into(), "  fantasy ".into()],
            ..raw(11, "Anthology")
        },
    )
    .await;
    let got: Vec<_> = second
        .authors
        .iter()
        .map(|c| (c.author_id, c.name.as_str(), c.role))
        .collect();
    assert_eq!(
        got,
        [
            (gaiman, "Neil Gaiman", ContributorRole::Editor),
            (pratchett, "Terry Pratchett", ContributorRole::Author),
            (gaiman, "Neil Gaiman", ContributorRole::Author),
        ]
    );
    assert_eq!(second.genres[1].id, first.genres[0].id);
    assert_eq!(second.genres[1].name, "Fantasy");
    assert_eq!(second.genres[0].name, "Humour");
    assert_eq!(cat.get_book(second.id).await.unwrap(), Some(second.clone()));
    assert_eq!(counts(store, &["authors", "genres"]).await, [2, 2]);

    // By id, and an order that is not alphabetical.
    let third = create(
        &cat,
        &RawBook {
            authors: vec![author("Zed Zulu"), author_id(gaiman), author("Amy Alpha")],
            ..raw(12, "Ordered")
        },
    )
    .await;
    let names: Vec<&str> = third.authors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Zed Zulu", "Neil Gaiman", "Amy Alpha"]);
    assert_eq!(cat.get_book(third.id).await.unwrap(), Some(third));

    // The same author (genre) by id and by name is listed once.
    let fourth = create(
        &cat,
        &RawBook {
            authors: vec![author_id(gaiman), author("neil gaiman")],
            genres: vec![first.genres[0].id.to_string(), "FANTASY".into()],
            ..raw(13, "Deduplicated")
        },
    )
    .await;
    assert_eq!(fourth.authors.len(), 1);
    assert_eq!(fourth.genres.len(), 1);
    assert_eq!(cat.get_book(fourth.id).await.unwrap(), Some(fourth));

    let gaiman = cat.get_author(gaiman).await.unwrap().unwrap();
    assert_eq!(gaiman.book_count, 4);
    let pratchett = cat.get_author(pratchett).await.unwrap().unwrap();
    assert_eq!(pratchett.book_count, 2);
    let fantasy = cat.get_genre(first.genres[0].id).await.unwrap().unwrap();
    assert_eq!(fantasy.book_count, 3);
}

async fn unknown_reference_writes_nothing(store: &Store) {
    let cat = store.catalog();
    let missing = Uuid::now_v7();
    let err = cat
        .create_book(
            &draft(&RawBook {
                authors: vec![author("Fresh Author"), author_id(missing)],
                genres: vec!["Fresh Genre".into()],
                ..raw(20, "Nope")
            }),
            &ctx(),
            None,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::UnknownReference { field, entity, id } => {
            assert_eq!(
                (field.as_str(), entity, id),
                ("authors[1]", "author", missing)
            );
        }
        other => panic!("expected UnknownReference, got {other:?}"),
    }

    let err = cat
        .create_book(
            &draft(&RawBook {
                genres: vec!["Fresh Genre".into(), missing.to_string()],
                ..raw(20, "Nope")
            }),
            &ctx(),
            None,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::UnknownReference { field, entity, id } => {
            assert_eq!(
                (field.as_str(), entity, id),
                ("genres[1]", "genre", missing)
            );
        }
        other => panic!("expected UnknownReference, got {other:?}"),
    }
    assert_eq!(counts(store, WRITE_TABLES).await, [0; 9]);

    // A replace with an unknown reference leaves the book as it was.
    let book = create(&cat, &raw(21, "Kept")).await;
    let err = cat
        .replace_book(
            book.id,
            &Precondition::Any,
            &draft(&RawBook {
                authors: vec![author("Another Fresh"), author_id(missing)],
                ..raw(21, "Changed")
            }),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownReference { .. }),
        "{err:?}"
    );
    assert_eq!(cat.get_book(book.id).await.unwrap(), Some(book));
    assert_eq!(
        counts(store, &["authors", "book_history", "outbox"]).await,
        [0, 1, 1]
    );
}

async fn duplicate_isbn_writes_nothing(store: &Store) {
    let cat = store.catalog();
    let first = create(
        &cat,
        &RawBook {
            authors: vec![author("First Author")],
            ..raw(30, "First")
        },
    )
    .await;
    // The same number written as an ISBN-10 is the same ISBN.
    let isbn10 = first.isbn.to_isbn10().unwrap();
    let key = IdempotencyRequest {
        scope: "alice".into(),
        key: "dup".into(),
        fingerprint: "f".into(),
    };
    let err = cat
        .create_book(
            &draft(&RawBook {
                isbn: Some(isbn10),
                authors: vec![author("Second Author")],
                genres: vec!["Some Genre".into()],
                ..raw(0, "Second")
            }),
            &ctx(),
            Some(&key),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::DuplicateIsbn { isbn, existing } => {
            assert_eq!(isbn, first.isbn);
            assert_eq!(existing, Some(first.id.as_uuid()));
        }
        other => panic!("expected DuplicateIsbn, got {other:?}"),
    }
    assert_eq!(
        counts(store, WRITE_TABLES).await,
        [1, 1, 1, 0, 0, 1, 1, 0, 0],
        "{WRITE_TABLES:?}"
    );
    assert_eq!(
        cat.find_idempotency_record("alice", "dup").await.unwrap(),
        None
    );

    // A replace that takes another book's ISBN.
    let third = create(&cat, &raw(31, "Third")).await;
    let err = cat
        .replace_book(
            third.id,
            &Precondition::version(1),
            &draft(&raw(30, "Third, renumbered")),
            &ctx(),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::DuplicateIsbn { existing, .. } => {
            assert_eq!(existing, Some(first.id.as_uuid()))
        }
        other => panic!("expected DuplicateIsbn, got {other:?}"),
    }
    assert_eq!(cat.get_book(third.id).await.unwrap(), Some(third));
    assert_eq!(counts(store, &["book_history", "outbox"]).await, [2, 2]);
}

async fn replace_checks_precondition_and_records_history(store: &Store) {
    let cat = store.catalog();
    let v1 = create(
        &cat,
        &RawBook {
            authors: vec![author("Frank Herbert")],
            price: eur(999),
            ..raw(40, "Dune")
        },
    )
    .await;
    let changed = RawBook {
        authors: vec![
            author("Frank Herbert"),
            contributor("Brian Herbert", "editor"),
        ],
        genres: vec!["Science Fiction".into()],
        published_year: Some(1965),
        ..raw(41, "Dune (50th anniversary)")
    };

    let err = cat
        .replace_book(v1.id, &Precondition::version(2), &draft(&changed), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionMismatch { current: 1 }),
        "{err:?}"
    );
    assert_eq!(cat.get_book(v1.id).await.unwrap(), Some(v1.clone()));

    let v2 = cat
        .replace_book(v1.id, &Precondition::version(1), &draft(&changed), &ctx())
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.id, v1.id);
    assert_eq!(v2.created_at, v1.created_at);
    assert!(v2.updated_at > v1.updated_at);
    assert_eq!(v2.title, "Dune (50th anniversary)");
    assert_eq!(v2.isbn.as_str(), isbn(41));
    assert_eq!(v2.price, None);
    assert_eq!(v2.authors.len(), 2);
    assert_eq!(v2.authors[0].author_id, v1.authors[0].author_id);
    assert_eq!(cat.get_book(v1.id).await.unwrap(), Some(v2.clone()));
    // The old ISBN is free, the new one taken.
    assert_eq!(cat.get_book_by_isbn(&v1.isbn).await.unwrap(), None);
    assert_eq!(
        cat.get_book_by_isbn(&v2.isbn).await.unwrap(),
        Some(v2.clone())
    );

    let v3 = cat
        .replace_book(
            v1.id,
            &Precondition::Versions(vec![7, 2]),
            &draft(&raw(41, "Dune")),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    assert!(v3.authors.is_empty() && v3.genres.is_empty());
    let v4 = cat
        .replace_book(v1.id, &Precondition::Any, &draft(&changed), &ctx())
        .await
        .unwrap();
    assert_eq!(v4.version, 4);
    assert_eq!(cat.get_book(v1.id).await.unwrap(), Some(v4.clone()));

    let err = cat
        .replace_book(
            BookId::generate(),
            &Precondition::Any,
            &draft(&changed),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "book" }),
        "{err:?}"
    );

    let history = cat.book_history(v1.id, &page(10, None)).await.unwrap();
    let summary: Vec<(HistoryAction, i64)> = history
        .items
        .iter()
        .map(|e| (e.action, e.version))
        .collect();
    assert_eq!(
        summary,
        [
            (HistoryAction::Updated, 4),
            (HistoryAction::Updated, 3),
            (HistoryAction::Updated, 2),
            (HistoryAction::Created, 1),
        ]
    );
    let second = &history.items[2];
    assert_eq!(second.before, Some(json(&v1)));
    assert_eq!(second.after, Some(json(&v2)));
    assert_eq!(second.at, v2.updated_at);
    assert_eq!(history.items[0].before, Some(json(&v3)));
    assert_eq!(history.items[0].after, Some(json(&v4)));

    let events = testing::outbox_events(store).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "bookstore.book.created",
            "bookstore.book.updated",
            "bookstore.book.updated",
            "bookstore.book.updated"
        ]
    );
    assert_eq!(events[3]["version"], 4);
    assert_eq!(events[3]["data"], json(&v4));
}

async fn delete_keeps_history_and_emits_events_in_order(store: &Store) {
    let cat = store.catalog();
    let v1 = create(
        &cat,
        &RawBook {
            authors: vec![author("Mary Shelley")],
            genres: vec!["Gothic".into()],
            ..raw(50, "Frankenstein")
        },
    )
    .await;
    let v2 = cat
        .replace_book(
            v1.id,
            &Precondition::Any,
            &draft(&RawBook {
                authors: vec![author("Mary Shelley")],
                genres: vec!["Gothic".into()],
                quantity: Some(3),
                ..raw(50, "Frankenstein")
            }),
            &ctx(),
        )
        .await
        .unwrap();

    let err = cat
        .delete_book(v1.id, &Precondition::version(1), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionMismatch { current: 2 }),
        "{err:?}"
    );
    assert_eq!(cat.get_book(v1.id).await.unwrap(), Some(v2.clone()));

    cat.delete_book(v1.id, &Precondition::version(2), &ctx())
        .await
        .unwrap();
    assert_eq!(cat.get_book(v1.id).await.unwrap(), None);
    assert_eq!(cat.get_book_by_isbn(&v1.isbn).await.unwrap(), None);
    let err = cat
        .delete_book(v1.id, &Precondition::Any, &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "book" }),
        "{err:?}"
    );

    let history = cat.book_history(v1.id, &page(10, None)).await.unwrap();
    let summary: Vec<(HistoryAction, i64)> = history
        .items
        .iter()
        .map(|e| (e.action, e.version))
        .collect();
    assert_eq!(
        summary,
        [
            (HistoryAction::Deleted, 2),
            (HistoryAction::Updated, 2),
            (HistoryAction::Created, 1),
        ]
    );
    assert_eq!(history.items[0].before, Some(json(&v2)));
    assert_eq!(history.items[0].after, None);
    assert_eq!(history.items[0].actor, "alice");

    assert_eq!(
        testing::outbox_event_types(store).await,
        [
            "bookstore.book.created",
            "bookstore.book.updated",
            "bookstore.book.deleted"
        ]
    );
    let events = testing::outbox_events(store).await;
    assert_eq!(events[2]["subject"], v1.id.to_string());
    assert_eq!(
        events[2]["data"],
        serde_json::json!({ "id": v1.id, "version": 2 })
    );

    // Links went with the book; the author and genre stay, now unused.
    assert_eq!(
        counts(
            store,
            &["books", "book_authors", "book_genres", "authors", "genres"]
        )
        .await,
        [0, 0, 0, 1, 1]
    );
    let shelley = v1.authors[0].author_id;
    assert_eq!(
        cat.get_author(shelley).await.unwrap().unwrap().book_count,
        0
    );
    cat.delete_author(shelley).await.unwrap();

    // The ISBN can be used again.
    create(&cat, &raw(50, "Frankenstein, again")).await;
}

async fn idempotency_record_is_written_with_the_book(store: &Store) {
    let cat = store.catalog();
    let request = IdempotencyRequest {
        scope: "alice".into(),
        key: "key-1".into(),
        fingerprint: "sha256:abc".into(),
    };
    let book = cat
        .create_book(
            &draft(&RawBook {
                authors: vec![author("Italo Calvino")],
                price: eur(1500),
                ..raw(60, "Invisible Cities")
            }),
            &ctx(),
            Some(&request),
        )
        .await
        .unwrap();
    let record = cat
        .find_idempotency_record("alice", "key-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.fingerprint, "sha256:abc");
    assert_eq!(record.response, json(&book));
    assert_eq!(
        cat.find_idempotency_record("bob", "key-1").await.unwrap(),
        None
    );

    let err = cat
        .create_book(
            &draft(&RawBook {
                authors: vec![author("Somebody New")],
                ..raw(61, "Another")
            }),
            &ctx(),
            Some(&request),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyKeyTaken), "{err:?}");
    assert_eq!(
        counts(store, WRITE_TABLES).await,
        [1, 1, 1, 0, 0, 1, 1, 1, 0],
        "{WRITE_TABLES:?}"
    );

    // Keys are per scope.
    let bob = IdempotencyRequest {
        scope: "bob".into(),
        ..request.clone()
    };
    let other = cat
        .create_book(&draft(&raw(61, "Another")), &ctx(), Some(&bob))
        .await
        .unwrap();
    let record = cat.find_idempotency_record("bob", "key-1").await.unwrap();
    assert_eq!(record.map(|r| r.response), Some(json(&other)));
    assert_eq!(testing::count_rows(store, "idempotency_keys").await, 2);
}

/// 25 books with repeated and missing prices, years and titles, some updated after creation.
async fn seed_books(cat: &Arc<dyn CatalogStore>) -> Vec<Book> {
    const TITLES: [&str; 6] = ["Alpha", "beta", "Gamma", "alpha", "Delta", "Épsilon"];
    let mut books = Vec::new();
    for i in 0..25u32 {
        let raw = RawBook {
            price: if i % 4 == 0 {
                None
            } else {
                eur(i64::from((i * 37) % 7) * 100)
            },
            published_year: if i % 5 == 1 {
                None
            } else {
                Some(i64::from(1950 + (i * 7) % 6))
            },
            authors: vec![author(&format!("Author {}", i % 3))],
            ..raw(100 + i, TITLES[(i % 6) as usize])
        };
        books.push(create(cat, &raw).await);
    }
    // Updates make the updated_at order differ from the id order.
    for i in [3usize, 0, 17] {
        let b = &books[i];
        let updated = cat
            .replace_book(
                b.id,
                &Precondition::Any,
                &draft(&RawBook {
                    quantity: Some(9),
                    ..b.to_raw()
                }),
                &ctx(),
            )
            .await
            .unwrap();
        books[i] = updated;
    }
    books
}

fn expected_order(books: &[Book], sort: BookSort) -> Vec<Uuid> {
    let mut sorted: Vec<&Book> = books.iter().collect();
    let price = |b: &Book| b.price.map(|p| p.amount_minor());
    match sort {
        BookSort::UpdatedDesc => sorted.sort_by_key(|b| Reverse((b.updated_at, b.id))),
        BookSort::Title => sorted.sort_by_key(|b| (bookstore_core::text::fold_key(&b.title), b.id)),
        BookSort::Price => sorted.sort_by_key(|b| (price(b).is_none(), price(b), b.id)),
        BookSort::PriceDesc => {
            sorted.sort_by_key(|b| (price(b).is_none(), Reverse(price(b)), Reverse(b.id)))
        }
        BookSort::PublishedYear => {
            sorted.sort_by_key(|b| (b.published_year.is_none(), b.published_year, b.id))
        }
        BookSort::Relevance => unreachable!("relevance needs a text query"),
    }
    sorted.into_iter().map(|b| b.id.as_uuid()).collect()
}

async fn walk(cat: &Arc<dyn CatalogStore>, sort: BookSort, limit: i64) -> (Vec<Book>, Vec<usize>) {
    let mut books = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let query = BookListQuery {
            page: page(limit, cursor),
            sort,
            ..BookListQuery::default()
        };
        let page = cat.list_books(&query).await.unwrap();
        sizes.push(page.items.len());
        books.extend(page.items.into_iter().map(|s| s.book));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(sizes.len() < 100, "endless pagination");
    }
    (books, sizes)
}

async fn pagination_walks_every_sort_without_gaps(store: &Store) {
    let cat = store.catalog();
    let (empty, sizes) = walk(&cat, BookSort::default(), 7).await;
    assert!(empty.is_empty());
    assert_eq!(sizes, [0]);

    let books = seed_books(&cat).await;
    for sort in BookSort::ALL
        .into_iter()
        .filter(|s| *s != BookSort::Relevance)
    {
        let expected = expected_order(&books, sort);
        let (listed, sizes) = walk(&cat, sort, 7).await;
        assert_eq!(sizes, [7, 7, 7, 4], "{sort}");
        let ids: Vec<Uuid> = listed.iter().map(|b| b.id.as_uuid()).collect();
        let unique: HashSet<&Uuid> = ids.iter().collect();
        assert_eq!(unique.len(), 25, "{sort}: duplicates");
        assert_eq!(ids, expected, "{sort}");
        // Listed books are whole books, as get returns them.
        for book in &listed {
            assert!(books.contains(book), "{sort}: {book:?}");
        }

        // An exact multiple of the page size ends without an empty extra page.
        let (listed, sizes) = walk(&cat, sort, 5).await;
        assert_eq!(sizes, [5, 5, 5, 5, 5], "{sort}");
        let ids: Vec<Uuid> = listed.iter().map(|b| b.id.as_uuid()).collect();
        assert_eq!(ids, expected, "{sort}");
    }
}

async fn foreign_and_garbage_cursors_are_rejected(store: &Store) {
    let cat = store.catalog();
    for i in 0..3 {
        create(&cat, &raw(200 + i, &format!("Book {i}"))).await;
    }
    let first = cat
        .list_books(&BookListQuery {
            page: page(1, None),
            sort: BookSort::Title,
            ..BookListQuery::default()
        })
        .await
        .unwrap();
    let title_cursor = first.next_cursor.unwrap();
    let forged = URL_SAFE_NO_PAD.encode(r#"{"s":"books:title","k":7}"#);
    let other_sort = |cursor: &str| BookListQuery {
        page: page(5, Some(cursor.to_owned())),
        sort: BookSort::Price,
        ..BookListQuery::default()
    };
    for cursor in [title_cursor.as_str(), "not a cursor!", "", forged.as_str()] {
        let err = cat.list_books(&other_sort(cursor)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{cursor}: {err:?}"
        );
    }
    // A title cursor does work for the title order.
    let rest = cat
        .list_books(&BookListQuery {
            page: page(5, Some(title_cursor.clone())),
            sort: BookSort::Title,
            ..BookListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2);

    let history = cat
        .book_history(first.items[0].book.id, &page(5, Some(title_cursor.clone())))
        .await
        .unwrap_err();
    assert!(matches!(history, StoreError::InvalidCursor), "{history:?}");
    let authors = cat
        .list_authors(None, &page(5, Some(title_cursor.clone())))
        .await
        .unwrap_err();
    assert!(matches!(authors, StoreError::InvalidCursor), "{authors:?}");
    let genres = cat
        .list_genres(&page(5, Some("%%%".into())))
        .await
        .unwrap_err();
    assert!(matches!(genres, StoreError::InvalidCursor), "{genres:?}");
}

async fn history_is_paginated_newest_first(store: &Store) {
    let cat = store.catalog();
    let book = create(&cat, &raw(300, "Version 1")).await;
    let other = create(&cat, &raw(301, "Other")).await;
    for v in 2..=6 {
        cat.replace_book(
            book.id,
            &Precondition::version(v - 1),
            &draft(&raw(300, &format!("Version {v}"))),
            &ctx(),
        )
        .await
        .unwrap();
    }
    let first = cat.book_history(book.id, &page(4, None)).await.unwrap();
    let versions: Vec<i64> = first.items.iter().map(|e| e.version).collect();
    assert_eq!(versions, [6, 5, 4, 3]);
    let second = cat
        .book_history(book.id, &page(4, first.next_cursor))
        .await
        .unwrap();
    let versions: Vec<i64> = second.items.iter().map(|e| e.version).collect();
    assert_eq!(versions, [2, 1]);
    assert_eq!(second.next_cursor, None);
    assert!(second.items.iter().all(|e| e.book_id == book.id));
    assert_eq!(
        second.items[1]
            .after
            .as_ref()
            .and_then(|a| a["title"].as_str()),
        Some("Version 1")
    );

    let others = cat.book_history(other.id, &page(10, None)).await.unwrap();
    assert_eq!(others.items.len(), 1);
    let none = cat
        .book_history(BookId::generate(), &page(10, None))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

async fn author_crud_and_rules(store: &Store) {
    let cat = store.catalog();
    let butler = cat
        .create_author(
            &AuthorDraft::parse(Some("Octavia E. Butler"), Some("Kindred.")).unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(butler.book_count, 0);
    assert_eq!(butler.created_at, butler.updated_at);
    assert_eq!(
        cat.get_author(butler.id).await.unwrap(),
        Some(butler.clone())
    );

    let err = cat
        .create_author(
            &AuthorDraft::parse(Some("octavia e.   BUTLER"), None).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::DuplicateName { entity, name } => {
            assert_eq!((entity, name.as_str()), ("author", "octavia e.   BUTLER"));
        }
        other => panic!("expected DuplicateName, got {other:?}"),
    }

    for name in [
        "Ann Leckie",
        "100% Pure",
        "Under_score",
        "N. K. Jemisin",
        "Émile Zola",
        "Ted Chiang",
    ] {
        cat.create_author(&AuthorDraft::parse(Some(name), None).unwrap(), None)
            .await
            .unwrap();
    }
    let names = |page: bookstore_core::Page<bookstore_core::Author>| -> Vec<String> {
        page.items.into_iter().map(|a| a.name).collect()
    };
    let search = |q: &'static str| {
        let cat = cat.clone();
        async move { cat.list_authors(Some(q), &page(100, None)).await.unwrap() }
    };
    assert_eq!(names(search("LECK").await), ["Ann Leckie"]);
    assert_eq!(names(search("%").await), ["100% Pure"]);
    assert_eq!(names(search("_").await), ["Under_score"]);
    assert_eq!(names(search("émile").await), ["Émile Zola"]);
    assert_eq!(names(search("  e.  b ").await), ["Octavia E. Butler"]);
    assert!(search("zzz").await.items.is_empty());

    // All, in name order, two at a time.
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let p = cat.list_authors(None, &page(2, cursor)).await.unwrap();
        assert!(p.items.len() <= 2);
        all.extend(p.items.into_iter().map(|a| a.name));
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        all,
        [
            "100% Pure",
            "Ann Leckie",
            "N. K. Jemisin",
            "Octavia E. Butler",
            "Ted Chiang",
            "Under_score",
            "Émile Zola"
        ]
    );

    let renamed = cat
        .update_author(
            butler.id,
            &AuthorDraft::parse(Some("Octavia Estelle Butler"), None).unwrap(),
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Octavia Estelle Butler");
    assert_eq!(renamed.bio, None);
    assert_eq!(renamed.created_at, butler.created_at);
    assert!(renamed.updated_at >= butler.updated_at);
    assert_eq!(
        cat.get_author(butler.id).await.unwrap(),
        Some(renamed.clone())
    );
    let err = cat
        .update_author(
            butler.id,
            &AuthorDraft::parse(Some("TED CHIANG"), None).unwrap(),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateName {
                entity: "author",
                ..
            }
        ),
        "{err:?}"
    );
    let err = cat
        .update_author(
            bookstore_core::AuthorId::generate(),
            &AuthorDraft::parse(Some("Nobody"), None).unwrap(),
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "author" }),
        "{err:?}"
    );

    // In use: counted, not deletable; a rename shows on the book.
    let book = create(
        &cat,
        &RawBook {
            authors: vec![
                author_id(butler.id),
                contributor("Octavia Estelle Butler", "editor"),
            ],
            ..raw(400, "Kindred")
        },
    )
    .await;
    assert_eq!(book.authors.len(), 2);
    let counted = cat.get_author(butler.id).await.unwrap().unwrap();
    assert_eq!(counted.book_count, 1);
    let err = cat.delete_author(butler.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InUse {
                entity: "author",
                count: 1
            }
        ),
        "{err:?}"
    );
    cat.update_author(
        butler.id,
        &AuthorDraft::parse(Some("O. E. Butler"), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let reread = cat.get_book(book.id).await.unwrap().unwrap();
    assert_eq!(reread.authors[0].name, "O. E. Butler");

    cat.delete_book(book.id, &Precondition::Any, &ctx())
        .await
        .unwrap();
    cat.delete_author(butler.id).await.unwrap();
    assert_eq!(cat.get_author(butler.id).await.unwrap(), None);
    let err = cat.delete_author(butler.id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "author" }),
        "{err:?}"
    );
}

async fn genre_crud_and_rules(store: &Store) {
    let cat = store.catalog();
    let genre = |name: &str, parent: Option<GenreId>| GenreDraft::new(name, parent).unwrap();
    let fiction = cat
        .create_genre(&genre("Fiction", None), None)
        .await
        .unwrap();
    let fantasy = cat
        .create_genre(&genre("Fantasy", Some(fiction.id)), None)
        .await
        .unwrap();
    let high = cat
        .create_genre(&genre("High Fantasy", Some(fantasy.id)), None)
        .await
        .unwrap();
    assert_eq!(high.parent_id, Some(fantasy.id));
    assert_eq!(cat.get_genre(high.id).await.unwrap(), Some(high.clone()));

    let missing = GenreId::generate();
    let err = cat
        .create_genre(&genre("Orphan", Some(missing)), None)
        .await
        .unwrap_err();
    match err {
        StoreError::UnknownReference { field, entity, id } => {
            assert_eq!((field.as_str(), entity), ("parent_id", "genre"));
            assert_eq!(id, missing.as_uuid());
        }
        other => panic!("expected UnknownReference, got {other:?}"),
    }
    let err = cat
        .create_genre(&genre("FICTION", None), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateName {
                entity: "genre",
                ..
            }
        ),
        "{err:?}"
    );

    // Cycles: onto itself, a child, a grandchild.
    for (id, parent) in [
        (fiction.id, fiction.id),
        (fiction.id, fantasy.id),
        (fiction.id, high.id),
        (fantasy.id, high.id),
    ] {
        let err = cat
            .update_genre(id, &genre("Renamed", Some(parent)), &ctx())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::GenreCycle), "{err:?}");
    }
    let err = cat
        .update_genre(fantasy.id, &genre("Fantasy", Some(missing)), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownReference { .. }),
        "{err:?}"
    );
    let err = cat
        .update_genre(missing, &genre("Ghost", None), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "genre" }),
        "{err:?}"
    );
    let err = cat
        .update_genre(high.id, &genre("fantasy", Some(fiction.id)), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DuplicateName {
                entity: "genre",
                ..
            }
        ),
        "{err:?}"
    );

    // A legal move: High Fantasy directly under Fiction.
    let moved = cat
        .update_genre(high.id, &genre("Epic Fantasy", Some(fiction.id)), &ctx())
        .await
        .unwrap();
    assert_eq!(moved.name, "Epic Fantasy");
    assert_eq!(moved.parent_id, Some(fiction.id));
    assert_eq!(moved.created_at, high.created_at);
    assert_eq!(cat.get_genre(high.id).await.unwrap(), Some(moved));

    let err = cat.delete_genre(fiction.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::HasChildren {
                entity: "genre",
                count: 2
            }
        ),
        "{err:?}"
    );

    let book = create(
        &cat,
        &RawBook {
            genres: vec![fantasy.id.to_string(), "Adventure".into()],
            ..raw(500, "The Hobbit")
        },
    )
    .await;
    assert_eq!(book.genres[0].name, "Fantasy");
    assert_eq!(
        cat.get_genre(fantasy.id).await.unwrap().unwrap().book_count,
        1
    );
    let err = cat.delete_genre(fantasy.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InUse {
                entity: "genre",
                count: 1
            }
        ),
        "{err:?}"
    );

    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let p = cat.list_genres(&page(2, cursor)).await.unwrap();
        listed.extend(p.items.into_iter().map(|g| (g.name, g.book_count)));
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        listed,
        [
            ("Adventure".to_owned(), 1),
            ("Epic Fantasy".to_owned(), 0),
            ("Fantasy".to_owned(), 1),
            ("Fiction".to_owned(), 0)
        ]
    );

    cat.delete_genre(high.id).await.unwrap();
    assert_eq!(cat.get_genre(high.id).await.unwrap(), None);
    let err = cat.delete_genre(high.id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { entity: "genre" }),
        "{err:?}"
    );
}

async fn unicode_titles_sort_bytewise(store: &Store) {
    let cat = store.catalog();
    let titles = [
        "日本語の本",
        "Zoë",
        "Ärger",
        "apple",
        "Ωmega",
        "Émile",
        "zebra",
        "Äpfel",
        "eagle",
    ];
    for (i, title) in titles.iter().enumerate() {
        create(&cat, &raw(600 + i as u32, title)).await;
    }
    let (listed, _) = walk(&cat, BookSort::Title, 4).await;
    let order: Vec<&str> = listed.iter().map(|b| b.title.as_str()).collect();
    // Byte order of the folded (lower-cased) UTF-8 titles: the same in both stores.
    assert_eq!(
        order,
        [
            "apple",
            "eagle",
            "zebra",
            "Zoë",
            "Äpfel",
            "Ärger",
            "Émile",
            "Ωmega",
            "日本語の本"
        ]
    );
}

async fn concurrent_creates_share_a_new_author(store: &Store) {
    let cat = store.catalog();
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let cat = cat.clone();
        tasks.push(tokio::spawn(async move {
            let raw = RawBook {
                authors: vec![author("Shared Newcomer")],
                genres: vec!["Shared Genre".into()],
                ..raw(700 + i, "Concurrent")
            };
            cat.create_book(&draft(&raw), &ctx(), None).await
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let book = task.await.unwrap().unwrap();
        ids.insert(book.authors[0].author_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(
        counts(store, &["books", "authors", "genres"]).await,
        [6, 1, 1]
    );
}

async fn ready_once_migrated(store: &Store) {
    store.catalog().ready().await.unwrap();
    // Idempotent.
    store.migrate().await.unwrap();
    store.catalog().ready().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Opening

#[tokio::test]
async fn sqlite_is_not_ready_before_migration() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        database_url: None,
        data_dir: dir.path().join("nested").join("data"),
        max_connections: 2,
        ..Default::default()
    };
    let store = Store::open(&config).await.unwrap();
    assert!(config.data_dir.join("bookstore.db").exists());
    assert!(store.catalog().ready().await.is_err());
    store.migrate().await.unwrap();
    store.catalog().ready().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn postgres_is_not_ready_before_migration() {
    let url = testing::fresh_postgres_url().await;
    let store = Store::open(&StoreConfig {
        database_url: Some(url.clone()),
        data_dir: "unused".into(),
        max_connections: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(store.catalog().ready().await.is_err());
    store.migrate().await.unwrap();
    store.catalog().ready().await.unwrap();
    store.close().await;
    testing::drop_postgres_database(&url).await;
}

#[tokio::test]
async fn sqlite_urls_file_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("shop.db");
    for url in [
        format!("sqlite://{}", file.display()),
        "sqlite::memory:".into(),
    ] {
        let store = Store::open(&StoreConfig {
            database_url: Some(url.clone()),
            data_dir: dir.path().join("unused"),
            max_connections: 2,
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        store.migrate().await.unwrap();
        let cat = store.catalog();
        let book = create(&cat, &raw(800, "Memory")).await;
        assert_eq!(cat.get_book(book.id).await.unwrap(), Some(book), "{url}");
        store.close().await;
    }
    assert!(file.exists());
    assert!(!dir.path().join("unused").exists());
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for (url, scheme) in [("mysql://localhost/db", "mysql"), ("just-a-path.db", "")] {
        let err = Store::open(&StoreConfig {
            database_url: Some(url.into()),
            ..StoreConfig::default()
        })
        .await
        .unwrap_err();
        match err {
            OpenError::UnsupportedUrl { scheme: got } => assert_eq!(got, scheme),
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stock

fn movement(kind: &str, quantity: i64, reason: Option<&str>) -> bookstore_core::StockMovementDraft {
    bookstore_core::StockMovementDraft::parse(kind, quantity, reason).unwrap()
}

async fn stock_movements_apply_and_are_recorded(store: &Store) {
    let cat = store.catalog();
    let book = create(
        &cat,
        &RawBook {
            quantity: Some(4),
            ..raw(1, "Stocked")
        },
    )
    .await;
    let any = Precondition::Any;
    let (after, m) = cat
        .record_stock_movement(book.id, &any, &movement("receive", 6, None), &ctx(), None)
        .await
        .unwrap();
    assert_eq!(
        (
            after.quantity.get(),
            after.version,
            m.delta,
            m.quantity_after
        ),
        (10, 2, 6, 10)
    );
    let (after, m) = cat
        .record_stock_movement(
            book.id,
            &Precondition::version(2),
            &movement("sale", 3, None),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((after.quantity.get(), m.delta), (7, -3));
    let (after, m) = cat
        .record_stock_movement(
            book.id,
            &any,
            &movement("count", 5, Some("stocktake")),
            &ctx(),
            None,
        )
        .await
        .unwrap();
    assert_eq!((after.quantity.get(), m.delta, m.quantity), (5, -2, 5));
    assert_eq!(cat.get_book(book.id).await.unwrap().unwrap(), after);

    // A stale version and an oversell change nothing.
    let stale = cat
        .record_stock_movement(
            book.id,
            &Precondition::version(1),
            &movement("sale", 1, None),
            &ctx(),
            None,
        )
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::VersionMismatch { current: 4 })
    ));
    let oversell = cat
        .record_stock_movement(book.id, &any, &movement("sale", 6, None), &ctx(), None)
        .await;
    assert!(matches!(
        oversell,
        Err(StoreError::InsufficientStock {
            available: 5,
            requested: 6
        })
    ));
    assert_eq!(
        cat.get_book(book.id).await.unwrap().unwrap().quantity.get(),
        5
    );

    let listed = cat.stock_movements(book.id, &page(2, None)).await.unwrap();
    let kinds: Vec<&str> = listed.items.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["count", "sale"]);
    let rest = cat
        .stock_movements(book.id, &page(2, listed.next_cursor))
        .await
        .unwrap();
    // The third movement, and the first: the quantity the book was created with.
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.items[1].kind.as_str(), "receive");
    assert_eq!(rest.items[1].quantity_after, 4);
    assert_eq!(rest.items[0].actor, "alice");
    assert_eq!(rest.items[0].request_id.as_deref(), Some("req-1"));
    assert_eq!(rest.next_cursor, None);
    let events = testing::outbox_event_types(store).await;
    assert_eq!(
        events,
        [
            "bookstore.book.created",
            "bookstore.book.stock_adjusted",
            "bookstore.book.stock_adjusted",
            "bookstore.book.stock_adjusted",
        ]
    );
    assert_eq!(testing::count_rows(store, "book_history").await, 4);
    assert_eq!(testing::count_rows(store, "stock_movements").await, 4);
    let missing = cat
        .record_stock_movement(
            BookId::generate(),
            &any,
            &movement("receive", 1, None),
            &ctx(),
            None,
        )
        .await;
    assert!(matches!(
        missing,
        Err(StoreError::NotFound { entity: "book" })
    ));
}

async fn stock_never_goes_below_zero_under_concurrent_sales(store: &Store) {
    let cat = store.catalog();
    let book = create(
        &cat,
        &RawBook {
            quantity: Some(5),
            ..raw(2, "Scarce")
        },
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let cat = cat.clone();
        tasks.push(tokio::spawn(async move {
            cat.record_stock_movement(
                book.id,
                &Precondition::Any,
                &movement("sale", 1, None),
                &ctx(),
                None,
            )
            .await
        }));
    }
    let mut sold = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => sold += 1,
            Err(StoreError::InsufficientStock { available: 0, .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sold, 5);
    let after = cat.get_book(book.id).await.unwrap().unwrap();
    assert_eq!((after.quantity.get(), after.version), (0, 6));
    // The five sales and the receipt of the stock the book was created with.
    assert_eq!(testing::count_rows(store, "stock_movements").await, 6);
}

async fn low_stock_lists_books_at_or_below_their_reorder_point(store: &Store) {
    let cat = store.catalog();
    for (n, quantity, reorder) in [(10, 0, 2), (11, 5, 2), (12, 2, 2), (13, 1, 0), (14, 1, 3)] {
        create(
            &cat,
            &RawBook {
                quantity: Some(quantity),
                reorder_point: Some(reorder),
                ..raw(n, &format!("Book {n}"))
            },
        )
        .await;
    }
    let first = cat.low_stock(&page(2, None)).await.unwrap();
    let second = cat
        .low_stock(&page(2, first.next_cursor.clone()))
        .await
        .unwrap();
    let quantities: Vec<i64> = first
        .items
        .iter()
        .chain(second.items.iter())
        .map(|b| b.quantity.get())
        .collect();
    assert_eq!(quantities, [0, 1, 2]);
    assert_eq!(second.next_cursor, None);
    let titles: Vec<&str> = first
        .items
        .iter()
        .chain(second.items.iter())
        .map(|b| b.title.as_str())
        .collect();
    assert!(
        titles.contains(&"Book 14") && !titles.contains(&"Book 13") && !titles.contains(&"Book 11")
    );
}
