//! The SQLite FTS5 translation of a search query: for any text, the `MATCH` expression is
//! one that FTS5 itself accepts (run against an in-memory table made as the store makes
//! `books_fts`), words are only ever inside FTS5 strings, and the phrases are listed as the
//! ranking expects.
#![no_main]

use bookstore_core::search::is_stop_word;
use bookstore_core::{Term, TextQuery};
use bookstore_store::fuzzing::fts5_query;
use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use std::sync::{Mutex, OnceLock};

/// The store's FTS5 table (migrations/sqlite/0002_search.sql), with a few documents so
/// that a query is evaluated, not only parsed.
fn database() -> &'static Mutex<Connection> {
    static DB: OnceLock<Mutex<Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Connection::open_in_memory().expect("in-memory SQLite");
        db.execute_batch(
            "CREATE VIRTUAL TABLE books_fts USING fts5 (
                 title, authors, genres, description,
                 tokenize = 'unicode61 remove_diacritics 2');
             INSERT INTO books_fts VALUES
                 ('The Hobbit', 'J. R. R. Tolkien', 'Fantasy', 'There and back again.'),
                 ('Dune', 'Frank Herbert', 'Science fiction', 'Arrakis, a desert planet.'),
                 ('L''Étranger', 'Albert Camus', 'Roman', 'Aujourd''hui, maman est morte.');",
        )
        .expect("the store's FTS5 table");
        Mutex::new(db)
    })
}

/// The words of `expr` outside FTS5 strings: only the translation's own syntax.
fn outside_strings(expr: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    for c in expr.chars() {
        match (c, in_string) {
            ('"', _) => in_string = !in_string,
            (c, false) => out.push(c),
            _ => {}
        }
    }
    assert!(!in_string, "unterminated string in {expr}");
    out
}

fuzz_target!(|raw: &str| {
    let q = TextQuery::parse(raw);
    let counted = |t: &&Term| !matches!(t, Term::Word { text, .. } if is_stop_word(text));
    let positive = q.groups.iter().flatten().filter(counted).count();
    let excluded = q.excluded.iter().filter(counted).count();
    let db = database().lock().unwrap_or_else(|e| e.into_inner());
    for title_only in [false, true] {
        let Some((expr, phrases)) = fts5_query(&q, title_only) else {
            assert_eq!(positive, 0, "{raw:?} has words to match");
            continue;
        };
        let copies = if title_only { 2 } else { 1 };
        assert_eq!(phrases.len(), copies * positive + excluded, "{expr}");
        assert_eq!(phrases.iter().flatten().count(), positive, "{expr}");
        let syntax = outside_strings(&expr);
        assert!(
            syntax
                .split(|c: char| !c.is_ascii_alphabetic())
                .all(|w| matches!(w, "" | "AND" | "OR" | "NOT" | "title")),
            "{expr}"
        );
        let mut statement = db
            .prepare_cached("SELECT count(*) FROM books_fts WHERE books_fts MATCH ?1")
            .expect("prepared");
        let found: Result<i64, _> = statement.query_row([&expr], |row| row.get(0));
        if let Err(e) = found {
            panic!("FTS5 refused {expr:?} (from {raw:?}): {e}");
        }
    }
});
