//! Imports on both stores: the batch upsert of the catalog (created, updated, unchanged,
//! create_only, dry run, duplicates within a batch) and the record of imports (progress,
//! rejected rows, finish, stale imports failed, idempotency).

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::import::{
    ImportCounts, ImportFormat, ImportMode, ImportOutcome, ImportProgress, ImportRowError,
    ImportState, NewImport, INTERRUPTED, MAX_KEPT_ERRORS,
};
use bookstore_core::{
    BookDraft, IdempotencyRequest, ImportId, Isbn, Limit, LocationDraft, PageRequest, Precondition,
    RawBook, RawContributor, StoreError, TransferDraft,
};
use bookstore_store::testing::count_rows;
use bookstore_store::Store;
use common::{ctx, isbn};

contract!(
    new_isbns_are_created_with_their_stock_as_a_receipt,
    an_unchanged_row_writes_nothing,
    a_changed_row_is_a_new_version_and_a_changed_quantity_an_adjustment,
    the_later_of_two_rows_with_one_isbn_wins,
    create_only_rejects_existing_isbns,
    a_dry_run_counts_and_writes_nothing,
    the_import_record_keeps_progress_and_rejected_rows,
    rejected_rows_are_kept_up_to_the_bound,
    stale_imports_are_failed_and_finished_ones_stay,
    an_import_is_created_once_per_idempotency_key,
    a_large_batch_writes_every_row_with_its_links_history_and_event,
    a_row_lowering_the_stock_below_the_default_location_is_rejected_alone,
);

fn draft(isbn: &str, title: &str, quantity: Option<i64>) -> BookDraft {
    BookDraft::parse(&RawBook {
        isbn: Some(isbn.into()),
        title: Some(title.into()),
        authors: vec![RawContributor {
            name: Some("Ursula K. Le Guin".into()),
            ..RawContributor::default()
        }],
        genres: vec!["Fantasy".into()],
        quantity,
        ..RawBook::default()
    })
    .unwrap()
}

const A: &str = "9780261103344";
const B: &str = "9780261102385";

async fn book(store: &Store, isbn: &str) -> Option<bookstore_core::Book> {
    store
        .catalog()
        .get_book_by_isbn(&Isbn::parse(isbn).unwrap())
        .await
        .unwrap()
}

async fn import(
    store: &Store,
    drafts: &[BookDraft],
    mode: ImportMode,
    dry_run: bool,
) -> Vec<ImportOutcome> {
    store
        .catalog()
        .import_books(drafts, mode, dry_run, &ctx())
        .await
        .unwrap()
}

async fn movements(store: &Store, isbn: &str) -> Vec<(String, i64, Option<String>)> {
    let id = book(store, isbn).await.unwrap().id;
    let page = store
        .catalog()
        .stock_movements(id, &PageRequest::default())
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|m| (m.kind.as_str().to_owned(), m.delta, m.reason))
        .collect()
}

async fn new_isbns_are_created_with_their_stock_as_a_receipt(store: &Store) {
    let outcomes = import(
        store,
        &[
            draft(A, "The Hobbit", Some(3)),
            draft(B, "Lud-in-the-Mist", None),
        ],
        ImportMode::Upsert,
        false,
    )
    .await;
    assert_eq!(outcomes, [ImportOutcome::Created, ImportOutcome::Created]);
    let a = book(store, A).await.unwrap();
    assert_eq!(
        (a.title.as_str(), a.quantity.get(), a.version),
        ("The Hobbit", 3, 1)
    );
    assert_eq!(a.authors[0].name, "Ursula K. Le Guin");
    assert_eq!(
        movements(store, A).await,
        [("receive".to_owned(), 3, Some("import".to_owned()))]
    );
    assert!(movements(store, B).await.is_empty());
    assert_eq!(count_rows(store, "book_history").await, 2);
    assert_eq!(count_rows(store, "outbox").await, 2);
    // One author for both books, matched by name.
    assert_eq!(count_rows(store, "authors").await, 1);
}

async fn an_unchanged_row_writes_nothing(store: &Store) {
    import(
        store,
        &[draft(A, "The Hobbit", Some(3))],
        ImportMode::Upsert,
        false,
    )
    .await;
    let before = book(store, A).await.unwrap();
    let history = count_rows(store, "book_history").await;
    let events = count_rows(store, "outbox").await;
    // The same row, and the same row without a quantity (which leaves the stock alone).
    let outcomes = import(
        store,
        &[
            draft(A, "The Hobbit", Some(3)),
            draft(A, "The Hobbit", None),
        ],
        ImportMode::Upsert,
        false,
    )
    .await;
    assert_eq!(
        outcomes,
        [ImportOutcome::Unchanged, ImportOutcome::Unchanged]
    );
    let after = book(store, A).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.version, 1);
    assert_eq!(count_rows(store, "book_history").await, history);
    assert_eq!(count_rows(store, "outbox").await, events);
    assert_eq!(count_rows(store, "stock_movements").await, 1);
}

async fn a_changed_row_is_a_new_version_and_a_changed_quantity_an_adjustment(store: &Store) {
    import(
        store,
        &[draft(A, "The Hobbit", Some(3))],
        ImportMode::Upsert,
        false,
    )
    .await;
    let outcomes = import(
        store,
        &[draft(A, "The Hobbit, or There and Back Again", Some(5))],
        ImportMode::Upsert,
        false,
    )
    .await;
    assert_eq!(outcomes, [ImportOutcome::Updated]);
    let a = book(store, A).await.unwrap();
    assert_eq!((a.version, a.quantity.get()), (2, 5));
    assert_eq!(a.title, "The Hobbit, or There and Back Again");
    assert_eq!(
        movements(store, A).await[0],
        ("adjustment".to_owned(), 2, Some("import".to_owned()))
    );
    assert_eq!(count_rows(store, "book_history").await, 2);
    assert_eq!(count_rows(store, "outbox").await, 2);
}

async fn the_later_of_two_rows_with_one_isbn_wins(store: &Store) {
    let outcomes = import(
        store,
        &[draft(A, "First", Some(1)), draft(A, "Second", Some(2))],
        ImportMode::Upsert,
        false,
    )
    .await;
    assert_eq!(outcomes, [ImportOutcome::Created, ImportOutcome::Updated]);
    let a = book(store, A).await.unwrap();
    assert_eq!(
        (a.title.as_str(), a.quantity.get(), a.version),
        ("Second", 2, 2)
    );
    assert_eq!(count_rows(store, "books").await, 1);
}

async fn create_only_rejects_existing_isbns(store: &Store) {
    import(
        store,
        &[draft(A, "The Hobbit", None)],
        ImportMode::Upsert,
        false,
    )
    .await;
    let outcomes = import(
        store,
        &[
            draft(A, "Changed", None),
            draft(B, "New", None),
            draft(B, "New again", None),
        ],
        ImportMode::CreateOnly,
        false,
    )
    .await;
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Exists,
            ImportOutcome::Created,
            ImportOutcome::Exists
        ]
    );
    assert_eq!(book(store, A).await.unwrap().title, "The Hobbit");
    assert_eq!(book(store, B).await.unwrap().title, "New");
}

async fn a_dry_run_counts_and_writes_nothing(store: &Store) {
    import(
        store,
        &[draft(A, "The Hobbit", Some(1))],
        ImportMode::Upsert,
        false,
    )
    .await;
    let outcomes = import(
        store,
        &[
            draft(A, "The Hobbit", Some(1)),
            draft(B, "New", Some(4)),
            draft(B, "New, changed", Some(4)),
            draft(A, "Changed", Some(1)),
        ],
        ImportMode::Upsert,
        true,
    )
    .await;
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Unchanged,
            ImportOutcome::Created,
            ImportOutcome::Updated,
            ImportOutcome::Updated
        ]
    );
    assert!(book(store, B).await.is_none());
    assert_eq!(book(store, A).await.unwrap().title, "The Hobbit");
    assert_eq!(count_rows(store, "books").await, 1);
    assert_eq!(count_rows(store, "book_history").await, 1);
    assert_eq!(count_rows(store, "outbox").await, 1);
    assert_eq!(count_rows(store, "stock_movements").await, 1);
}

fn new_import(dry_run: bool) -> NewImport {
    NewImport {
        id: ImportId::generate(),
        format: ImportFormat::Csv,
        mode: ImportMode::CreateOnly,
        dry_run,
        bytes_total: Some(1234),
        started_by: "alice".into(),
    }
}

fn row_error(line: u64) -> ImportRowError {
    ImportRowError {
        line,
        record_reference: None,
        isbn: Some(format!("isbn-{line}")),
        field: Some("isbn".into()),
        message: "is not a valid ISBN".into(),
    }
}

fn progress(read: u64, rejected: u64, bytes: u64) -> ImportProgress {
    ImportProgress {
        counts: ImportCounts {
            read,
            created: read - rejected,
            rejected,
            ..ImportCounts::default()
        },
        bytes_read: bytes,
    }
}

fn page(limit: i64, cursor: Option<String>) -> PageRequest {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        cursor,
    }
}

async fn the_import_record_keeps_progress_and_rejected_rows(store: &Store) {
    let imports = store.imports();
    let new = new_import(true);
    let created = imports.create_import(&new, None).await.unwrap();
    assert_eq!(created.state, ImportState::Running);
    assert_eq!(
        (created.mode, created.dry_run),
        (ImportMode::CreateOnly, true)
    );
    assert_eq!((created.bytes_total, created.bytes_read), (Some(1234), 0));
    assert_eq!(created.started_by, "alice");

    imports
        .record_import_progress(new.id, &progress(3, 2, 100), &[row_error(2), row_error(4)])
        .await
        .unwrap();
    imports
        .record_import_progress(new.id, &progress(6, 3, 600), &[row_error(7)])
        .await
        .unwrap();
    let running = imports.get_import(new.id).await.unwrap().unwrap();
    assert_eq!(running.counts, progress(6, 3, 600).counts);
    assert_eq!(running.bytes_read, 600);

    let first = imports.import_errors(new.id, &page(2, None)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|e| e.line).collect::<Vec<_>>(),
        [2, 4]
    );
    assert_eq!(first.items[0], row_error(2));
    let second = imports
        .import_errors(new.id, &page(2, first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(second.items.iter().map(|e| e.line).collect::<Vec<_>>(), [7]);
    assert!(second.next_cursor.is_none());
    // A cursor of one import's errors is no cursor of another's.
    let other = imports
        .create_import(&new_import(false), None)
        .await
        .unwrap();
    assert!(matches!(
        imports
            .import_errors(other.id, &page(2, first.next_cursor))
            .await,
        Err(StoreError::InvalidCursor)
    ));

    let done = imports
        .finish_import(new.id, &progress(7, 3, 1234), None)
        .await
        .unwrap();
    assert_eq!(done.state, ImportState::Done);
    assert_eq!(done.counts.read, 7);
    assert!(done.finished_at.is_some());
    // A finished import takes no more progress.
    assert!(matches!(
        imports
            .record_import_progress(new.id, &progress(8, 3, 1234), &[])
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let failed = imports
        .finish_import(other.id, &ImportProgress::default(), Some("the file broke"))
        .await
        .unwrap();
    assert_eq!(failed.state, ImportState::Failed);
    assert_eq!(failed.failure.as_deref(), Some("the file broke"));
    assert!(imports
        .get_import(ImportId::generate())
        .await
        .unwrap()
        .is_none());
}

async fn rejected_rows_are_kept_up_to_the_bound(store: &Store) {
    let imports = store.imports();
    let new = new_import(false);
    imports.create_import(&new, None).await.unwrap();
    let errors: Vec<ImportRowError> = (1..=MAX_KEPT_ERRORS - 1).map(row_error).collect();
    imports
        .record_import_progress(
            new.id,
            &progress(errors.len() as u64, errors.len() as u64, 1),
            &errors,
        )
        .await
        .unwrap();
    let more: Vec<ImportRowError> = (MAX_KEPT_ERRORS..MAX_KEPT_ERRORS + 5)
        .map(row_error)
        .collect();
    imports
        .record_import_progress(
            new.id,
            &progress(MAX_KEPT_ERRORS + 4, MAX_KEPT_ERRORS + 4, 2),
            &more,
        )
        .await
        .unwrap();
    assert_eq!(
        count_rows(store, "import_errors").await,
        MAX_KEPT_ERRORS as i64
    );
    let import = imports.get_import(new.id).await.unwrap().unwrap();
    assert_eq!(import.counts.rejected, MAX_KEPT_ERRORS + 4);
}

async fn stale_imports_are_failed_and_finished_ones_stay(store: &Store) {
    let imports = store.imports();
    let stale = imports
        .create_import(&new_import(false), None)
        .await
        .unwrap();
    let done = imports
        .create_import(&new_import(false), None)
        .await
        .unwrap();
    imports
        .finish_import(done.id, &ImportProgress::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let fresh = imports
        .create_import(&new_import(false), None)
        .await
        .unwrap();
    // Only imports whose heartbeat is older than the cutoff.
    let failed = imports
        .fail_stale_imports(cutoff, INTERRUPTED)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    let stale = imports.get_import(stale.id).await.unwrap().unwrap();
    assert_eq!(stale.state, ImportState::Failed);
    assert_eq!(stale.failure.as_deref(), Some(INTERRUPTED));
    assert_eq!(
        imports.get_import(done.id).await.unwrap().unwrap().state,
        ImportState::Done
    );
    assert_eq!(
        imports.get_import(fresh.id).await.unwrap().unwrap().state,
        ImportState::Running
    );
    // The process that ran it finds it failed, and leaves it so.
    let finished = imports
        .finish_import(stale.id, &progress(5, 0, 5), None)
        .await
        .unwrap();
    assert_eq!(finished.state, ImportState::Failed);
}

async fn an_import_is_created_once_per_idempotency_key(store: &Store) {
    let imports = store.imports();
    let key = IdempotencyRequest {
        scope: "u-1".into(),
        key: "k-1".into(),
        fingerprint: "f".into(),
    };
    let first = imports
        .create_import(&new_import(false), Some(&key))
        .await
        .unwrap();
    let record = imports
        .find_idempotency_record("u-1", "k-1")
        .await
        .unwrap()
        .unwrap();
    let replayed: bookstore_core::import::Import = serde_json::from_value(record.response).unwrap();
    assert_eq!(replayed, first);
    assert!(matches!(
        imports.create_import(&new_import(false), Some(&key)).await,
        Err(StoreError::IdempotencyKeyTaken)
    ));
    assert_eq!(count_rows(store, "imports").await, 1);
}

async fn a_large_batch_writes_every_row_with_its_links_history_and_event(store: &Store) {
    // More rows than one multi-row insert takes, two authors and two genres each.
    let drafts: Vec<BookDraft> = (1..=1100)
        .map(|n| {
            BookDraft::parse(&RawBook {
                isbn: Some(isbn(n)),
                title: Some(format!("Book {n}")),
                authors: vec![
                    RawContributor {
                        name: Some(format!("Author {}", n % 7)),
                        ..RawContributor::default()
                    },
                    RawContributor {
                        name: Some("Shared Editor".into()),
                        role: Some("editor".into()),
                        ..RawContributor::default()
                    },
                ],
                genres: vec![format!("Genre {}", n % 3), "Everything".into()],
                quantity: Some(i64::from(n % 2)),
                ..RawBook::default()
            })
            .unwrap()
        })
        .collect();
    let outcomes = import(store, &drafts, ImportMode::Upsert, false).await;
    assert!(outcomes.iter().all(|o| *o == ImportOutcome::Created));
    assert_eq!(count_rows(store, "books").await, 1100);
    assert_eq!(count_rows(store, "book_authors").await, 2200);
    assert_eq!(count_rows(store, "book_genres").await, 2200);
    assert_eq!(count_rows(store, "authors").await, 8);
    assert_eq!(count_rows(store, "genres").await, 4);
    assert_eq!(count_rows(store, "book_history").await, 1100);
    assert_eq!(count_rows(store, "outbox").await, 1100);
    assert_eq!(count_rows(store, "stock_movements").await, 550);
    let book = book(store, &isbn(8)).await.unwrap();
    assert_eq!(book.authors.len(), 2);
    assert_eq!(book.authors[0].name, "Author 1");
    assert_eq!(
        book.authors[1].role,
        bookstore_core::ContributorRole::Editor
    );
    assert_eq!(book.genres[0].name, "Genre 2");
    // The same batch again: nothing to write.
    let again = import(store, &drafts, ImportMode::Upsert, false).await;
    assert!(again.iter().all(|o| *o == ImportOutcome::Unchanged));
    assert_eq!(count_rows(store, "book_history").await, 1100);
}

async fn a_row_lowering_the_stock_below_the_default_location_is_rejected_alone(store: &Store) {
    const C: &str = "9780140328721";
    import(
        store,
        &[
            draft(A, "The Hobbit", Some(5)),
            draft(C, "Matilda", Some(5)),
        ],
        ImportMode::Upsert,
        false,
    )
    .await;
    // Three of A's five copies move to another store: the default location keeps two.
    let inv = store.inventory();
    inv.create_location(
        &LocationDraft::parse(Some("north"), Some("North"), Some("store"), None).unwrap(),
        None,
    )
    .await
    .unwrap();
    let a = book(store, A).await.unwrap();
    inv.transfer_stock(
        a.id,
        &Precondition::Any,
        &TransferDraft::parse(Some("main"), Some("north"), 3, None).unwrap(),
        &ctx(),
        None,
    )
    .await
    .unwrap();
    let a = book(store, A).await.unwrap();
    let history = count_rows(store, "book_history").await;

    // A down to 1 would take 4 from the default location, which holds 2; C down to 3 takes 2
    // of its 5; B is new.
    let outcomes = import(
        store,
        &[
            draft(A, "The Hobbit (new title)", Some(1)),
            draft(B, "Lud-in-the-Mist", Some(2)),
            draft(C, "Matilda", Some(3)),
        ],
        ImportMode::Upsert,
        false,
    )
    .await;
    assert_eq!(
        outcomes,
        [
            ImportOutcome::InsufficientStock { available: 2 },
            ImportOutcome::Created,
            ImportOutcome::Updated,
        ]
    );
    // Nothing of the rejected row was written, the others were.
    assert_eq!(book(store, A).await.unwrap(), a);
    assert_eq!(book(store, B).await.unwrap().quantity.get(), 2);
    let c = book(store, C).await.unwrap();
    assert_eq!((c.quantity.get(), c.version), (3, 2));
    assert_eq!(
        movements(store, C).await[0],
        ("adjustment".to_owned(), -2, Some("import".to_owned()))
    );
    assert_eq!(count_rows(store, "book_history").await, history + 2);
    let (field, message) = outcomes[0].rejection().unwrap();
    assert_eq!(field, "quantity");
    assert!(message.contains("(2)"), "{message}");
    let counts = outcomes.iter().fold(ImportCounts::default(), |mut c, o| {
        c.add(*o);
        c
    });
    assert_eq!((counts.created, counts.updated, counts.rejected), (1, 1, 1));
}
