//! The index against real Tantivy: matching (accents, typos, prefixes, the web syntax, ISBNs),
//! filters and facets, per-book version order, the position in the commit, stable cursors.

#![allow(clippy::unwrap_used)]

use bookstore_core::book::{Contributor, GenreTag};
use bookstore_core::money::{Currency, Money};
use bookstore_core::{
    AuthorId, Book, BookFormat, BookId, BookListQuery, BookSearch, BookSort, GenreId, Isbn, Limit,
    PageRequest, Quantity, RawBookSearch,
};
use bookstore_search_index::{Change, SearchIndex};
use chrono::{TimeZone, Utc};
use uuid::Uuid;

fn isbn(n: u32) -> Isbn {
    Isbn::numbered(n)
}

struct Spec<'a> {
    title: &'a str,
    authors: &'a [&'a str],
    genres: &'a [&'a str],
    description: &'a str,
    year: i32,
    price: i64,
    quantity: i64,
    language: &'a str,
}

fn book(n: u32, s: &Spec) -> Book {
    Book {
        id: BookId::from_uuid(Uuid::from_u128(u128::from(n) + 1000)),
        isbn: isbn(n),
        title: s.title.into(),
        subtitle: None,
        description: Some(s.description.into()),
        authors: s
            .authors
            .iter()
            .map(|a| Contributor {
                author_id: AuthorId::from_uuid(name_id(a)),
                name: (*a).into(),
                role: Default::default(),
            })
            .collect(),
        genres: s
            .genres
            .iter()
            .map(|g| GenreTag {
                id: GenreId::from_uuid(name_id(g)),
                name: (*g).into(),
            })
            .collect(),
        publisher: Some("Allen & Unwin".into()),
        published_year: Some(s.year),
        language: Some(s.language.into()),
        format: Some(BookFormat::Paperback),
        page_count: None,
        price: Some(Money::new(s.price, Currency::parse("EUR").unwrap()).unwrap()),
        quantity: Quantity::new(s.quantity).unwrap(),
        reorder_point: Quantity::ZERO,
        reorder_quantity: Quantity::ZERO,
        location: None,
        version: 1,
        created_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        updated_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::seconds(i64::from(n)),
    }
}

/// A stable id per name.
fn name_id(name: &str) -> Uuid {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Uuid::from_u128(u128::from(hash) << 8)
}

fn upsert(b: &Book) -> Change {
    Change::Upsert {
        book: Box::new(b.clone()),
        json: serde_json::to_vec(b).unwrap(),
    }
}

fn catalogue() -> Vec<Book> {
    let specs = [
        Spec {
            title: "The Hobbit",
            authors: &["J. R. R. Tolkien"],
            genres: &["Fantasy"],
            description: "A hobbit goes on an unexpected journey with dwarves.",
            year: 1937,
            price: 1299,
            quantity: 3,
            language: "en",
        },
        Spec {
            title: "The Silmarillion",
            authors: &["J. R. R. Tolkien", "Christopher Tolkien"],
            genres: &["Fantasy"],
            description: "The elder days of Middle-earth.",
            year: 1977,
            price: 1599,
            quantity: 0,
            language: "en",
        },
        Spec {
            title: "Le Petit Prince",
            authors: &["Antoine de Saint-Exupéry"],
            genres: &["Children"],
            description: "Un pilote rencontre un petit prince.",
            year: 1943,
            price: 899,
            quantity: 5,
            language: "fr",
        },
        Spec {
            title: "The Old Man and the Sea",
            authors: &["Ernest Hemingway"],
            genres: &["Classics"],
            description: "An old fisherman and a great marlin.",
            year: 1952,
            price: 999,
            quantity: 2,
            language: "en",
        },
        Spec {
            title: "Old Man's War",
            authors: &["John Scalzi"],
            genres: &["Science Fiction"],
            description: "An old man joins the army.",
            year: 2005,
            price: 1099,
            quantity: 1,
            language: "en",
        },
        Spec {
            title: "Dune",
            authors: &["Frank Herbert"],
            genres: &["Science Fiction", "Classics"],
            description: "Spice, sand and a desert planet.",
            year: 1965,
            price: 1499,
            quantity: 7,
            language: "en",
        },
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| book(i as u32, s))
        .collect()
}

fn index() -> (SearchIndex, Vec<Book>) {
    let ix = SearchIndex::in_memory().unwrap();
    let books = catalogue();
    let changes: Vec<Change> = books.iter().map(upsert).collect();
    assert_eq!(ix.apply(&changes, 6).unwrap(), 6);
    (ix, books)
}

fn query(
    raw: RawBookSearch,
    sort: Option<BookSort>,
    limit: i64,
    cursor: Option<String>,
) -> BookListQuery {
    BookListQuery::new(
        PageRequest {
            limit: Limit::new(limit).unwrap(),
            cursor,
        },
        sort,
        BookSearch::parse(&raw).unwrap(),
    )
    .unwrap()
}

fn q(text: &str) -> RawBookSearch {
    RawBookSearch {
        q: Some(text.into()),
        ..RawBookSearch::default()
    }
}

fn titles(ix: &SearchIndex, raw: RawBookSearch) -> Vec<String> {
    ix.search(&query(raw, None, 100, None))
        .unwrap()
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.book.title)
        .collect()
}

#[test]
fn words_accents_prefixes_and_the_web_syntax() {
    let (ix, _) = index();
    assert_eq!(titles(&ix, q("hobbit"))[0], "The Hobbit");
    // Accents folded both ways; a hyphenated name is a phrase.
    assert_eq!(titles(&ix, q("exupery")), ["Le Petit Prince"]);
    assert_eq!(titles(&ix, q("Saint-Exupéry")), ["Le Petit Prince"]);
    // The last word is a prefix (three letters or more).
    assert_eq!(titles(&ix, q("silmar")), ["The Silmarillion"]);
    // Phrase, exclusion, or.
    assert_eq!(titles(&ix, q("\"old man\"")).len(), 2);
    assert_eq!(titles(&ix, q("old man -war")), ["The Old Man and the Sea"]);
    let either = titles(&ix, q("dune or hobbit"));
    assert!(either.contains(&"Dune".to_owned()) && either.contains(&"The Hobbit".to_owned()));
    // The title weighs more than the description.
    assert_eq!(titles(&ix, q("hobbit"))[0], "The Hobbit");
    // Tolkien twice in the Silmarillion's authors.
    assert_eq!(titles(&ix, q("tolkien"))[0], "The Silmarillion");
}

#[test]
fn typos_including_the_first_letter() {
    let (ix, _) = index();
    assert_eq!(titles(&ix, q("hobit"))[0], "The Hobbit");
    assert_eq!(titles(&ix, q("tolkein"))[0..2].len(), 2);
    // The first letter wrong: a prefix-bound engine (SQLite's spellfix) cannot find this.
    assert_eq!(titles(&ix, q("gobbit"))[0], "The Hobbit");
    assert_eq!(titles(&ix, q("herbret dune"))[0], "Dune");
    // Short words get no edits.
    assert!(titles(&ix, q("dun")).contains(&"Dune".to_owned()), "prefix");
    assert_eq!(titles(&ix, q("xyzzyq")), Vec::<String>::new());
}

#[test]
fn isbns_find_their_book_first_in_any_form() {
    let (ix, books) = index();
    let dune = &books[5];
    let thirteen = dune.isbn.as_str().to_owned();
    let ten = {
        let body = &thirteen[3..12];
        let sum: u32 = body
            .chars()
            .zip((2..=10).rev())
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        format!(
            "{body}{}",
            if check == 10 {
                "X".to_owned()
            } else {
                check.to_string()
            }
        )
    };
    for form in [
        thirteen.clone(),
        ten,
        format!("{}-{}", &thirteen[..3], &thirteen[3..]),
    ] {
        assert_eq!(titles(&ix, q(&form)), ["Dune"], "{form}");
    }
    let mixed = titles(&ix, q(&format!("hobbit {thirteen}")));
    assert_eq!(mixed[0], "Dune");
    assert!(mixed.contains(&"The Hobbit".to_owned()));
}

#[test]
fn filters_and_facets_over_the_whole_result() {
    let (ix, _) = index();
    let raw = RawBookSearch {
        q: Some("the".into()),
        genre: Some("fantasy".into()),
        in_stock: Some(true),
        ..RawBookSearch::default()
    };
    assert_eq!(titles(&ix, raw), ["The Hobbit"]);
    let raw = RawBookSearch {
        language: Some("en".into()),
        year_from: Some(1950),
        price_max: Some(1500),
        author: Some("frank herbert".into()),
        ..RawBookSearch::default()
    };
    assert_eq!(titles(&ix, raw), ["Dune"]);
    let page = ix
        .search(&query(
            RawBookSearch {
                facets: Some("genre,language,format".into()),
                language: Some("en".into()),
                ..RawBookSearch::default()
            },
            None,
            1,
            None,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let genre = &page.facets[0].values;
    assert_eq!((genre[0].value.as_str(), genre[0].count), ("Classics", 2));
    assert_eq!(
        page.facets[1].values[0].count, 5,
        "five English books, not one page"
    );
    assert_eq!(page.facets[2].values[0].value, "paperback");
    // Newest change first without q.
    let all = titles(
        &ix,
        RawBookSearch {
            language: Some("en".into()),
            ..RawBookSearch::default()
        },
    );
    assert_eq!(all[0], "Dune");
    // Not served: a title sort, a stock-movement filter.
    assert!(ix
        .search(&query(q("dune"), Some(BookSort::Title), 10, None))
        .unwrap()
        .is_none());
}

/// A finished index is one segment (each search pays per segment), with its documents and
/// its position intact.
#[test]
fn a_finished_index_is_one_segment_with_its_books_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let books = catalogue();
    {
        let ix = SearchIndex::open(dir.path()).unwrap();
        // One commit per pair of books: three segments at least.
        for (n, pair) in books.chunks(2).enumerate() {
            ix.apply(&pair.iter().map(upsert).collect::<Vec<_>>(), n as i64 + 1)
                .unwrap();
        }
        assert!(ix.segments() >= 3, "{} segments", ix.segments());
        ix.finish().unwrap();
    }
    let reopened = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(reopened.segments(), 1);
    assert_eq!(reopened.position(), 3);
    assert_eq!(reopened.books().unwrap(), 6);
    assert_eq!(titles(&reopened, q("dune")), ["Dune"]);
}

#[test]
fn changes_apply_in_version_order_and_the_position_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let books = catalogue();
    let mut dune2 = books[5].clone();
    dune2.title = "Dune Messiah".into();
    dune2.version = 2;
    {
        let ix = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.position(), 0);
        ix.apply(&books.iter().map(upsert).collect::<Vec<_>>(), 10)
            .unwrap();
        ix.apply(&[upsert(&dune2)], 11).unwrap();
        // A replay of version 1 is stale.
        assert_eq!(ix.apply(&[upsert(&books[5])], 12).unwrap(), 0);
        assert_eq!(titles(&ix, q("messiah")), ["Dune Messiah"]);
        // Deleted at version 2; a late version 2 or 1 does not bring it back.
        ix.apply(
            &[Change::Delete {
                id: dune2.id.as_uuid(),
                version: 2,
            }],
            13,
        )
        .unwrap();
        assert_eq!(
            ix.apply(&[upsert(&dune2), upsert(&books[5])], 14).unwrap(),
            0
        );
        assert!(titles(&ix, q("dune")).iter().all(|t| !t.contains("Dune")));
        assert_eq!(ix.books().unwrap(), 5);
    }
    let reopened = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(reopened.position(), 14);
    assert_eq!(
        reopened.version_of(dune2.id.as_uuid()).unwrap(),
        Some((2, false))
    );
}

#[test]
fn cursors_walk_every_match_once_across_commits() {
    let ix = SearchIndex::in_memory().unwrap();
    let mut books = Vec::new();
    for n in 0..45u32 {
        let desc = "word ".repeat((n % 7 + 1) as usize);
        let spec = Spec {
            title: &format!("Book {n} of wonder"),
            authors: &["A. Writer"],
            genres: &["Essays"],
            description: &desc,
            year: 2000,
            price: 100 + i64::from(n % 5),
            quantity: 1,
            language: "en",
        };
        books.push(book(n, &spec));
    }
    ix.apply(&books.iter().map(upsert).collect::<Vec<_>>(), 1)
        .unwrap();
    for sort in [
        None,
        Some(BookSort::Price),
        Some(BookSort::PriceDesc),
        Some(BookSort::UpdatedDesc),
    ] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut extra = 1000;
        loop {
            let page = ix
                .search(&query(q("wonder word"), sort, 10, cursor.clone()))
                .unwrap()
                .unwrap();
            seen.extend(page.items.iter().map(|s| s.book.id));
            // Between pages, books that change the statistics (and match) are added.
            let spec = Spec {
                title: "Wonder",
                authors: &["B"],
                genres: &["X"],
                description: "word word word word word word word word",
                year: 1,
                price: 1,
                quantity: 1,
                language: "de",
            };
            let mut other = book(extra, &spec);
            other.updated_at = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
            extra += 1;
            ix.apply(&[upsert(&other)], i64::from(extra)).unwrap();
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let originals: Vec<BookId> = seen
            .iter()
            .copied()
            .filter(|id| books.iter().any(|b| b.id == *id))
            .collect();
        let mut unique = originals.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), originals.len(), "{sort:?}: a book repeated");
        assert_eq!(unique.len(), 45, "{sort:?}: a book skipped");
    }
}

/// Newest first without `q` stops at the page in each segment (documents are stored newest
/// first): across segments, with ties of `updated_at` broken by id, replaced documents and
/// cursors, the pages are the list in the stores' order, each book once. Facets count the
/// live documents only.
#[test]
fn newest_first_pages_follow_the_stored_order_across_segments_and_ties() {
    let ix = SearchIndex::in_memory().unwrap();
    let spec = |genre: &'static [&'static str]| Spec {
        title: "Listed",
        authors: &["A. Writer"],
        genres: genre,
        description: "plain",
        year: 2000,
        price: 100,
        quantity: 1,
        language: "en",
    };
    let mut books: Vec<Book> = (0..60u32)
        .map(|n| {
            let mut b = book(n, &spec(&["Essays"]));
            // Three books a second: ties that only the id orders.
            b.updated_at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                + chrono::Duration::seconds(i64::from(n / 3));
            b
        })
        .collect();
    // Four commits: four segments, newest books in every one.
    for (n, part) in books.chunks(15).enumerate() {
        let mut part: Vec<Change> = part.iter().map(upsert).collect();
        part.reverse();
        ix.apply(&part, n as i64 + 1).unwrap();
    }
    // Replaced: the old documents stay in their segments, deleted.
    for b in books.iter_mut().filter(|b| b.isbn.as_str().ends_with('7')) {
        b.version = 2;
        b.genres[0].name = "Poetry".into();
        b.genres[0].id = GenreId::from_uuid(name_id("Poetry"));
    }
    let changed: Vec<Change> = books
        .iter()
        .filter(|b| b.version == 2)
        .map(upsert)
        .collect();
    assert!(!changed.is_empty());
    ix.apply(&changed, 10).unwrap();

    let mut expected: Vec<&Book> = books.iter().collect();
    expected.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.id.as_uuid().cmp(&a.id.as_uuid()))
    });
    let expected: Vec<BookId> = expected.iter().map(|b| b.id).collect();
    let listed = || RawBookSearch {
        language: Some("en".into()),
        ..RawBookSearch::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = ix
            .search(&query(listed(), Some(BookSort::UpdatedDesc), 7, cursor))
            .unwrap()
            .unwrap();
        seen.extend(page.items.iter().map(|s| s.book.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let poetry = books.iter().filter(|b| b.version == 2).count() as i64;
    let page = ix
        .search(&query(
            RawBookSearch {
                q: Some("listed".into()),
                facets: Some("genre".into()),
                ..RawBookSearch::default()
            },
            None,
            5,
            None,
        ))
        .unwrap()
        .unwrap();
    let counts: Vec<(&str, i64)> = page.facets[0]
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect();
    assert_eq!(counts, [("Essays", 60 - poetry), ("Poetry", poetry)]);
}

/// Every page of `raw`, walked with cursors: the ids in order.
fn walk(ix: &SearchIndex, raw: &RawBookSearch, limit: i64) -> Vec<BookId> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = ix
            .search(&query(raw.clone(), None, limit, cursor))
            .unwrap()
            .unwrap();
        ids.extend(page.items.iter().map(|s| s.book.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return ids,
        }
    }
}

/// Ranked and filtered, the words are collected pruned and the filters checked per match
/// (a dense filter read in step with the matches, a sparse one walked itself): the pages are the words'
/// ranking cut by the filters, over two segments and a replaced book, for a dense genre, a
/// sparse author and two filters together.
#[test]
fn ranked_pages_with_filters_are_the_ranking_of_the_words_cut_by_the_filters() {
    let ix = SearchIndex::in_memory().unwrap();
    let spec_of = |n: u32| {
        let title = if n.is_multiple_of(13) {
            format!("The saga of {n}")
        } else {
            format!("Volume {n}")
        };
        let description = format!("{} and more", "saga ".repeat((n % 9 + 1) as usize));
        (title, description)
    };
    let genre = |n: u32| {
        if n.is_multiple_of(3) {
            "Dense"
        } else {
            "Other"
        }
    };
    let author = |n: u32| {
        if [7, 150, 399].contains(&n) {
            "Rare Author"
        } else {
            "Common Author"
        }
    };
    let language = |n: u32| if n.is_multiple_of(2) { "en" } else { "de" };
    let mut books = Vec::new();
    for n in 0..400u32 {
        let (title, description) = spec_of(n);
        books.push(book(
            n,
            &Spec {
                title: &title,
                authors: &[author(n)],
                genres: &[genre(n)],
                description: &description,
                year: 2000,
                price: 100,
                quantity: 1,
                language: language(n),
            },
        ));
    }
    let (first, second) = books.split_at(200);
    ix.apply(&first.iter().map(upsert).collect::<Vec<_>>(), 1)
        .unwrap();
    ix.apply(&second.iter().map(upsert).collect::<Vec<_>>(), 2)
        .unwrap();
    // A replaced book leaves a deleted document behind.
    let mut replaced = books[3].clone();
    replaced.version = 2;
    replaced.description = Some("saga saga saga saga saga saga saga saga saga".into());
    ix.apply(&[upsert(&replaced)], 3).unwrap();
    assert!(ix.segments() >= 2);

    let everything = walk(&ix, &q("saga"), 100);
    assert_eq!(everything.len(), 400);
    let number = |id: &BookId| (id.as_uuid().as_u128() - 1000) as u32;
    // A search and which books (by number) it keeps.
    type Case<'a> = (RawBookSearch, Box<dyn Fn(u32) -> bool + 'a>);
    let cases: [Case; 3] = [
        (
            RawBookSearch {
                genre: Some("dense".into()),
                ..q("saga")
            },
            Box::new(|n| genre(n) == "Dense"),
        ),
        (
            RawBookSearch {
                author: Some("rare author".into()),
                ..q("saga")
            },
            Box::new(|n| author(n) == "Rare Author"),
        ),
        (
            RawBookSearch {
                genre: Some("dense".into()),
                language: Some("de".into()),
                ..q("saga")
            },
            Box::new(|n| genre(n) == "Dense" && language(n) == "de"),
        ),
    ];
    for (raw, keep) in cases {
        let expected: Vec<BookId> = everything
            .iter()
            .copied()
            .filter(|id| keep(number(id)))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(walk(&ix, &raw, 20), expected, "{raw:?}");
    }
}

/// Ranked with filters and facets, the page is collected from the words alone (the filters
/// checked per match) and the facets in a pass of their own: they count the matches of the
/// words and the filters together, as a list in any other order counts them.
#[test]
fn ranked_facets_count_the_words_and_the_filters_together() {
    let (ix, _) = index();
    for filtered in [
        RawBookSearch {
            language: Some("en".into()),
            ..q("the")
        },
        RawBookSearch {
            genre: Some("fantasy".into()),
            ..q("the")
        },
    ] {
        let raw = RawBookSearch {
            facets: Some("genre,language,format".into()),
            ..filtered.clone()
        };
        let ranked = ix
            .search(&query(raw.clone(), None, 1, None))
            .unwrap()
            .unwrap();
        let newest = ix
            .search(&query(raw, Some(BookSort::UpdatedDesc), 1, None))
            .unwrap()
            .unwrap();
        assert_eq!(ranked.items.len(), 1);
        assert_eq!(ranked.facets, newest.facets, "{filtered:?}");
        let matches = titles(&ix, filtered.clone()).len() as i64;
        assert!(matches > 1, "{filtered:?}: more than the page matches");
        let languages: i64 = ranked.facets[1].values.iter().map(|v| v.count).sum();
        assert_eq!(languages, matches, "{filtered:?}: every match counted once");
    }
}
