//! The authors and genres an import creates, on both stores. An upsert creates the new names
//! of a batch before the batch's transaction (so that two writers side by side do not wait
//! for each other's new names); a batch that then fails, or refuses a row for its stock,
//! must not leave behind the names that only it would have linked.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::{
    BookDraft, Isbn, LocationDraft, Precondition, RawBook, RawContributor, StoreError,
    TransferDraft,
};
use bookstore_store::testing::count_rows;
use bookstore_store::Store;
use common::{ctx, isbn};
use uuid::Uuid;

contract!(
    a_failed_batch_leaves_no_new_names_behind,
    a_row_refused_for_its_stock_leaves_no_new_names_behind,
);

fn draft(isbn: &str, authors: &[&str], genres: &[&str], quantity: Option<i64>) -> BookDraft {
    BookDraft::parse(&RawBook {
        isbn: Some(isbn.into()),
        title: Some(format!("Book {isbn}")),
        authors: authors
            .iter()
            .map(|name| RawContributor {
                name: Some((*name).into()),
                ..RawContributor::default()
            })
            .collect(),
        genres: genres.iter().map(|g| (*g).into()).collect(),
        quantity,
        ..RawBook::default()
    })
    .unwrap()
}

async fn upsert(store: &Store, drafts: &[BookDraft]) -> Result<Vec<ImportOutcome>, StoreError> {
    store
        .catalog()
        .import_books(drafts, ImportMode::Upsert, false, &ctx())
        .await
}

async fn names(store: &Store) -> (i64, i64) {
    (
        count_rows(store, "authors").await,
        count_rows(store, "genres").await,
    )
}

async fn a_failed_batch_leaves_no_new_names_behind(store: &Store) {
    upsert(
        store,
        &[draft(&isbn(1), &["Known Author"], &["Known"], None)],
    )
    .await
    .unwrap();
    assert_eq!(names(store).await, (1, 1));

    // The second row names an author by an id that does not exist: the batch fails, after
    // the first row's new author and genre were created.
    let unknown = BookDraft::parse(&RawBook {
        isbn: Some(isbn(3)),
        title: Some("Nobody's book".into()),
        authors: vec![RawContributor {
            id: Some(Uuid::now_v7().to_string()),
            ..RawContributor::default()
        }],
        ..RawBook::default()
    })
    .unwrap();
    let failed = upsert(
        store,
        &[
            draft(
                &isbn(2),
                &["Known Author", "New Author"],
                &["Known", "New genre"],
                Some(2),
            ),
            unknown,
        ],
    )
    .await;
    assert!(
        matches!(failed, Err(StoreError::UnknownReference { .. })),
        "{failed:?}"
    );
    assert_eq!(
        names(store).await,
        (1, 1),
        "the failed batch's new names stay"
    );
    let isbn2 = Isbn::parse(&isbn(2)).unwrap();
    assert!(store
        .catalog()
        .get_book_by_isbn(&isbn2)
        .await
        .unwrap()
        .is_none());

    // The same names in a batch that succeeds are created, and kept.
    upsert(
        store,
        &[draft(
            &isbn(2),
            &["Known Author", "New Author"],
            &["Known", "New genre"],
            Some(2),
        )],
    )
    .await
    .unwrap();
    assert_eq!(names(store).await, (2, 2));
}

async fn a_row_refused_for_its_stock_leaves_no_new_names_behind(store: &Store) {
    let (a, b) = (isbn(10), isbn(11));
    upsert(store, &[draft(&a, &["First"], &["Kept"], Some(5))])
        .await
        .unwrap();
    // Three of A's five copies move to another store: the default location keeps two.
    let inv = store.inventory();
    inv.create_location(
        &LocationDraft::parse(Some("north"), Some("North"), Some("store"), None).unwrap(),
        None,
    )
    .await
    .unwrap();
    let id = store
        .catalog()
        .get_book_by_isbn(&Isbn::parse(&a).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    inv.transfer_stock(
        id,
        &Precondition::Any,
        &TransferDraft::parse(Some("main"), Some("north"), 3, None).unwrap(),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(names(store).await, (1, 1));

    // A down to 1 would take 4 from the default location, which holds 2: refused, with its
    // new author and genre. B, written, names one of them too: that one stays.
    let outcomes = upsert(
        store,
        &[
            draft(
                &a,
                &["First", "Refused", "Shared"],
                &["Refused genre"],
                Some(1),
            ),
            draft(&b, &["Shared"], &["Kept"], None),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            ImportOutcome::InsufficientStock { available: 2 },
            ImportOutcome::Created
        ]
    );
    assert_eq!(names(store).await, (2, 1), "only Shared is new");
    let b = store
        .catalog()
        .get_book_by_isbn(&Isbn::parse(&b).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.authors[0].name, "Shared");
}
