//! Imports and the search, on both stores: imported books are found right after the import,
//! by their contributors and genres (which PostgreSQL's import writes with the book, its link
//! triggers left out: migration 0017) and by a prefix of their words (PostgreSQL's
//! `search_words`, which the import adds at the end of its batch).

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::import::{ImportMode, ImportOutcome};
use bookstore_core::{
    BookDraft, BookListQuery, BookSearch, Isbn, PageRequest, RawBook, RawBookSearch, RawContributor,
};
use bookstore_store::testing::count_rows;
use bookstore_store::Store;
use common::ctx;

contract!(
    imported_books_are_found_by_their_contributors_and_genres,
    a_prefix_finds_the_words_of_books_imported_after_the_word_itself,
);

const A: &str = "9780261103344";
const B: &str = "9780261102385";

async fn book(store: &Store, isbn: &str) -> Option<bookstore_core::Book> {
    store
        .catalog()
        .get_book_by_isbn(&Isbn::parse(isbn).unwrap())
        .await
        .unwrap()
}

async fn import(store: &Store, drafts: &[BookDraft]) -> Vec<ImportOutcome> {
    store
        .catalog()
        .import_books(drafts, ImportMode::Upsert, false, &ctx())
        .await
        .unwrap()
}

/// The ISBNs of the books a search for `text` finds.
async fn found(store: &Store, text: &str) -> Vec<String> {
    let search = BookSearch::parse(&RawBookSearch {
        q: Some(text.into()),
        ..RawBookSearch::default()
    })
    .unwrap();
    let query = BookListQuery::new(PageRequest::default(), None, search).unwrap();
    let mut isbns: Vec<String> = store
        .catalog()
        .list_books(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| b.book.isbn.as_str().to_owned())
        .collect();
    isbns.sort();
    isbns
}

async fn imported_books_are_found_by_their_contributors_and_genres(store: &Store) {
    let with = |isbn: &str, author: &str, genres: &[&str]| {
        BookDraft::parse(&RawBook {
            isbn: Some(isbn.into()),
            title: Some("Untitled".into()),
            authors: vec![
                RawContributor {
                    name: Some(author.into()),
                    ..RawContributor::default()
                },
                RawContributor {
                    name: Some("Pauline Baynes".into()),
                    role: Some("illustrator".into()),
                    ..RawContributor::default()
                },
            ],
            genres: genres.iter().map(|g| (*g).to_owned()).collect(),
            ..RawBook::default()
        })
        .unwrap()
    };
    import(
        store,
        &[
            with(A, "Ursula K. Le Guin", &["Fantasy"]),
            with(B, "Hope Mirrlees", &["Fantasy", "Fairy tales"]),
        ],
    )
    .await;
    let mut both = vec![A.to_owned(), B.to_owned()];
    both.sort();
    assert_eq!(found(store, "guin").await, [A]);
    assert_eq!(found(store, "baynes").await, both);
    assert_eq!(found(store, "fairy").await, [B]);

    // New contributors and genres replace the old ones in the search too; a row that keeps
    // them leaves them.
    let outcomes = import(
        store,
        &[
            with(A, "Hope Mirrlees", &["Fairy tales"]),
            with(B, "Hope Mirrlees", &["Fantasy", "Fairy tales"]),
        ],
    )
    .await;
    assert_eq!(outcomes, [ImportOutcome::Updated, ImportOutcome::Unchanged]);
    assert!(found(store, "guin").await.is_empty());
    assert_eq!(found(store, "mirrlees").await, both);
    assert_eq!(found(store, "fairy").await, both);
    assert_eq!(found(store, "fantasy").await, [B]);
    let a = book(store, A).await.unwrap();
    assert_eq!(
        a.authors
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["Hope Mirrlees", "Pauline Baynes"]
    );
    assert_eq!(count_rows(store, "book_authors").await, 4);
    assert_eq!(count_rows(store, "book_genres").await, 3);
}

/// A search reads its last word as a prefix too, but runs that second, dearer search only
/// when the words it indexed say that it finds more (PostgreSQL's `search_words`): the words
/// of imported books must be there as soon as the import has committed.
async fn a_prefix_finds_the_words_of_books_imported_after_the_word_itself(store: &Store) {
    let titled = |isbn: &str, title: &str| {
        BookDraft::parse(&RawBook {
            isbn: Some(isbn.into()),
            title: Some(title.into()),
            ..RawBook::default()
        })
        .unwrap()
    };
    import(store, &[titled(A, "Hobbit")]).await;
    assert_eq!(found(store, "hobbit").await, [A]);
    // A word that begins with the first book's, in a later batch.
    import(store, &[titled(B, "Hobbitry")]).await;
    let mut both = vec![A.to_owned(), B.to_owned()];
    both.sort();
    assert_eq!(found(store, "hobbit").await, both);
}
