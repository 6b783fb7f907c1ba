//! Opaque keyset cursors: base64url (no padding) of a small JSON object naming the list (and
//! order) it belongs to, the last row's sort key and its id. A cursor of another list or order,
//! or anything that does not decode, is [`StoreError::InvalidCursor`].

use crate::time::DbTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_core::{BookSearch, BookSort, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Longer than any cursor we hand out (titles are at most 500 characters).
const MAX_CURSOR_LEN: usize = 8 * 1024;

#[derive(Serialize, Deserialize)]
struct Repr {
    /// Which list (and order) the cursor belongs to.
    s: String,
    /// The last row's sort key, when the order has one besides the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Value>,
    /// The last row's id: the tie-breaker of every order.
    id: Uuid,
    /// What a relevance search pinned on its first page (see `Dialect::Pinned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<Value>,
}

/// The sort key of a book list position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BookKey {
    Time(DbTime),
    Text(String),
    Int(i64),
    Int32(i32),
}

/// The name of a book list in its cursors: the order, and for a search or a filtered list a
/// fingerprint of what selects the books, so that a cursor of one search is refused by
/// another.
pub(crate) fn book_list_name(sort: BookSort, search: &BookSearch) -> String {
    if search.text.is_none() && search.filters.is_empty() {
        format!("books:{}", sort.as_str())
    } else {
        format!("books:{}:{}", sort.as_str(), search.fingerprint())
    }
}

/// A position in a relevance-ordered result: how the result was found (full text, or the
/// typo fallback), the score and the id of the last book.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScorePosition {
    pub(crate) fuzzy: bool,
    /// The words were searched as typed, the last not also as a prefix.
    pub(crate) as_typed: bool,
    pub(crate) score: f64,
    pub(crate) id: Uuid,
    /// What the search pinned for its later pages, if anything.
    pub(crate) pinned: Option<Value>,
}

pub(crate) fn encode_scored(list: &str, position: &ScorePosition) -> String {
    let mode = if position.fuzzy {
        "fuzzy"
    } else if position.as_typed {
        "typed"
    } else {
        "fts"
    };
    encode(&Repr {
        s: format!("{list}:{mode}"),
        // The bits, not a decimal: the score must compare equal when it comes back.
        k: Some(Value::String(format!("{:016x}", position.score.to_bits()))),
        id: position.id,
        p: position.pinned.clone(),
    })
}

pub(crate) fn decode_scored(list: &str, cursor: &str) -> Result<ScorePosition, StoreError> {
    let fts = format!("{list}:fts");
    let fuzzy = format!("{list}:fuzzy");
    let typed = format!("{list}:typed");
    let repr = decode(cursor, &fts)
        .or_else(|_| decode(cursor, &fuzzy))
        .or_else(|_| decode(cursor, &typed))?;
    let score = repr
        .k
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|bits| u64::from_str_radix(bits, 16).ok())
        .map(f64::from_bits)
        .filter(|s| s.is_finite())
        .ok_or(StoreError::InvalidCursor)?;
    Ok(ScorePosition {
        fuzzy: repr.s == fuzzy,
        as_typed: repr.s == typed,
        score,
        id: repr.id,
        pinned: repr.p,
    })
}

fn encode(repr: &Repr) -> String {
    // Serialising this struct cannot fail: string keys, plain values.
    let json = serde_json::to_vec(repr).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode(cursor: &str, list: &str) -> Result<Repr, StoreError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| StoreError::InvalidCursor)?;
    let repr: Repr = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if repr.s != list {
        return Err(StoreError::InvalidCursor);
    }
    Ok(repr)
}

pub(crate) fn encode_book(list: &str, key: &BookKey, id: Uuid) -> String {
    let k = match key {
        BookKey::Time(t) => Value::String(t.to_text()),
        BookKey::Text(s) => Value::String(s.clone()),
        BookKey::Int(i) => Value::from(*i),
        BookKey::Int32(i) => Value::from(*i),
    };
    encode(&Repr {
        s: list.to_owned(),
        k: Some(k),
        id,
        p: None,
    })
}

pub(crate) fn decode_book(
    sort: BookSort,
    list: &str,
    cursor: &str,
) -> Result<(BookKey, Uuid), StoreError> {
    let repr = decode(cursor, list)?;
    let k = repr.k.ok_or(StoreError::InvalidCursor)?;
    let key = match sort {
        BookSort::UpdatedDesc => k
            .as_str()
            .and_then(|s| DbTime::parse(s).ok())
            .map(BookKey::Time),
        BookSort::Title => k.as_str().map(|s| BookKey::Text(s.to_owned())),
        BookSort::Price | BookSort::PriceDesc => k.as_i64().map(BookKey::Int),
        BookSort::PublishedYear => k
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(BookKey::Int32),
        BookSort::Relevance => None,
    };
    Ok((key.ok_or(StoreError::InvalidCursor)?, repr.id))
}

/// A cursor of a list ordered by a text key and the id (authors, genres).
pub(crate) fn encode_keyed(list: &str, key: &str, id: Uuid) -> String {
    encode(&Repr {
        s: list.to_owned(),
        k: Some(Value::String(key.to_owned())),
        id,
        p: None,
    })
}

pub(crate) fn decode_keyed(list: &str, cursor: &str) -> Result<(String, Uuid), StoreError> {
    let repr = decode(cursor, list)?;
    match repr.k {
        Some(Value::String(key)) => Ok((key, repr.id)),
        _ => Err(StoreError::InvalidCursor),
    }
}

/// A cursor of a list ordered by the id alone (history).
pub(crate) fn encode_id(list: &str, id: Uuid) -> String {
    encode(&Repr {
        s: list.to_owned(),
        k: None,
        id,
        p: None,
    })
}

pub(crate) fn decode_id(list: &str, cursor: &str) -> Result<Uuid, StoreError> {
    let repr = decode(cursor, list)?;
    match repr.k {
        None => Ok(repr.id),
        Some(_) => Err(StoreError::InvalidCursor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_cursor_round_trips_and_is_bound_to_its_order() {
        let id = Uuid::now_v7();
        let plain = BookSearch::default();
        let price = book_list_name(BookSort::Price, &plain);
        let c = encode_book(&price, &BookKey::Int(1299), id);
        assert!(!c.contains('='));
        assert_eq!(
            decode_book(BookSort::Price, &price, &c).unwrap(),
            (BookKey::Int(1299), id)
        );
        let price_desc = book_list_name(BookSort::PriceDesc, &plain);
        assert!(matches!(
            decode_book(BookSort::PriceDesc, &price_desc, &c),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_book(BookSort::Title, "books:title", "%%%"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn wrong_key_type_is_invalid() {
        let id = Uuid::now_v7();
        let c = encode_keyed("books:published_year", "1999", id);
        assert!(matches!(
            decode_book(BookSort::PublishedYear, "books:published_year", &c),
            Err(StoreError::InvalidCursor)
        ));
        let c = encode_id("history", id);
        assert_eq!(decode_id("history", &c).unwrap(), id);
        assert!(decode_keyed("history", &c).is_err());
    }

    #[test]
    fn scored_cursors_keep_mode_and_exact_score() {
        let id = Uuid::now_v7();
        let pinned = serde_json::json!({"n": 12, "d": {"\"hobbit\"": 3}});
        for (fuzzy, as_typed, pinned) in [
            (true, false, None),
            (false, true, Some(pinned.clone())),
            (false, false, Some(pinned)),
        ] {
            let position = ScorePosition {
                fuzzy,
                as_typed,
                score: 0.1f32 as f64 + 1000.0,
                id,
                pinned,
            };
            let c = encode_scored("books:relevance:abc", &position);
            assert_eq!(decode_scored("books:relevance:abc", &c).unwrap(), position);
            assert!(decode_scored("books:relevance:abd", &c).is_err());
        }
    }
}
