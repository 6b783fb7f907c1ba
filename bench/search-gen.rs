//! The search benchmark's data generator: prints one table of a synthetic catalogue as
//! PostgreSQL COPY text (tab-separated, `\N` for NULL), fast enough to feed COPY at the speed
//! PostgreSQL takes it. Standard library only: `bench/search` compiles it with plain `rustc -O`.
//!
//!     search-gen BOOKS TABLE [PART PARTS]     TABLE: genres | authors | books | book_authors |
//!                                                    book_genres
//!     search-gen BOOKS words                  the query words of each benchmark class, as JSON
//!
//! Every table is a pure function of BOOKS (and the fixed seed): the link tables name the
//! ids the books and authors tables hold, and PART/PARTS splits the books into slices that
//! can be loaded on several connections at once. Words follow a Zipf law over 20,000
//! made-up words, so that a few words are in 3-10% of the books and most are rare.

use std::io::{self, BufWriter, Write};

const SEED: u64 = 20_261_125;
const VOCABULARY: usize = 20_000;
const GENRES: [&str; 50] = [
    "Fantasy", "Science Fiction", "Mystery", "Thriller", "Romance", "Historical Fiction",
    "Literary Fiction", "Horror", "Young Adult", "Children's", "Poetry", "Drama", "Classics",
    "Biography", "Memoir", "History", "Science", "Philosophy", "Psychology", "Economics",
    "Politics", "Travel", "Cooking", "Art", "Music", "Religion", "Self-Help", "Business",
    "Computing", "Mathematics", "Nature", "Sports", "Humour", "Graphic Novels", "Crime",
    "Adventure", "War", "Western", "Dystopia", "Short Stories", "Essays", "True Crime",
    "Health", "Education", "Law", "Medicine", "Engineering", "Gardening", "Parenting", "Design",
];
const FIRST: [&str; 40] = [
    "Anna", "Ben", "Clara", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Karin", "Leo", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Ugo",
    "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Amélie", "Bjørn", "Chloé", "Dmitri", "Émile",
    "François", "Günter", "Håkon", "Jürgen", "Lucía", "Noé", "Paweł", "Søren", "Zoltán",
];
const LANGUAGES: [(&str, u32); 7] = [
    ("en", 60), ("fr", 10), ("de", 10), ("es", 8), ("it", 5), ("pt", 4), ("nl", 3),
];
const FORMATS: [&str; 11] = [
    "paperback", "paperback", "paperback", "paperback", "paperback", "hardcover", "hardcover",
    "ebook", "ebook", "audiobook", "other",
];
const PUBLISHERS: [&str; 16] = [
    "North Press", "Harbor Press", "Lantern Books", "Meridian", "Quill & Ink", "Atlas House",
    "Cedar Books", "Beacon", "Orchard Press", "Summit", "Raven Books", "Willow & Co",
    "Éditions du Lac", "Éditions Minuit", "Stern Verlag", "Nord Verlag",
];

/// splitmix64: small, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
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
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

struct Catalogue {
    books: u64,
    words: Vec<String>,
    /// Cumulative Zipf weights of `words`, for sampling by binary search.
    cumulative: Vec<f64>,
    authors: Vec<(String, String)>,
    genres: Vec<(String, &'static str)>,
}

fn uuid7(ms: u64, rng: &mut Rng) -> String {
    let a = rng.next() & 0xfff;
    let b = (rng.next() & ((1 << 62) - 1)) | (0b10 << 62);
    let h = format!("{:012x}7{a:03x}{b:016x}", ms & ((1 << 48) - 1));
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn isbn13(n: u64) -> String {
    let body = format!("978{n:09}");
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// RFC 3339 UTC with microseconds, from Unix milliseconds (civil-from-days, H. Hinnant).
fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Catalogue {
    fn new(books: u64) -> Self {
        let mut rng = Rng::new(SEED);
        let onsets = [
            "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "pr",
            "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z",
        ];
        let vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"];
        let codas = ["", "", "n", "r", "l", "s", "th", "nd", "rk", "st"];
        let mut words = Vec::with_capacity(VOCABULARY);
        let mut seen = std::collections::HashSet::new();
        while words.len() < VOCABULARY {
            let syllables = *rng.pick(&[2, 2, 3, 3, 4]);
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(*rng.pick(&onsets[..]));
                w.push_str(*rng.pick(&vowels[..]));
            }
            w.push_str(*rng.pick(&codas[..]));
            if w.len() >= 5 && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut cumulative = Vec::with_capacity(VOCABULARY);
        let mut total = 0.0;
        for rank in 0..VOCABULARY {
            total += 1.0 / (rank as f64 + 1.0);
            cumulative.push(total);
        }
        let author_count = (books / 5).max(10);
        let mut authors = Vec::with_capacity(author_count as usize);
        let mut names = std::collections::HashSet::new();
        for i in 0..author_count {
            let last = capitalize(&words[2000 + rng.below((VOCABULARY - 2000) as u64) as usize]);
            let mut name = format!("{} {last}", rng.pick(&FIRST[..]));
            if !names.insert(name.to_lowercase()) {
                name = format!("{name} {i}");
                names.insert(name.to_lowercase());
            }
            authors.push((uuid7(1_600_000_000_000 + i, &mut rng), name));
        }
        let genres = GENRES
            .iter()
            .enumerate()
            .map(|(i, name)| (uuid7(1_500_000_000_000 + i as u64, &mut rng), *name))
            .collect();
        Self {
            books,
            words,
            cumulative,
            authors,
            genres,
        }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative[VOCABULARY - 1];
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|c| *c < x).min(VOCABULARY - 1);
        &self.words[i]
    }

    fn words(&self, rng: &mut Rng, n: usize) -> Vec<&str> {
        (0..n).map(|_| self.word(rng)).collect()
    }

    /// Calls `f` with every book of part `part` of `parts`.
    fn each_book(&self, part: u64, parts: u64, mut f: impl FnMut(&Book)) {
        let (lo, hi) = (self.books * part / parts, self.books * (part + 1) / parts);
        let mut rng = Rng::new(SEED.wrapping_mul(1_000_003).wrapping_add(lo));
        for i in lo..hi {
            let ms = 1_650_000_000_000 + i * 60_000 + rng.below(60_000);
            let n_title = *rng.pick(&[1usize, 2, 2, 3, 3, 4, 5]);
            let mut title: Vec<String> =
                self.words(&mut rng, n_title).into_iter().map(capitalize).collect();
            if rng.unit() < 0.3 {
                title.insert(0, "The".into());
            }
            let title = title.join(" ");
            let subtitle = (rng.unit() < 0.15).then(|| capitalize(&self.words(&mut rng, 3).join(" ")));
            let n_desc = 20 + rng.below(21) as usize;
            let description = capitalize(&self.words(&mut rng, n_desc).join(" ")) + ".";
            let mut authors = vec![rng.below(self.authors.len() as u64) as usize];
            if rng.unit() < 0.25 {
                let other = rng.below(self.authors.len() as u64) as usize;
                if other != authors[0] {
                    authors.push(other);
                }
            }
            // Genres: a few are big, most are small (exponential over the list).
            let first = ((-rng.unit().max(1e-12).ln() / 0.12) as usize).min(GENRES.len() - 1);
            let mut genres = vec![first];
            if rng.unit() < 0.4 {
                let other = rng.below(GENRES.len() as u64) as usize;
                if other != first {
                    genres.push(other);
                }
            }
            let price = (rng.unit() < 0.95).then(|| 299 + rng.below(4700));
            let language = {
                let mut x = rng.below(100) as u32;
                let mut chosen = "en";
                for (code, weight) in LANGUAGES {
                    if x < weight {
                        chosen = code;
                        break;
                    }
                    x -= weight;
                }
                chosen
            };
            let book = Book {
                id: uuid7(ms, &mut rng),
                isbn: isbn13(i),
                sort_title: title.to_lowercase(),
                title,
                subtitle,
                description,
                publisher: *rng.pick(&PUBLISHERS[..]),
                year: 1900 + rng.below(126),
                language,
                format: *rng.pick(&FORMATS[..]),
                pages: 60 + rng.below(1140),
                price,
                quantity: if rng.unit() < 0.3 { 0 } else { 1 + rng.below(20) },
                reorder: rng.below(6),
                location: format!("{}-{}", (b'A' + rng.below(26) as u8) as char, 1 + rng.below(99)),
                at: timestamp(ms),
                authors,
                genres,
            };
            f(&book);
        }
    }
}

struct Book {
    id: String,
    isbn: String,
    title: String,
    sort_title: String,
    subtitle: Option<String>,
    description: String,
    publisher: &'static str,
    year: u64,
    language: &'static str,
    format: &'static str,
    pages: u64,
    price: Option<u64>,
    quantity: u64,
    reorder: u64,
    location: String,
    at: String,
    authors: Vec<usize>,
    genres: Vec<usize>,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: search-gen BOOKS (genres|authors|books|book_authors|book_genres) [PART PARTS] | search-gen BOOKS words";
    let (Some(books), Some(table)) = (args.get(1).and_then(|b| b.parse::<u64>().ok()), args.get(2))
    else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let part: u64 = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    let parts: u64 = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(1);
    let cat = Catalogue::new(books);
    let now = timestamp(1_650_000_000_000);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    match table.as_str() {
        "genres" => {
            for (id, name) in &cat.genres {
                writeln!(out, "{id}\t{name}\t{}\t{now}\t{now}", name.to_lowercase())?;
            }
        }
        "authors" => {
            for (id, name) in &cat.authors {
                writeln!(out, "{id}\t{name}\t{}\t{now}\t{now}", name.to_lowercase())?;
            }
        }
        // Columns: bench/search's BOOK_COLUMNS.
        "books" => cat.each_book(part, parts, |b| {
            let names = |ids: &[usize], of: &dyn Fn(usize) -> String| {
                ids.iter().map(|i| of(*i)).collect::<Vec<_>>().join(" ")
            };
            let authors = names(&b.authors, &|i| cat.authors[i].1.clone());
            let genres = names(&b.genres, &|i| cat.genres[i].1.to_owned());
            let (price, currency) = match b.price {
                Some(p) => (p.to_string(), "EUR".to_owned()),
                None => ("\\N".to_owned(), "\\N".to_owned()),
            };
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{price}\t{currency}\t{}\t{}\t{}\t1\t{}\t{}\t{authors}\t{genres}",
                b.id, b.isbn, b.title, b.sort_title,
                b.subtitle.as_deref().unwrap_or("\\N"), b.description, b.publisher, b.year,
                b.language, b.format, b.pages, b.quantity, b.reorder, b.location, b.at, b.at
            );
        }),
        "book_authors" => cat.each_book(part, parts, |b| {
            for (p, a) in b.authors.iter().enumerate() {
                let _ = writeln!(out, "{}\t{}\t{p}\tauthor", b.id, cat.authors[*a].0);
            }
        }),
        "book_genres" => cat.each_book(part, parts, |b| {
            for (p, g) in b.genres.iter().enumerate() {
                let _ = writeln!(out, "{}\t{}\t{p}", b.id, cat.genres[*g].0);
            }
        }),
        "words" => {
            // Document frequencies measured on a sample of 20 slices of 1000 books.
            let mut df: std::collections::HashMap<String, u32> = Default::default();
            let mut n = 0u32;
            for slice in 0..20 {
                let mut taken = 0;
                cat.each_book(slice, 20, |b| {
                    if taken >= 1000 {
                        return;
                    }
                    taken += 1;
                    n += 1;
                    let text = format!("{} {} {}", b.title, b.subtitle.as_deref().unwrap_or(""), b.description)
                        .to_lowercase()
                        .replace('.', " ");
                    let mut seen = std::collections::HashSet::new();
                    for w in text.split_whitespace() {
                        if seen.insert(w.to_owned()) {
                            *df.entry(w.to_owned()).or_default() += 1;
                        }
                    }
                });
            }
            let share = |w: &str| f64::from(df.get(w).copied().unwrap_or(0)) / f64::from(n.max(1));
            let common: Vec<&String> =
                cat.words.iter().filter(|w| (0.03..=0.10).contains(&share(w))).take(20).collect();
            let mid: Vec<&String> =
                cat.words.iter().filter(|w| (0.002..=0.01).contains(&share(w))).collect();
            let rare: Vec<&String> = cat.words[12_000..].iter().take(40).collect();
            let two: Vec<String> = (0..40)
                .map(|i| format!("{} {}", mid[(i * 7) % mid.len()], mid[(i * 13 + 5) % mid.len()]))
                .collect();
            let prefix: Vec<String> = mid
                .iter()
                .filter(|w| w.len() > 7)
                .take(40)
                .map(|w| w.chars().take(5).collect())
                .collect();
            let list = |v: Vec<String>| {
                v.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(", ")
            };
            writeln!(out, "{{")?;
            writeln!(out, "  \"common\": [{}],", list(common.into_iter().cloned().collect()))?;
            writeln!(out, "  \"rare\": [{}],", list(rare.into_iter().cloned().collect()))?;
            writeln!(out, "  \"two\": [{}],", list(two))?;
            writeln!(out, "  \"prefix\": [{}],", list(prefix))?;
            writeln!(out, "  \"genres\": [{}]", list(GENRES[..10].iter().map(|g| g.to_string()).collect()))?;
            writeln!(out, "}}")?;
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    out.flush()
}
