//! Mixed writes for the read-model tests (creates, updates, deletes, stock moves, from several
//! clients at once), and the check that a DynamoDB table holds exactly the store's books.

use crate::helpers::*;
use bookstore_aws::dynamodb::Stored;
use bookstore_aws::BooksTable;
use bookstore_core::BookSearch;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift64*): the tests need varied, not secure, choices.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// `writes` successful writes from `clients` clients at once, each on its own books: about a
/// quarter creates, then updates, stock moves and a few deletes. Returns how many of each.
pub async fn mixed_writes(app: &TestApp, first_isbn: u32, writes: u32, clients: u32) -> [u32; 4] {
    let per_client = writes / clients;
    let tasks = (0..clients).map(|client| {
        write_as_client(
            app,
            first_isbn + client * 10_000,
            per_client,
            u64::from(client) + 7,
        )
    });
    let counts = futures_util::future::join_all(tasks).await;
    let mut total = [0; 4];
    for count in counts {
        for (sum, n) in total.iter_mut().zip(count) {
            *sum += n;
        }
    }
    total
}

async fn write_as_client(app: &TestApp, first_isbn: u32, writes: u32, seed: u64) -> [u32; 4] {
    let mut dice = Dice::new(seed);
    let mut books: Vec<String> = Vec::new();
    let mut next_isbn = first_isbn;
    // [created, updated, stock moved, deleted]
    let mut done = [0u32; 4];
    while done.iter().sum::<u32>() < writes {
        let roll = dice.below(20);
        let response = if books.len() < 3 || roll < 5 {
            let mut book = hobbit();
            book["isbn"] = json!(isbn(next_isbn));
            book["title"] = json!(format!("Read model {next_isbn}"));
            next_isbn += 1;
            let created = app.create_book(book).await;
            books.push(created["id"].as_str().expect("id").to_owned());
            done[0] += 1;
            continue;
        } else if roll < 11 {
            let id = &books[dice.below(books.len())];
            app.request(Method::PATCH, &format!("/books/{id}"))
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "*")
                .body(json!({"title": format!("Revised {}", dice.below(1_000_000))}).to_string())
                .send()
                .await
                .map(|r| (r, 1))
        } else if roll < 18 {
            let id = &books[dice.below(books.len())];
            let (kind, quantity) = if roll.is_multiple_of(2) {
                ("receive", 1 + dice.below(5))
            } else {
                ("sale", 1)
            };
            app.request(Method::POST, &format!("/books/{id}/stock-movements"))
                .json(&json!({"kind": kind, "quantity": quantity}))
                .send()
                .await
                .map(|r| (r, 2))
        } else {
            let id = books.swap_remove(dice.below(books.len()));
            app.request(Method::DELETE, &format!("/books/{id}"))
                .header("if-match", "*")
                .send()
                .await
                .map(|r| (r, 3))
        };
        let (response, kind) = response.expect("request");
        // A sale of a book with no stock left is refused: not a write, so not counted.
        if response.status().is_success() {
            done[kind] += 1;
        } else {
            let status = response.status();
            assert!(
                status == 409 || status == 422,
                "{status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    done
}

/// The store's books as JSON, by id, as the events carry them.
pub async fn store_books(app: &TestApp) -> BTreeMap<String, Value> {
    let catalog = app.store().await.catalog();
    let everything = BookSearch::default();
    let mut books = BTreeMap::new();
    let mut stream = catalog.export_books(&everything);
    while let Some(book) = stream.next().await {
        let book = serde_json::to_value(book.expect("a book")).expect("json");
        books.insert(book["id"].as_str().expect("id").to_owned(), book);
    }
    books
}

/// What a table holds: books by id, and the ids of tombstones.
pub struct Snapshot {
    pub books: BTreeMap<String, Value>,
    pub tombstones: usize,
}

pub async fn snapshot(table: &BooksTable) -> Snapshot {
    let mut books = BTreeMap::new();
    let mut tombstones = 0;
    for item in table.scan().await.expect("scan") {
        match item {
            Stored::Book(book) => {
                books.insert(book["id"].as_str().expect("id").to_owned(), book);
            }
            Stored::Deleted { .. } => tombstones += 1,
        }
    }
    Snapshot { books, tombstones }
}

/// `Ok` when the table holds exactly the store's books, each at its version and with all of
/// its fields (a `null` field is absent from the item), and none of the deleted ones; else the
/// first difference.
pub fn compare(store: &BTreeMap<String, Value>, table: &Snapshot) -> Result<(), String> {
    for (id, book) in store {
        let Some(item) = table.books.get(id) else {
            return Err(format!("book {id} (v{}) missing", book["version"]));
        };
        let mut want = book.clone();
        if let Some(fields) = want.as_object_mut() {
            fields.retain(|_, v| !v.is_null());
        }
        if *item != want {
            return Err(format!("book {id} differs:\n table {item}\n store {want}"));
        }
    }
    if let Some(id) = table.books.keys().find(|id| !store.contains_key(*id)) {
        return Err(format!("book {id} is in the table but not in the store"));
    }
    Ok(())
}

/// Waits (up to `seconds`) for the table to hold the store's books, then checks the ISBN index
/// finds each one, and only it. Returns the last snapshot.
pub async fn converges(app: &TestApp, table: &BooksTable, seconds: u64, what: &str) -> Snapshot {
    let store = store_books(app).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let snapshot = loop {
        let snapshot = snapshot(table).await;
        match compare(&store, &snapshot) {
            Ok(()) => break snapshot,
            Err(difference) => assert!(
                std::time::Instant::now() < deadline,
                "{what}: the table did not converge to the store: {difference}\nserver log:\n{}",
                app.logs()
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    for (id, book) in &store {
        let isbn = book["isbn"].as_str().expect("isbn");
        let found = table.by_isbn(isbn).await.expect("query the isbn index");
        let ids: Vec<&str> = found.iter().filter_map(|b| b["id"].as_str()).collect();
        assert_eq!(ids, [id.as_str()], "{what}: the isbn index for {isbn}");
    }
    snapshot
}
