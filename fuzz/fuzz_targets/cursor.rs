//! Cursor decoding: any text a client sends as `cursor` decodes to a position of the list it
//! was made for or is refused (`InvalidCursor`), never a panic; every position the store
//! encodes decodes to itself, and only for its own list.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::{BookSearch, BookSort, RawBookSearch};
use bookstore_store::fuzzing::{self as cursor, Key, Scored};
use chrono::{DateTime, Datelike, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use uuid::Uuid;

/// Lists the store names in its cursors (besides the book lists, made below).
const LISTS: [&str; 6] = [
    "authors",
    "genres",
    "history",
    "stock",
    "low-stock",
    "users",
];

#[derive(Debug, Arbitrary)]
enum Input {
    /// A cursor as sent.
    Raw { list: u8, cursor: String },
    /// A cursor whose JSON the fuzzer writes (the base64 around it would hide it).
    Json { list: u8, json: String },
    /// A position of a book list, encoded and decoded.
    Book {
        sort: u8,
        q: Option<String>,
        key: KeyInput,
        id: u128,
    },
    /// A position of a relevance search, encoded and decoded.
    Scored {
        q: String,
        fuzzy: bool,
        as_typed: bool,
        score: f64,
        id: u128,
        pinned: Option<(i64, i64, Vec<(String, i64)>)>,
    },
    /// A position of a list ordered by a name or by id alone.
    Keyed {
        list: u8,
        key: Option<String>,
        id: u128,
    },
}

#[derive(Debug, Arbitrary)]
enum KeyInput {
    /// Microseconds from the epoch: the store's timestamps are whole microseconds.
    Time(i64),
    Text(String),
    Int(i64),
    Int32(i32),
}

fn four_digit_year(t: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&t.year())
}

fn sort_of(i: u8) -> BookSort {
    BookSort::ALL[usize::from(i) % BookSort::ALL.len()]
}

fn search_of(q: Option<&str>) -> BookSearch {
    let raw = RawBookSearch {
        q: q.map(str::to_owned),
        ..RawBookSearch::default()
    };
    BookSearch::parse(&raw).unwrap_or_default()
}

/// Every list a cursor can name: the fixed ones and the book lists of each order.
fn list_of(i: u8) -> String {
    let plain = search_of(None);
    let i = usize::from(i) % (LISTS.len() + BookSort::ALL.len());
    match LISTS.get(i) {
        Some(list) => (*list).to_owned(),
        None => cursor::book_list_name(BookSort::ALL[i - LISTS.len()], &plain),
    }
}

/// Decodes `text` as every kind of cursor of `list`; what decodes encodes back to a cursor
/// that decodes to the same position.
fn decode_every_way(list: &str, text: &str) {
    for sort in BookSort::ALL {
        if let Ok((key, id)) = cursor::decode_book(sort, list, text) {
            // A time read from a client may carry nanoseconds the store would not write.
            let whole_micros = match &key {
                Key::Time(t) => t.timestamp_subsec_nanos() % 1000 == 0 && four_digit_year(t),
                _ => true,
            };
            if whole_micros {
                let again = cursor::encode_book(list, &key, id);
                assert_eq!(
                    cursor::decode_book(sort, list, &again).ok(),
                    Some((key, id))
                );
            }
        }
    }
    if let Ok(position) = cursor::decode_scored(list, text) {
        assert!(position.score.is_finite());
        let again = cursor::encode_scored(list, &position);
        assert_eq!(
            cursor::decode_scored(list, &again).as_ref().ok(),
            Some(&position)
        );
        // What each store then reads from the pinned part.
        if let Some(pinned) = position.pinned {
            if let Some(read) = cursor::sqlite_pinned(pinned) {
                assert_eq!(cursor::sqlite_pinned(read.clone()), Some(read));
            }
        }
    }
    if let Ok((key, id)) = cursor::decode_keyed(list, text) {
        let again = cursor::encode_keyed(list, &key, id);
        assert_eq!(cursor::decode_keyed(list, &again).ok(), Some((key, id)));
    }
    if let Ok(id) = cursor::decode_id(list, text) {
        assert_eq!(
            cursor::decode_id(list, &cursor::encode_id(list, id)).ok(),
            Some(id)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    match input {
        Input::Raw { list, cursor } => decode_every_way(&list_of(list), &cursor),
        Input::Json { list, json } => {
            let list = list_of(list);
            decode_every_way(&list, &URL_SAFE_NO_PAD.encode(json))
        }
        Input::Book { sort, q, key, id } => {
            let sort = sort_of(sort);
            let list = cursor::book_list_name(sort, &search_of(q.as_deref()));
            let key = match key {
                KeyInput::Time(micros) => {
                    // RFC 3339 has four-digit years; the store's clock does too.
                    let Some(t) =
                        DateTime::<Utc>::from_timestamp_micros(micros).filter(four_digit_year)
                    else {
                        return;
                    };
                    Key::Time(t)
                }
                KeyInput::Text(s) => Key::Text(s),
                KeyInput::Int(i) => Key::Int(i),
                KeyInput::Int32(i) => Key::Int32(i),
            };
            let id = Uuid::from_u128(id);
            let c = cursor::encode_book(&list, &key, id);
            // Each order reads the key of its own type.
            let fits = matches!(
                (sort, &key),
                (BookSort::UpdatedDesc, Key::Time(_))
                    | (BookSort::Title, Key::Text(_))
                    | (BookSort::Price | BookSort::PriceDesc, Key::Int(_))
                    | (BookSort::PublishedYear, Key::Int32(_))
            );
            if fits {
                assert_eq!(cursor::decode_book(sort, &list, &c).ok(), Some((key, id)));
            }
            let other = format!("{list}:x");
            assert!(cursor::decode_book(sort, &other, &c).is_err());
            decode_every_way(&list, &c);
        }
        Input::Scored {
            q,
            fuzzy,
            as_typed,
            score,
            id,
            pinned,
        } => {
            // The store replaces a score that is not finite by 0 before it pages.
            if !score.is_finite() {
                return;
            }
            let list = cursor::book_list_name(BookSort::Relevance, &search_of(Some(&q)));
            let pinned = pinned.map(|(n, t, docs)| {
                let docs: serde_json::Map<String, Value> =
                    docs.into_iter().map(|(p, d)| (p, json!(d))).collect();
                json!({"n": n, "t": t, "d": docs})
            });
            let position = Scored {
                fuzzy,
                // A fallback search is never also the words as typed.
                as_typed: as_typed && !fuzzy,
                score,
                id: Uuid::from_u128(id),
                pinned: pinned.clone(),
            };
            let c = cursor::encode_scored(&list, &position);
            assert_eq!(
                cursor::decode_scored(&list, &c).as_ref().ok(),
                Some(&position)
            );
            if let Some(pinned) = pinned {
                assert_eq!(cursor::sqlite_pinned(pinned.clone()), Some(pinned));
            }
            decode_every_way(&list, &c);
        }
        Input::Keyed { list, key, id } => {
            let list = list_of(list);
            let id = Uuid::from_u128(id);
            match key {
                Some(key) => {
                    let c = cursor::encode_keyed(&list, &key, id);
                    assert_eq!(cursor::decode_keyed(&list, &c).ok(), Some((key, id)));
                    assert!(cursor::decode_id(&list, &c).is_err());
                    decode_every_way(&list, &c);
                }
                None => {
                    let c = cursor::encode_id(&list, id);
                    assert_eq!(cursor::decode_id(&list, &c).ok(), Some(id));
                    assert!(cursor::decode_keyed(&list, &c).is_err());
                    decode_every_way(&list, &c);
                }
            }
        }
    }
});
