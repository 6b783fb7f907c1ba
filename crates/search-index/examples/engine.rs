//! The search index alone, at scale, without HTTP: builds an index of BOOKS synthetic books
//! (words by a Zipf law over 20,000 made-up words, as bench/search-gen.rs makes them), then
//! runs each query class of bench/search from 8 threads and prints p50/p95/p99 per class,
//! the build time, the index size and the peak RSS.
//!
//!     cargo run --release -p bookstore-search-index --example engine -- BOOKS SECONDS DIR
//!
//! With ENGINE_REUSE=1 an index already in DIR (of the same BOOKS) is measured again without
//! being built (the books are still generated: the query words come from them).
//!
//! It measures the engine's share of a search; bench/search measures the service.

#![allow(clippy::unwrap_used)]

use bookstore_core::book::{Contributor, GenreTag};
use bookstore_core::money::{Currency, Money};
use bookstore_core::{
    AuthorId, Book, BookFormat, BookId, BookListQuery, BookSearch, GenreId, Isbn, Limit,
    PageRequest, Quantity, RawBookSearch,
};
use bookstore_search_index::SearchIndex;
use chrono::{TimeZone, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "re", "tu", "van", "sel", "dor", "ni", "qua", "bri", "ton", "xe", "fa",
    "gul", "pe", "ris", "mo", "zan", "thi", "o", "lek", "su", "wen",
];
const GENRES: [&str; 20] = [
    "Fantasy",
    "Science Fiction",
    "Mystery",
    "Thriller",
    "Romance",
    "History",
    "Horror",
    "Classics",
    "Poetry",
    "Drama",
    "Biography",
    "Travel",
    "Cooking",
    "Art",
    "Music",
    "Science",
    "Philosophy",
    "Crime",
    "Adventure",
    "Essays",
];

fn isbn(n: u64) -> Isbn {
    let body = format!("978{n:09}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    Isbn::parse(&format!("{body}{}", (10 - sum % 10) % 10)).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let books: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = std::path::PathBuf::from(args.get(3).cloned().unwrap_or("/tmp/engine-index".into()));
    let reuse = std::env::var_os("ENGINE_REUSE").is_some() && dir.join("meta.json").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut rng = Rng(20_261_125);
    let mut vocabulary = Vec::new();
    while vocabulary.len() < 20_000 {
        let n = 2 + rng.below(3);
        let w: String = (0..n).map(|_| SYLLABLES[rng.below(24) as usize]).collect();
        if w.len() >= 4 && !vocabulary.contains(&w) {
            vocabulary.push(w);
        }
    }
    let cumulative: Vec<f64> = (1..=vocabulary.len())
        .scan(0.0, |acc, r| {
            *acc += 1.0 / r as f64;
            Some(*acc)
        })
        .collect();
    let total = cumulative[cumulative.len() - 1];
    let word = |rng: &mut Rng| {
        let x = (rng.next() as f64 / u64::MAX as f64) * total;
        cumulative
            .partition_point(|c| *c < x)
            .min(vocabulary.len() - 1)
    };
    let index = SearchIndex::open(&dir).unwrap();
    let started = Instant::now();
    let mut df: HashMap<usize, u64> = HashMap::new();
    let mut chunk = Vec::with_capacity(5_000);
    for n in 0..books {
        let title: Vec<usize> = (0..1 + rng.below(5)).map(|_| word(&mut rng)).collect();
        let desc: Vec<usize> = (0..20 + rng.below(21)).map(|_| word(&mut rng)).collect();
        let mut seen: Vec<usize> = title.iter().chain(&desc).copied().collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            *df.entry(w).or_default() += 1;
        }
        let text = |ws: &[usize]| {
            ws.iter()
                .map(|w| vocabulary[*w].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let genre = if rng.below(2) == 0 {
            rng.below(5)
        } else {
            rng.below(20)
        } as usize;
        let book = Book {
            id: BookId::from_uuid(uuid::Uuid::from_u128(u128::from(n) << 20 | 0xabc)),
            isbn: isbn(n),
            title: text(&title),
            subtitle: None,
            description: Some(text(&desc)),
            authors: vec![Contributor {
                author_id: AuthorId::from_uuid(uuid::Uuid::from_u128(u128::from(n % 50_000) + 1)),
                name: format!("Anna {}", vocabulary[2000 + (n % 15_000) as usize]),
                role: Default::default(),
            }],
            genres: vec![GenreTag {
                id: GenreId::from_uuid(uuid::Uuid::from_u128(genre as u128 + 7)),
                name: GENRES[genre].into(),
            }],
            publisher: Some("North Press".into()),
            published_year: Some(1950 + rng.below(75) as i32),
            language: Some(["en", "en", "en", "fr", "de", "es"][rng.below(6) as usize].into()),
            format: Some(BookFormat::ALL[rng.below(5) as usize]),
            page_count: None,
            price: Some(
                Money::new(
                    500 + rng.below(3000) as i64,
                    Currency::parse("EUR").unwrap(),
                )
                .unwrap(),
            ),
            quantity: Quantity::new(rng.below(4) as i64).unwrap(),
            reorder_point: Quantity::ZERO,
            reorder_quantity: Quantity::ZERO,
            location: None,
            version: 1,
            created_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                + chrono::Duration::seconds(n as i64),
        };
        let json = serde_json::to_vec(&book).unwrap();
        if reuse {
            continue;
        }
        chunk.push((book, json));
        if chunk.len() == 5_000 {
            index.add_unchecked(&chunk).unwrap();
            chunk.clear();
        }
    }
    if reuse {
        drop(index);
    } else {
        index.add_unchecked(&chunk).unwrap();
        index.apply(&[], 1).unwrap();
        // As a build from the store does: the segments merged into one.
        index.finish().unwrap();
    }
    let index = SearchIndex::open(&dir).unwrap();
    let build = started.elapsed();
    let size: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    // Query words of each class by their measured document frequency.
    let share = |w: &usize| df.get(w).copied().unwrap_or(0) as f64 / books as f64;
    let pick = |lo: f64, hi: f64| -> Vec<String> {
        let mut ws: Vec<String> = (0..vocabulary.len())
            .filter(|w| (lo..hi).contains(&share(w)))
            .map(|w| vocabulary[w].clone())
            .collect();
        ws.truncate(50);
        ws
    };
    let common = pick(0.03, 0.10);
    let mid = pick(0.002, 0.01);
    let rare = pick(0.0001, 0.0005);
    let raw = |q: Option<String>| RawBookSearch {
        q,
        ..RawBookSearch::default()
    };
    let classes: Vec<(&str, Vec<RawBookSearch>)> = vec![
        (
            "common",
            common.iter().map(|w| raw(Some(w.clone()))).collect(),
        ),
        ("rare", rare.iter().map(|w| raw(Some(w.clone()))).collect()),
        (
            "two",
            mid.chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| raw(Some(format!("{} {}", c[0], c[1]))))
                .collect(),
        ),
        (
            "prefix",
            mid.iter()
                .map(|w| raw(Some(w.chars().take(5).collect())))
                .collect(),
        ),
        (
            "filter",
            GENRES[..5]
                .iter()
                .map(|g| RawBookSearch {
                    genre: Some((*g).into()),
                    language: Some("de".into()),
                    in_stock: Some(true),
                    ..RawBookSearch::default()
                })
                .collect(),
        ),
        (
            "facets",
            rare.iter()
                .map(|w| RawBookSearch {
                    q: Some(w.clone()),
                    facets: Some("genre,language,format".into()),
                    ..RawBookSearch::default()
                })
                .collect(),
        ),
        (
            "common_genre",
            common
                .iter()
                .map(|w| RawBookSearch {
                    q: Some(w.clone()),
                    genre: Some(GENRES[0].into()),
                    ..RawBookSearch::default()
                })
                .collect(),
        ),
        (
            "common_facets",
            common
                .iter()
                .map(|w| RawBookSearch {
                    q: Some(w.clone()),
                    facets: Some("genre,language,format".into()),
                    ..RawBookSearch::default()
                })
                .collect(),
        ),
    ];
    println!(
        "{books} books: built in {:.1} s, {:.1} MiB on disk; common words: {}, rare: {}",
        build.as_secs_f64(),
        size as f64 / 1048576.0,
        common.len(),
        rare.len()
    );
    println!("| class | queries/s | p50 ms | p95 ms | p99 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let index = &index;
    for (name, searches) in &classes {
        if searches.is_empty() {
            continue;
        }
        let queries: Vec<BookListQuery> = searches
            .iter()
            .map(|r| {
                BookListQuery::new(
                    PageRequest {
                        limit: Limit::new(20).unwrap(),
                        cursor: None,
                    },
                    None,
                    BookSearch::parse(r).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let queries = &queries;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut all: Vec<Duration> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8u64)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = Rng(t + 1);
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            let q = &queries[rng.below(queries.len() as u64) as usize];
                            let t0 = Instant::now();
                            let page = index.search(q).unwrap().unwrap();
                            lat.push(t0.elapsed());
                            std::hint::black_box(page);
                        }
                        lat
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        all.sort();
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            all.len() as f64 / seconds as f64,
            percentile(&all, 0.5),
            percentile(&all, 0.95),
            percentile(&all, 0.99),
            percentile(&all, 1.0)
        );
    }
    println!("peak RSS {} MiB", peak_rss_mib());
}
