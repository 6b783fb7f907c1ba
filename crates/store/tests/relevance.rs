//! Relevance you can measure: a fixed catalogue of 324 books (`data/catalogue.json`, built
//! from `data/books.txt` by `data/make_catalogue.py`) and judged queries
//! (`data/judgments.json`): exact titles, author surnames, partial titles, prefixes, phrases,
//! exclusions, alternatives, genre words, ISBNs, typos, accents and filter combinations,
//! each with the books expected among the first results (and, for exclusions, books that must
//! not appear). Both stores must pass at least 90% of them; per-store rates are printed.
//!
//! The engines rank differently (PostgreSQL: `ts_rank_cd` with field weights; SQLite: FTS5's
//! bm25 with the same weights and pinned statistics, plus the share of the title covered), so
//! the exact order below the expected books may differ; the end of the test pins the
//! differences that the README's Search section describes.

#![allow(clippy::unwrap_used)]

use bookstore_core::{
    BookDraft, BookListQuery, BookSearch, BookSort, CatalogStore, Limit, PageRequest, Principal,
    RawBook, RawBookSearch, RawContributor, RawPrice, Role, WriteContext,
};
use bookstore_store::testing;
use bookstore_store::{Store, StoreConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The share of judged queries each store must pass.
const REQUIRED: f64 = 0.9;

#[derive(Deserialize)]
struct CatalogueBook {
    isbn: String,
    title: String,
    authors: Vec<String>,
    genres: Vec<String>,
    published_year: Option<i64>,
    language: String,
    description: String,
    publisher: String,
    format: String,
    price_minor: i64,
    quantity: i64,
}

#[derive(Deserialize, Clone)]
struct Judgment {
    class: String,
    q: Option<String>,
    expect: Vec<String>,
    top: usize,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    filters: BTreeMap<String, serde_json::Value>,
}

fn catalogue() -> Vec<CatalogueBook> {
    serde_json::from_str(include_str!("data/catalogue.json")).unwrap()
}

fn judgments() -> Vec<Judgment> {
    serde_json::from_str(include_str!("data/judgments.json")).unwrap()
}

async fn load(cat: &Arc<dyn CatalogStore>) {
    let ctx = WriteContext {
        principal: Principal {
            subject: "loader".into(),
            username: "loader".into(),
            role: Role::Admin,
        },
        request_id: None,
        traceparent: None,
    };
    for b in catalogue() {
        let raw = RawBook {
            isbn: Some(b.isbn),
            title: Some(b.title),
            description: Some(b.description),
            authors: b
                .authors
                .into_iter()
                .map(|name| RawContributor {
                    name: Some(name),
                    ..RawContributor::default()
                })
                .collect(),
            genres: b.genres,
            publisher: Some(b.publisher),
            published_year: b.published_year,
            language: Some(b.language),
            format: Some(b.format),
            price: Some(RawPrice::Minor {
                amount_minor: b.price_minor,
                currency: "EUR".into(),
            }),
            quantity: Some(b.quantity),
            ..RawBook::default()
        };
        cat.create_book(&BookDraft::parse(&raw).unwrap(), &ctx, None)
            .await
            .unwrap();
    }
}

fn text(filters: &BTreeMap<String, serde_json::Value>, key: &str) -> Option<String> {
    filters.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

fn int(filters: &BTreeMap<String, serde_json::Value>, key: &str) -> Option<i64> {
    filters.get(key).and_then(|v| v.as_i64())
}

/// The titles a judged query lists first (up to 100).
async fn run(cat: &Arc<dyn CatalogStore>, j: &Judgment) -> Vec<String> {
    let f = &j.filters;
    let search = BookSearch::parse(&RawBookSearch {
        q: j.q.clone(),
        author: text(f, "author"),
        genre: text(f, "genre"),
        language: text(f, "language"),
        format: text(f, "format"),
        publisher: text(f, "publisher"),
        year_from: int(f, "year_from"),
        year_to: int(f, "year_to"),
        price_min: int(f, "price_min"),
        price_max: int(f, "price_max"),
        in_stock: f.get("in_stock").and_then(|v| v.as_bool()),
        not_counted_since: None,
        facets: None,
    })
    .unwrap();
    let sort = text(f, "sort").map(|s| s.parse::<BookSort>().unwrap());
    let query = BookListQuery::new(
        PageRequest {
            limit: Limit::new(100).unwrap(),
            cursor: None,
        },
        sort,
        search,
    )
    .unwrap();
    cat.list_books(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.book.title)
        .collect()
}

fn passes(j: &Judgment, found: &[String]) -> bool {
    let top = &found[..found.len().min(j.top)];
    j.expect.iter().all(|t| top.contains(t)) && j.absent.iter().all(|t| !found.contains(t))
}

/// Runs every judgment; prints the pass rate by class and every failure; returns the
/// results (query, titles found) and the pass rate.
async fn suite(name: &str, store: &Store) -> (Vec<(Judgment, Vec<String>)>, f64) {
    let cat = store.catalog();
    load(&cat).await;
    let mut results = Vec::new();
    let mut by_class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for j in judgments() {
        let found = run(&cat, &j).await;
        let ok = passes(&j, &found);
        let entry = by_class.entry(j.class.clone()).or_default();
        entry.1 += 1;
        if ok {
            entry.0 += 1;
        } else {
            println!(
                "[{name}] FAIL {:?} ({}): expected {:?} in the first {}, got {:?}",
                j.q,
                j.class,
                j.expect,
                j.top,
                &found[..found.len().min(j.top + 3)]
            );
        }
        results.push((j, found));
    }
    let passed: usize = by_class.values().map(|(p, _)| p).sum();
    let total: usize = by_class.values().map(|(_, t)| t).sum();
    for (class, (p, t)) in &by_class {
        println!("[{name}] {class:<15} {p}/{t}");
    }
    let rate = passed as f64 / total as f64;
    println!(
        "[{name}] relevance: {passed}/{total} judged queries pass ({:.1}%)",
        rate * 100.0
    );
    (results, rate)
}

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig {
        database_url: None,
        data_dir: dir.path().join("data"),
        max_connections: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// SQLite, with the catalog's searches answered by the search index (fed by its events).
async fn index_store() -> (Store, tempfile::TempDir) {
    let (store, dir) = sqlite_store().await;
    let indexed = bookstore_search_index::testing::IndexedCatalog::new(
        store.catalog(),
        store.outbox(),
        store.event_log(),
    )
    .unwrap();
    (store.clone().with_catalog(Arc::new(indexed)), dir)
}

async fn postgres_store() -> (Store, String) {
    let url = testing::fresh_postgres_url().await;
    let store = Store::open(&StoreConfig {
        database_url: Some(url.clone()),
        data_dir: "unused".into(),
        max_connections: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (store, url)
}

#[tokio::test]
async fn judged_queries_pass_on_both_stores_and_differ_only_where_documented() {
    assert!(catalogue().len() >= 300);
    assert!(judgments().len() >= 40);

    let (sqlite, _dir) = sqlite_store().await;
    let (sqlite_results, sqlite_rate) = suite("sqlite", &sqlite).await;
    sqlite.close().await;

    let (postgres, url) = postgres_store().await;
    let (postgres_results, postgres_rate) = suite("postgres", &postgres).await;
    postgres.close().await;
    testing::drop_postgres_database(&url).await;

    // Where the engines order the first results differently, say so.
    for ((j, s), (_, p)) in sqlite_results.iter().zip(&postgres_results) {
        let n = j.top.max(3);
        let (s, p) = (&s[..s.len().min(n)], &p[..p.len().min(n)]);
        if s != p {
            println!("DIFF {:?}: sqlite {s:?} / postgres {p:?}", j.q);
        }
    }
    // The documented differences (README, "Search"):
    let found = |results: &[(Judgment, Vec<String>)], q: &str| -> Vec<String> {
        results
            .iter()
            .find(|(j, _)| j.q.as_deref() == Some(q))
            .map(|(_, found)| found.clone())
            .unwrap()
    };
    // 1. Both count every occurrence: The Silmarillion names two Tolkiens.
    assert_eq!(found(&postgres_results, "tolkien")[0], "The Silmarillion");
    assert_eq!(found(&sqlite_results, "tolkien")[0], "The Silmarillion");
    //    But SQLite's bm25 weighs matches against the length of the book's text, where
    //    `ts_rank_cd` (normalization 0) does not: with the same matches (the author's name),
    //    the shorter description ranks first.
    assert_eq!(found(&sqlite_results, "austen")[0], "Emma");
    assert_eq!(found(&postgres_results, "austen")[0], "Pride and Prejudice");
    // 2. SQLite's score rewards the share of the title a query covers: the shorter title
    //    wins a phrase both contain. PostgreSQL ranks by the field weights alone.
    assert_eq!(found(&sqlite_results, "\"old man\"")[0], "Old Man's War");
    assert_eq!(
        found(&postgres_results, "\"old man\"")[0],
        "The Old Man and the Sea"
    );
    // 3. Typo fallback: PostgreSQL returns every title or author name near the word, by
    //    similarity (Hobbes is near "hobit"); SQLite corrects the word to its nearest
    //    indexed spelling and searches that.
    assert!(found(&postgres_results, "hobit").contains(&"Leviathan".to_owned()));
    assert_eq!(found(&sqlite_results, "hobit"), ["The Hobbit"]);

    assert!(sqlite_rate >= REQUIRED, "sqlite: {sqlite_rate}");
    assert!(postgres_rate >= REQUIRED, "postgres: {postgres_rate}");
}

/// The search index (issue 17) on the same judgments: BM25 over weighted fields (as
/// SQLite's bm25, with no title-coverage term), typos by edit distance, first letter
/// included. Its differences from the stores are pinned at the end.
#[tokio::test]
async fn judged_queries_pass_on_the_search_index() {
    let (index, _dir) = index_store().await;
    let (results, rate) = suite("index", &index).await;
    index.close().await;
    let found = |q: &str| -> Vec<String> {
        results
            .iter()
            .find(|(j, _)| j.q.as_deref() == Some(q))
            .map(|(_, found)| found.clone())
            .unwrap()
    };
    // Where it sides with which store (README, "Search index"): BM25 saturates repeated
    // words and, with the field weights as boosts, ranks as PostgreSQL does on the author's
    // name; the shorter title wins the phrase both contain, as on SQLite (BM25 weighs a match
    // against the field's length); a typo is corrected to the nearest spelling, as on SQLite,
    // not every near title or author as on PostgreSQL.
    assert_eq!(found("tolkien")[0], "The Silmarillion");
    assert_eq!(found("austen")[0], "Pride and Prejudice");
    assert_eq!(found("\"old man\"")[0], "Old Man's War");
    assert_eq!(found("hobit"), ["The Hobbit"]);
    assert!(rate >= REQUIRED, "index: {rate}");
}
