//! The search contract: every case runs on SQLite and on PostgreSQL (a fresh database each).
//! Full text with weights, prefix, phrases, exclusion, alternatives, ISBN, accents, typos,
//! index maintenance (edits, deletes, renames), filters, facets, scores, keyset pages that
//! survive inserts and deletes, and adversarial queries.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{
    AuthorDraft, Book, BookDraft, BookListQuery, BookPage, BookSearch, BookSort, CatalogStore,
    Facet, GenreDraft, Limit, PageRequest, Precondition, RawBook, RawBookSearch, RawContributor,
    RawPrice, StoreError,
};
use bookstore_store::{Backend, Store};
use common::{ctx, isbn};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

contract!(
    with_index;
    fields_are_weighted_title_first,
    last_word_matches_as_a_prefix,
    words_that_fill_a_page_as_typed_are_not_also_prefixes,
    prefixes_find_words_written_after_the_first_search,
    concurrent_writers_of_new_words_all_succeed,
    phrases_exclusions_and_alternatives,
    an_isbn_in_any_form_puts_its_book_first,
    accents_are_folded_both_ways,
    typos_fall_back_to_similar_titles_and_authors,
    index_follows_edits_deletes_and_renames,
    every_filter_and_combinations,
    facets_count_the_whole_result,
    scores_only_with_a_query,
    ties_are_broken_by_id,
    keyset_pages_survive_inserts_and_deletes,
    column_sorts_with_a_query_filter_and_score,
    cursors_of_another_search_are_rejected,
    adversarial_queries_never_fail,
    the_longest_query_pages_to_its_end,
    tampered_pinned_statistics_are_refused_or_harmless,
);

// ---------------------------------------------------------------------------------------------
// Helpers

struct B<'a> {
    n: u32,
    title: &'a str,
    authors: &'a [&'a str],
    genres: &'a [&'a str],
    description: &'a str,
}

impl B<'_> {
    fn raw(&self) -> RawBook {
        RawBook {
            isbn: Some(isbn(self.n)),
            title: Some(self.title.into()),
            description: (!self.description.is_empty()).then(|| self.description.into()),
            authors: self
                .authors
                .iter()
                .map(|a| RawContributor {
                    name: Some((*a).into()),
                    ..RawContributor::default()
                })
                .collect(),
            genres: self.genres.iter().map(|g| (*g).into()).collect(),
            ..RawBook::default()
        }
    }
}

fn book(n: u32, title: &str) -> RawBook {
    B {
        n,
        title,
        authors: &[],
        genres: &[],
        description: "",
    }
    .raw()
}

async fn create(cat: &Arc<dyn CatalogStore>, raw: &RawBook) -> Book {
    cat.create_book(&BookDraft::parse(raw).unwrap(), &ctx(), None)
        .await
        .unwrap()
}

fn search(raw: RawBookSearch) -> BookSearch {
    BookSearch::parse(&raw).unwrap()
}

fn q(text: &str) -> BookSearch {
    search(RawBookSearch {
        q: Some(text.into()),
        ..RawBookSearch::default()
    })
}

async fn find_page(
    cat: &Arc<dyn CatalogStore>,
    search: BookSearch,
    sort: Option<BookSort>,
    limit: i64,
    cursor: Option<String>,
) -> BookPage {
    let query = BookListQuery::new(
        PageRequest {
            limit: Limit::new(limit).unwrap(),
            cursor,
        },
        sort,
        search,
    )
    .unwrap();
    cat.list_books(&query).await.unwrap()
}

/// Titles of the first page (up to 100) of a relevance search.
async fn titles(cat: &Arc<dyn CatalogStore>, search: BookSearch) -> Vec<String> {
    find_page(cat, search, None, 100, None)
        .await
        .items
        .into_iter()
        .map(|s| s.book.title)
        .collect()
}

async fn titles_of(cat: &Arc<dyn CatalogStore>, text: &str) -> Vec<String> {
    titles(cat, q(text)).await
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn fields_are_weighted_title_first(store: &Store) {
    let cat = store.catalog();
    for b in [
        B {
            n: 1,
            title: "A Quiet Winter",
            authors: &["Ann Harbor"],
            genres: &["Mystery"],
            description: "A lighthouse keeper keeps a secret.",
        },
        B {
            n: 2,
            title: "Northern Lights",
            authors: &["Lena Lighthouse"],
            genres: &["Fantasy"],
            description: "An armoured bear.",
        },
        B {
            n: 3,
            title: "The Lighthouse",
            authors: &["Mark Doe"],
            genres: &["Classics"],
            description: "Waves.",
        },
        B {
            n: 4,
            title: "Harbour Tales",
            authors: &["Sue Sea"],
            genres: &["Lighthouse Fiction"],
            description: "Stories.",
        },
        B {
            n: 5,
            title: "Unrelated",
            authors: &["Nobody"],
            genres: &["Poetry"],
            description: "Nothing here.",
        },
    ] {
        create(&cat, &b.raw()).await;
    }
    assert_eq!(
        titles_of(&cat, "lighthouse").await,
        [
            "The Lighthouse",
            "Northern Lights",
            "Harbour Tales",
            "A Quiet Winter"
        ]
    );
    // Every word must match (in any field)...
    assert_eq!(titles_of(&cat, "bear lena").await, ["Northern Lights"]);
    // ...unless no book has them all: then books with any of them (the last fallback).
    let mut any = titles_of(&cat, "bear mystery").await;
    any.sort();
    assert_eq!(any, ["A Quiet Winter", "Northern Lights"]);
}

async fn last_word_matches_as_a_prefix(store: &Store) {
    let cat = store.catalog();
    create(
        &cat,
        &B {
            n: 1,
            title: "The Hobbit",
            authors: &["J. R. R. Tolkien"],
            genres: &["Fantasy"],
            description: "There and back again.",
        }
        .raw(),
    )
    .await;
    create(&cat, &book(2, "Hobbies for Busy People")).await;
    assert_eq!(titles_of(&cat, "hobbi").await.len(), 2);
    assert_eq!(titles_of(&cat, "hobbit").await, ["The Hobbit"]);
    assert_eq!(titles_of(&cat, "tolkien hobb").await, ["The Hobbit"]);
    // Only the last word is a prefix (what "hobb" then finds comes from the typo fallback).
    assert_eq!(titles_of(&cat, "tolkien hobb").await, ["The Hobbit"]);
}

/// PostgreSQL searches again with prefixes, after the words as typed found some books but
/// not a page, only when an indexed word begins with the last word (a table of words kept by
/// triggers): words that inserts, edits and renames bring must be found by prefix at once.
async fn prefixes_find_words_written_after_the_first_search(store: &Store) {
    let cat = store.catalog();
    let cooking = create(
        &cat,
        &B {
            n: 1,
            title: "Hob Cooking",
            authors: &["Quentin Smith"],
            genres: &["Food"],
            description: "",
        }
        .raw(),
    )
    .await;
    create(
        &cat,
        &B {
            n: 3,
            title: "Zanzibar Nights",
            authors: &["Ann Zorba"],
            genres: &["Travel"],
            description: "",
        }
        .raw(),
    )
    .await;
    assert_eq!(titles_of(&cat, "hob").await, ["Hob Cooking"]);
    // A new book: "hob" as typed still finds one book, and its prefix now finds two.
    create(&cat, &book(2, "The Hobbit")).await;
    let mut found = titles_of(&cat, "hob").await;
    found.sort();
    assert_eq!(found, ["Hob Cooking", "The Hobbit"]);
    // An edit brings a longer word.
    let mut raw = cooking.to_raw();
    raw.description = Some("A zanzibarian kitchen.".into());
    cat.replace_book(
        cooking.id,
        &Precondition::Any,
        &BookDraft::parse(&raw).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let mut found = titles_of(&cat, "zanzibar").await;
    found.sort();
    assert_eq!(found, ["Hob Cooking", "Zanzibar Nights"]);
    // A rename brings one through the contributor names every book of theirs carries.
    cat.update_author(
        cooking.authors[0].author_id,
        &AuthorDraft::parse(Some("Quentin Zorbaszewski"), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let mut found = titles_of(&cat, "zorba").await;
    found.sort();
    assert_eq!(found, ["Hob Cooking", "Zanzibar Nights"]);
}

/// Writers that bring new words to the index at once, each sharing words with the others in
/// another field (a title word is another book's contributor name): none may fail, and every
/// word is searchable by prefix afterwards. PostgreSQL records new words per statement; without
/// its lock, two of these writers could each wait for a word the other has not committed.
async fn concurrent_writers_of_new_words_all_succeed(store: &Store) {
    let cat = store.catalog();
    const WORDS: [&str; 8] = [
        "Quorvath",
        "Blenkish",
        "Zandrimo",
        "Frellonce",
        "Mibbowin",
        "Trazzle",
        "Okkupent",
        "Vinnitrop",
    ];
    let mut tasks = Vec::new();
    for i in 0..WORDS.len() {
        let cat = cat.clone();
        tasks.push(tokio::spawn(async move {
            let title = format!("{} {}", WORDS[i], WORDS[(i + 1) % WORDS.len()]);
            let author = format!(
                "{} {}",
                WORDS[(i + 5) % WORDS.len()],
                WORDS[(i + 3) % WORDS.len()]
            );
            let raw = B {
                n: 900 + u32::try_from(i).unwrap(),
                title: &title,
                authors: &[author.as_str()],
                genres: &[WORDS[(i + 6) % WORDS.len()]],
                description: "",
            }
            .raw();
            cat.create_book(&BookDraft::parse(&raw).unwrap(), &ctx(), None)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for word in WORDS {
        // Each word is in five books. titles, contributors or genres; its first five letters
        // find them as a prefix.
        let prefix = &word[..5];
        assert_eq!(titles_of(&cat, prefix).await.len(), 5, "{prefix}");
    }
}

async fn words_that_fill_a_page_as_typed_are_not_also_prefixes(store: &Store) {
    let cat = store.catalog();
    for (n, title) in [
        (1, "Dune Messiah"),
        (2, "Children of Dune"),
        (3, "Dune Chronicles"),
        (4, "Dunedin Travel Guide"),
    ] {
        create(&cat, &book(n, title)).await;
    }
    // "dune" as typed finds three books: more than a page of two, so that is the search, on
    // every page (the cursor keeps it), and "Dunedin" is not read into it.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = find_page(&cat, q("dune"), None, 2, cursor).await;
        seen.extend(page.items.into_iter().map(|s| s.book.title));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["Children of Dune", "Dune Chronicles", "Dune Messiah"]
    );
    // A page of a hundred has room: the last word is a prefix too.
    assert_eq!(titles_of(&cat, "dune").await.len(), 4);
    // A word being typed finds by prefix whatever the page.
    assert_eq!(
        find_page(&cat, q("dun"), None, 2, None).await.items.len(),
        2
    );
    assert_eq!(titles_of(&cat, "dun").await.len(), 4);
}

async fn phrases_exclusions_and_alternatives(store: &Store) {
    let cat = store.catalog();
    create(&cat, &book(1, "The Old Man and the Sea")).await;
    create(&cat, &book(2, "The Sea, the Sea")).await;
    create(&cat, &book(3, "Old Sea Man Stories")).await;
    create(&cat, &book(4, "A Wizard of Earthsea")).await;
    let mut found = titles_of(&cat, "\"old man\" sea").await;
    found.sort();
    assert_eq!(found, ["The Old Man and the Sea"]);
    let mut found = titles_of(&cat, "sea -old").await;
    found.sort();
    assert_eq!(found, ["The Sea, the Sea"]);
    let mut found = titles_of(&cat, "wizard or stories").await;
    found.sort();
    assert_eq!(found, ["A Wizard of Earthsea", "Old Sea Man Stories"]);
    let mut found = titles_of(&cat, "sea -\"old man\"").await;
    found.sort();
    assert_eq!(found, ["Old Sea Man Stories", "The Sea, the Sea"]);
    // Only exclusions: nothing to rank, nothing found.
    assert!(titles_of(&cat, "-sea").await.is_empty());
}

async fn an_isbn_in_any_form_puts_its_book_first(store: &Store) {
    let cat = store.catalog();
    let hobbit = RawBook {
        isbn: Some("978-0-261-10334-4".into()),
        ..B {
            n: 0,
            title: "The Hobbit",
            authors: &["J. R. R. Tolkien"],
            genres: &[],
            description: "",
        }
        .raw()
    };
    create(&cat, &hobbit).await;
    create(&cat, &book(2, "Hobbit Lore")).await;
    create(&cat, &book(3, "Another Book")).await;
    for form in [
        "9780261103344",
        "978-0-261-10334-4",
        "978 0261103344",
        "0-261-10334-2",
        "0261103342",
        "ISBN 0-261-10334-2",
    ] {
        assert_eq!(titles_of(&cat, form).await, ["The Hobbit"], "{form}");
    }
    // With words too: the ISBN's book first, then the words' matches.
    let found = titles_of(&cat, "hobbit lore 0261103342").await;
    assert_eq!(found, ["The Hobbit", "Hobbit Lore"]);
    let page = find_page(&cat, q("0261103342"), None, 10, None).await;
    assert!(page.items[0].score.unwrap() > 1000.0);
}

async fn accents_are_folded_both_ways(store: &Store) {
    let cat = store.catalog();
    create(
        &cat,
        &B {
            n: 1,
            title: "Crime et Châtiment",
            authors: &["Fiodor Dostoïevski"],
            genres: &["Roman"],
            description: "Raskolnikov à Saint-Pétersbourg.",
        }
        .raw(),
    )
    .await;
    create(
        &cat,
        &B {
            n: 2,
            title: "Cien años de soledad",
            authors: &["Gabriel Garcia Marquez"],
            genres: &[],
            description: "",
        }
        .raw(),
    )
    .await;
    assert_eq!(titles_of(&cat, "Dostoievski").await, ["Crime et Châtiment"]);
    assert_eq!(titles_of(&cat, "chatiment").await, ["Crime et Châtiment"]);
    assert_eq!(titles_of(&cat, "petersbourg").await, ["Crime et Châtiment"]);
    assert_eq!(
        titles_of(&cat, "García Márquez").await,
        ["Cien años de soledad"]
    );
    assert_eq!(
        titles_of(&cat, "anos soledad").await,
        ["Cien años de soledad"]
    );
}

async fn typos_fall_back_to_similar_titles_and_authors(store: &Store) {
    let cat = store.catalog();
    create(
        &cat,
        &B {
            n: 1,
            title: "The Hobbit",
            authors: &["J. R. R. Tolkien"],
            genres: &["Fantasy"],
            description: "",
        }
        .raw(),
    )
    .await;
    create(
        &cat,
        &B {
            n: 2,
            title: "Pride and Prejudice",
            authors: &["Jane Austen"],
            genres: &["Romance"],
            description: "",
        }
        .raw(),
    )
    .await;
    assert_eq!(titles_of(&cat, "tolkein").await, ["The Hobbit"]);
    assert_eq!(titles_of(&cat, "hobit").await, ["The Hobbit"]);
    assert_eq!(titles_of(&cat, "prejudise").await, ["Pride and Prejudice"]);
    let page = find_page(&cat, q("austin"), None, 10, None).await;
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].score.is_some());
    // Nothing near: nothing.
    assert!(titles_of(&cat, "zzyzx").await.is_empty());
}

async fn index_follows_edits_deletes_and_renames(store: &Store) {
    let cat = store.catalog();
    let book = create(
        &cat,
        &B {
            n: 1,
            title: "Original Title",
            authors: &["Alice Writer"],
            genres: &["Drama"],
            description: "",
        }
        .raw(),
    )
    .await;
    let other = create(
        &cat,
        &B {
            n: 2,
            title: "Second",
            authors: &["Alice Writer"],
            genres: &["Drama"],
            description: "",
        }
        .raw(),
    )
    .await;
    // Title and contributors replaced.
    let mut raw = book.to_raw();
    raw.title = Some("Brand New Title".into());
    raw.authors = vec![RawContributor {
        name: Some("Bob Penman".into()),
        ..RawContributor::default()
    }];
    cat.replace_book(
        book.id,
        &Precondition::Any,
        &BookDraft::parse(&raw).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    assert!(titles_of(&cat, "original").await.is_empty());
    assert_eq!(titles_of(&cat, "brand new").await, ["Brand New Title"]);
    assert_eq!(titles_of(&cat, "penman").await, ["Brand New Title"]);
    assert_eq!(titles_of(&cat, "alice").await, ["Second"]);

    // An author renamed: every book of theirs follows.
    let alice = other.authors[0].author_id;
    cat.update_author(
        alice,
        &AuthorDraft::parse(Some("Zoe Scrivener"), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    assert!(titles_of(&cat, "alice").await.is_empty());
    assert_eq!(titles_of(&cat, "scrivener").await, ["Second"]);

    // A genre renamed.
    let drama = other.genres[0].id;
    cat.update_genre(
        drama,
        &GenreDraft::parse(Some("Tragedy"), None).unwrap(),
        &ctx(),
    )
    .await
    .unwrap();
    let mut found = titles_of(&cat, "tragedy").await;
    found.sort();
    assert_eq!(found, ["Brand New Title", "Second"]);

    // Deleted: gone from the index.
    cat.delete_book(other.id, &Precondition::Any, &ctx())
        .await
        .unwrap();
    assert!(titles_of(&cat, "scrivener").await.is_empty());
    assert_eq!(titles_of(&cat, "tragedy").await, ["Brand New Title"]);
}

async fn every_filter_and_combinations(store: &Store) {
    let cat = store.catalog();
    let spec = [
        // n, title, author, genre, language, format, publisher, year, price, quantity
        (
            1,
            "Alpha",
            "Ann",
            "Fantasy",
            "en",
            "paperback",
            "Tor",
            1990,
            999,
            0,
        ),
        (
            2,
            "Beta",
            "Ann",
            "Fantasy",
            "fr",
            "hardcover",
            "Gallimard",
            2001,
            2500,
            3,
        ),
        (
            3, "Gamma", "Ben", "History", "en", "ebook", "Tor", 2010, 500, 1,
        ),
        (
            4,
            "Delta",
            "Ben",
            "Fantasy",
            "en",
            "paperback",
            "Penguin",
            2020,
            1500,
            2,
        ),
    ];
    for (n, title, author, genre, language, format, publisher, year, price, quantity) in spec {
        create(
            &cat,
            &RawBook {
                authors: vec![RawContributor {
                    name: Some(author.into()),
                    ..RawContributor::default()
                }],
                genres: vec![genre.into()],
                language: Some(language.into()),
                format: Some(format.into()),
                publisher: Some(publisher.into()),
                published_year: Some(year),
                price: Some(RawPrice::Minor {
                    amount_minor: price,
                    currency: "EUR".into(),
                }),
                quantity: Some(quantity),
                ..book(n, title)
            },
        )
        .await;
    }
    create(&cat, &book(9, "Untagged")).await;
    let listed = |raw: RawBookSearch| {
        let cat = cat.clone();
        async move {
            let page = find_page(&cat, search(raw), Some(BookSort::Title), 100, None).await;
            page.items
                .into_iter()
                .map(|s| s.book.title)
                .collect::<Vec<_>>()
        }
    };
    let r = RawBookSearch::default;
    assert_eq!(
        listed(RawBookSearch {
            author: Some("ann".into()),
            ..r()
        })
        .await,
        ["Alpha", "Beta"]
    );
    assert_eq!(
        listed(RawBookSearch {
            genre: Some(" FANTASY ".into()),
            ..r()
        })
        .await,
        ["Alpha", "Beta", "Delta"]
    );
    assert_eq!(
        listed(RawBookSearch {
            language: Some("FR".into()),
            ..r()
        })
        .await,
        ["Beta"]
    );
    assert_eq!(
        listed(RawBookSearch {
            format: Some("paperback".into()),
            ..r()
        })
        .await,
        ["Alpha", "Delta"]
    );
    assert_eq!(
        listed(RawBookSearch {
            publisher: Some("tor".into()),
            ..r()
        })
        .await,
        ["Alpha", "Gamma"]
    );
    assert_eq!(
        listed(RawBookSearch {
            year_from: Some(2001),
            year_to: Some(2010),
            ..r()
        })
        .await,
        ["Beta", "Gamma"]
    );
    assert_eq!(
        listed(RawBookSearch {
            price_min: Some(999),
            price_max: Some(1500),
            ..r()
        })
        .await,
        ["Alpha", "Delta"]
    );
    assert_eq!(
        listed(RawBookSearch {
            in_stock: Some(true),
            ..r()
        })
        .await,
        ["Beta", "Delta", "Gamma"]
    );
    assert_eq!(
        listed(RawBookSearch {
            genre: Some("fantasy".into()),
            language: Some("en".into()),
            in_stock: Some(true),
            price_max: Some(2000),
            ..r()
        })
        .await,
        ["Delta"]
    );
    // A name that no author or genre has: nothing, not everything.
    assert!(listed(RawBookSearch {
        genre: Some("No Such Genre".into()),
        ..r()
    })
    .await
    .is_empty());
    assert!(listed(RawBookSearch {
        author: Some("Nobody At All".into()),
        ..r()
    })
    .await
    .is_empty());
    // By id as well as by name.
    let ben = cat
        .list_authors(Some("ben"), &PageRequest::default())
        .await
        .unwrap()
        .items[0]
        .id;
    assert_eq!(
        listed(RawBookSearch {
            author: Some(ben.to_string()),
            ..r()
        })
        .await,
        ["Delta", "Gamma"]
    );
    // With a text query, relevance sort: filters still apply.
    let page = find_page(
        &cat,
        search(RawBookSearch {
            q: Some("alpha or beta or gamma".into()),
            language: Some("en".into()),
            ..r()
        }),
        None,
        10,
        None,
    )
    .await;
    let mut found: Vec<String> = page.items.into_iter().map(|s| s.book.title).collect();
    found.sort();
    assert_eq!(found, ["Alpha", "Gamma"]);
}

async fn facets_count_the_whole_result(store: &Store) {
    // Facet values travel from the database as JSON text: quotes, a backslash, accents and
    // an emoji must come back as they were.
    const ODD_GENRE: &str = "Space \"Opera\" \\ Épopée 🚀";
    let cat = store.catalog();
    for n in 0..7u32 {
        let genres: Vec<String> = if n % 2 == 0 {
            vec![ODD_GENRE.into(), "Adventure".into()]
        } else {
            vec!["Adventure".into()]
        };
        create(
            &cat,
            &RawBook {
                genres,
                language: Some(if n < 5 { "en" } else { "de" }.into()),
                format: (n != 6).then(|| "ebook".into()),
                description: Some("a voyage among the stars".into()),
                ..book(n + 1, &format!("Voyage {n}"))
            },
        )
        .await;
    }
    create(&cat, &book(50, "Cookbook")).await;
    let with_facets = |q: Option<&str>| {
        search(RawBookSearch {
            q: q.map(Into::into),
            facets: Some("genre,language,format".into()),
            ..RawBookSearch::default()
        })
    };
    for text in [Some("voyage"), None] {
        let page = find_page(&cat, with_facets(text), None, 2, None).await;
        assert_eq!(page.items.len(), 2);
        let counts = |facet: Facet| -> Vec<(String, i64)> {
            page.facets
                .iter()
                .find(|f| f.facet == facet)
                .unwrap()
                .values
                .iter()
                .map(|v| (v.value.clone(), v.count))
                .collect()
        };
        assert_eq!(
            counts(Facet::Genre),
            [("Adventure".into(), 7), (ODD_GENRE.into(), 4)]
        );
        assert_eq!(
            counts(Facet::Language),
            [("en".into(), 5), ("de".into(), 2)]
        );
        assert_eq!(counts(Facet::Format), [("ebook".into(), 6)]);
    }
    // Facets follow filters, and come in the order asked.
    let page = find_page(
        &cat,
        search(RawBookSearch {
            q: Some("voyage".into()),
            language: Some("de".into()),
            facets: Some("format,genre".into()),
            ..RawBookSearch::default()
        }),
        None,
        20,
        None,
    )
    .await;
    assert_eq!(page.facets[0].facet, Facet::Format);
    assert_eq!(page.facets[1].values[0].count, 2);
    // No facets asked, none given.
    assert!(find_page(&cat, q("voyage"), None, 2, None)
        .await
        .facets
        .is_empty());
}

async fn scores_only_with_a_query(store: &Store) {
    let cat = store.catalog();
    create(&cat, &book(1, "Dune")).await;
    create(&cat, &book(2, "Dune Messiah")).await;
    let plain = find_page(&cat, BookSearch::default(), None, 10, None).await;
    assert!(plain.items.iter().all(|s| s.score.is_none()));
    let found = find_page(&cat, q("dune"), None, 10, None).await;
    assert_eq!(found.items.len(), 2);
    assert!(found.items.iter().all(|s| s.score.unwrap_or(0.0) > 0.0));
    assert!(found.items[0].score >= found.items[1].score);
}

async fn ties_are_broken_by_id(store: &Store) {
    let cat = store.catalog();
    let mut ids = Vec::new();
    for n in 0..9 {
        ids.push(create(&cat, &book(n + 1, "Same Title")).await.id);
    }
    ids.sort();
    for limit in [2, 4, 9] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = find_page(&cat, q("same title"), None, limit, cursor).await;
            seen.extend(page.items.iter().map(|s| s.book.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ids, "limit {limit}");
    }
}

async fn keyset_pages_survive_inserts_and_deletes(store: &Store) {
    let cat = store.catalog();
    let mut books = Vec::new();
    for n in 0..30u32 {
        // Scores differ: more mentions, higher rank.
        let description = "dragon ".repeat(1 + (n as usize % 5));
        books.push(
            create(
                &cat,
                &RawBook {
                    description: Some(description),
                    ..book(n + 1, &format!("Tale {n}"))
                },
            )
            .await,
        );
    }
    for sort in [None, Some(BookSort::Title), Some(BookSort::UpdatedDesc)] {
        let mut seen: Vec<Uuid> = Vec::new();
        let mut deleted: HashSet<Uuid> = HashSet::new();
        let mut cursor = None;
        let mut round = 0u32;
        loop {
            let page = find_page(&cat, q("dragon"), sort, 7, cursor).await;
            seen.extend(page.items.iter().map(|s| s.book.id.as_uuid()));
            round += 1;
            // Between pages: a new matching book, and one deleted (seen or not).
            let n = 1000 + round + 100 * sort.map_or(0, |s| s as u32 + 1);
            create(
                &cat,
                &RawBook {
                    description: Some("dragon dragon".into()),
                    ..book(n, &format!("Newcomer {n}"))
                },
            )
            .await;
            if let Some(victim) = books.iter().find(|b| !deleted.contains(&b.id.as_uuid())) {
                deleted.insert(victim.id.as_uuid());
                cat.delete_book(victim.id, &Precondition::Any, &ctx())
                    .await
                    .unwrap();
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(round < 50);
        }
        let unique: HashSet<&Uuid> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort:?}: duplicates");
        // Every book that existed throughout was listed.
        for b in &books {
            if !deleted.contains(&b.id.as_uuid()) {
                assert!(
                    seen.contains(&b.id.as_uuid()),
                    "{sort:?}: gap at {}",
                    b.title
                );
            }
        }
        books.retain(|b| !deleted.contains(&b.id.as_uuid()));
    }
}

async fn column_sorts_with_a_query_filter_and_score(store: &Store) {
    let cat = store.catalog();
    for (n, title) in ["Zebra Winter", "Apple Winter", "Mango Summer"]
        .iter()
        .enumerate()
    {
        create(&cat, &book(n as u32 + 1, title)).await;
    }
    let page = find_page(&cat, q("winter"), Some(BookSort::Title), 1, None).await;
    assert_eq!(page.items[0].book.title, "Apple Winter");
    assert!(page.items[0].score.unwrap() > 0.0);
    let next = find_page(
        &cat,
        q("winter"),
        Some(BookSort::Title),
        1,
        page.next_cursor,
    )
    .await;
    assert_eq!(next.items[0].book.title, "Zebra Winter");
    assert_eq!(next.next_cursor, None);
    // Relevance without a query is refused by the query's constructor.
    assert!(BookListQuery::new(
        PageRequest::default(),
        Some(BookSort::Relevance),
        BookSearch::default()
    )
    .is_err());
}

async fn cursors_of_another_search_are_rejected(store: &Store) {
    let cat = store.catalog();
    for n in 0..3 {
        create(&cat, &book(n + 1, &format!("Winter {n}"))).await;
    }
    let first = find_page(&cat, q("winter"), None, 1, None).await;
    let cursor = first.next_cursor.unwrap();
    for (other, sort) in [
        (q("summer"), None),
        (q("winter"), Some(BookSort::Title)),
        (BookSearch::default(), Some(BookSort::Title)),
    ] {
        let query = BookListQuery::new(
            PageRequest {
                limit: Limit::new(5).unwrap(),
                cursor: Some(cursor.clone()),
            },
            sort,
            other,
        )
        .unwrap();
        let err = cat.list_books(&query).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidCursor), "{err:?}");
    }
}

async fn adversarial_queries_never_fail(store: &Store) {
    let cat = store.catalog();
    create(
        &cat,
        &B {
            n: 1,
            title: "The Hobbit",
            authors: &["J. R. R. Tolkien"],
            genres: &["Fantasy"],
            description: "",
        }
        .raw(),
    )
    .await;
    let long = "lorem ipsum dolor ".repeat(55);
    let queries = [
        "the of and",
        "\"",
        "\"hobbit",
        "hobbit\"\"\"",
        "-",
        "--hobbit",
        "or",
        "hobbit OR",
        "NEAR(hobbit tolkien, 3)",
        "hobbit AND NOT tolkien",
        "{title}: hobbit",
        "hobbit*",
        "^hobbit",
        "title:hobbit",
        "hobbit:* & !tolkien | (a <-> b)",
        "'hobbit'",
        "'; DROP TABLE books; --",
        "%_\\",
        "hobbit\u{0}\u{1}\u{1b}[31m",
        "📚🐉 hobbit 🧙",
        "كتاب الهوبيت",
        "שלום עולם",
        "\u{202e}tibboh",
        "ハビット",
        long.as_str(),
    ];
    for text in queries {
        for facets in [None, Some("genre,language,format")] {
            let query = BookListQuery::new(
                PageRequest::default(),
                None,
                search(RawBookSearch {
                    q: Some(text.into()),
                    facets: facets.map(Into::into),
                    ..RawBookSearch::default()
                }),
            )
            .unwrap();
            let result = cat.list_books(&query).await;
            assert!(result.is_ok(), "{text:?}: {result:?}");
        }
    }
    assert_eq!(titles_of(&cat, "\"hobbit").await, ["The Hobbit"]);
    assert_eq!(titles_of(&cat, "📚🐉 hobbit 🧙").await, ["The Hobbit"]);
}

/// The longest query there is (32 long words, about 1000 characters) pages to its end, both
/// when books have every word and when only the any-word fallback finds them: its cursors,
/// which carry what the search pinned for every word, stay valid.
async fn the_longest_query_pages_to_its_end(store: &Store) {
    let cat = store.catalog();
    let words: Vec<String> = (0..32u8)
        .map(|i| {
            let letter = char::from(b'a' + i % 26);
            let second = char::from(b'a' + i / 26);
            format!("{}{letter}{second}", "lexicon".repeat(4))
        })
        .collect();
    let query = words.join(" ");
    assert!(query.len() <= 1000, "{}", query.len());
    let mut every = HashSet::new();
    for n in 0..4u32 {
        let book = create(
            &cat,
            &RawBook {
                description: Some(query.clone()),
                ..book(n + 1, &format!("Complete {n}"))
            },
        )
        .await;
        every.insert(book.id);
    }
    let mut some = HashSet::new();
    for n in 0..3u32 {
        let book = create(
            &cat,
            &RawBook {
                description: Some(words[n as usize].clone()),
                ..book(n + 10, &format!("Partial {n}"))
            },
        )
        .await;
        some.insert(book.id);
    }
    let with_a_missing_word = format!("{} {}", words[..31].join(" "), "nowhereword");
    let any: HashSet<_> = every.union(&some).copied().collect();
    for (text, expected) in [
        (query.as_str(), &every),
        (with_a_missing_word.as_str(), &any),
    ] {
        let mut seen = HashSet::new();
        let mut cursor = None;
        loop {
            let page = find_page(&cat, q(text), None, 1, cursor).await;
            seen.extend(page.items.iter().map(|s| s.book.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(seen.len() < 20);
        }
        assert!(
            expected.is_subset(&seen),
            "{} of {}",
            seen.len(),
            expected.len()
        );
    }
}

/// A cursor is opaque but not secret: what a client changes in the statistics it carries
/// gives a clear "invalid cursor" when it is not statistics at all, and a page (never an
/// error or a crash) when the numbers are merely absurd.
async fn tampered_pinned_statistics_are_refused_or_harmless(store: &Store) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let cat = store.catalog();
    for n in 0..4 {
        create(
            &cat,
            &RawBook {
                description: Some("dragon ".repeat(n as usize + 1)),
                ..book(n + 1, &format!("Dragon {n}"))
            },
        )
        .await;
    }
    let first = find_page(&cat, q("dragon"), None, 2, None).await;
    let cursor = first.next_cursor.unwrap();
    if store.catalog_is_overridden() {
        return tampered_index_statistics(&cat, &cursor).await;
    }
    let mut repr: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&cursor).unwrap()).unwrap();
    let with = |p: serde_json::Value| {
        let mut r = repr.clone();
        r["p"] = p;
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&r).unwrap())
    };
    let page = |cursor: String| {
        let query = BookListQuery::new(
            PageRequest {
                limit: Limit::new(2).unwrap(),
                cursor: Some(cursor),
            },
            None,
            q("dragon"),
        )
        .unwrap();
        let cat = cat.clone();
        async move { cat.list_books(&query).await }
    };
    for garbage in [
        serde_json::json!("x"),
        serde_json::json!([1, 2]),
        serde_json::json!({"n": "many"}),
    ] {
        let err = page(with(garbage.clone())).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{garbage}: {err:?}"
        );
    }
    let pinned = repr.get("p").is_some();
    assert_eq!(
        pinned,
        store.backend() == Backend::Sqlite,
        "only bm25 pins statistics"
    );
    if pinned {
        // SQLite's statistics, absurd but well-formed: still a page.
        let absurd = serde_json::json!({"n": -5, "t": i64::MAX, "d": {"\"dragon\"": -1}});
        assert!(page(with(absurd)).await.is_ok());
        repr.as_object_mut().unwrap().remove("p");
        let without = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&repr).unwrap());
        assert!(page(without).await.is_ok(), "statistics are taken again");
    }
}

/// The search index's cursors (`ix1.` and base64 JSON) carry BM25 statistics under `st`:
/// ill-formed ones are refused, absurd well-formed ones still give a page, none are taken
/// again.
async fn tampered_index_statistics(cat: &Arc<dyn CatalogStore>, cursor: &str) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let body = cursor.strip_prefix("ix1.").expect("an index cursor");
    let repr: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    assert!(
        repr.get("st").is_some(),
        "a relevance cursor pins statistics"
    );
    let with = |st: Option<serde_json::Value>| {
        let mut r = repr.clone();
        match st {
            Some(st) => r["st"] = st,
            None => {
                r.as_object_mut().unwrap().remove("st");
            }
        }
        format!(
            "ix1.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&r).unwrap())
        )
    };
    let page = |cursor: String| {
        let query = BookListQuery::new(
            PageRequest {
                limit: Limit::new(2).unwrap(),
                cursor: Some(cursor),
            },
            None,
            q("dragon"),
        )
        .unwrap();
        let cat = cat.clone();
        async move { cat.list_books(&query).await }
    };
    for garbage in [
        serde_json::json!("x"),
        serde_json::json!([1, 2]),
        serde_json::json!({"n": "many"}),
        serde_json::json!({"n": -5, "t": {}, "d": {}}),
    ] {
        let err = page(with(Some(garbage.clone()))).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{garbage}: {err:?}"
        );
    }
    let absurd =
        serde_json::json!({"n": u64::MAX, "t": {"0": 0, "1": u64::MAX}, "d": {"0:eA": u64::MAX}});
    assert!(page(with(Some(absurd))).await.is_ok());
    assert!(page(with(None)).await.is_ok(), "statistics are taken again");
}
