//! The parsers of untrusted text inside this crate, for the fuzz targets in `fuzz/` (a cargo
//! workspace of its own): the opaque cursor codec and the two translations of a text query.
//! Compiled only with the `fuzzing` feature; nothing else enables it. The types here mirror
//! the crate's private ones so that the targets can build positions and compare results
//! without the crate exposing its internals.

use crate::cursor::{self, BookKey, ScorePosition};
use crate::sqlite_fts::{FtsQuery, PinnedCorpus};
use crate::time::DbTime;
use bookstore_core::{BookSearch, BookSort, StoreError, TextQuery};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Arguments, Execute, Postgres, QueryBuilder};
use uuid::Uuid;

/// The sort key a book-list cursor carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Time(DateTime<Utc>),
    Text(String),
    Int(i64),
    Int32(i32),
}

impl From<BookKey> for Key {
    fn from(key: BookKey) -> Self {
        match key {
            BookKey::Time(t) => Self::Time(t.into()),
            BookKey::Text(s) => Self::Text(s),
            BookKey::Int(i) => Self::Int(i),
            BookKey::Int32(i) => Self::Int32(i),
        }
    }
}

impl From<&Key> for BookKey {
    fn from(key: &Key) -> Self {
        match key {
            Key::Time(t) => BookKey::Time(DbTime::from(*t)),
            Key::Text(s) => BookKey::Text(s.clone()),
            Key::Int(i) => BookKey::Int(*i),
            Key::Int32(i) => BookKey::Int32(*i),
        }
    }
}

/// A position in a relevance-ordered search (see the crate's `ScorePosition`).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub fuzzy: bool,
    pub as_typed: bool,
    pub score: f64,
    pub id: Uuid,
    pub pinned: Option<Value>,
}

pub fn book_list_name(sort: BookSort, search: &BookSearch) -> String {
    cursor::book_list_name(sort, search)
}

pub fn encode_book(list: &str, key: &Key, id: Uuid) -> String {
    cursor::encode_book(list, &BookKey::from(key), id)
}

pub fn decode_book(sort: BookSort, list: &str, cursor: &str) -> Result<(Key, Uuid), StoreError> {
    cursor::decode_book(sort, list, cursor).map(|(key, id)| (key.into(), id))
}

pub fn encode_scored(list: &str, position: &Scored) -> String {
    cursor::encode_scored(
        list,
        &ScorePosition {
            fuzzy: position.fuzzy,
            as_typed: position.as_typed,
            score: position.score,
            id: position.id,
            pinned: position.pinned.clone(),
        },
    )
}

pub fn decode_scored(list: &str, cursor: &str) -> Result<Scored, StoreError> {
    cursor::decode_scored(list, cursor).map(|p| Scored {
        fuzzy: p.fuzzy,
        as_typed: p.as_typed,
        score: p.score,
        id: p.id,
        pinned: p.pinned,
    })
}

pub fn encode_keyed(list: &str, key: &str, id: Uuid) -> String {
    cursor::encode_keyed(list, key, id)
}

pub fn decode_keyed(list: &str, cursor: &str) -> Result<(String, Uuid), StoreError> {
    cursor::decode_keyed(list, cursor)
}

pub fn encode_id(list: &str, id: Uuid) -> String {
    cursor::encode_id(list, id)
}

pub fn decode_id(list: &str, cursor: &str) -> Result<Uuid, StoreError> {
    cursor::decode_id(list, cursor)
}

/// What the SQLite store reads from a relevance cursor's pinned statistics, written back as
/// the store would put it in the next cursor; `None` where the store refuses the cursor.
pub fn sqlite_pinned(value: Value) -> Option<Value> {
    let pinned: PinnedCorpus = serde_json::from_value(value).ok()?;
    serde_json::to_value(&pinned).ok()
}

/// The PostgreSQL `tsquery` expression of `text`, as SQL with `$n` placeholders for its
/// words; `binds` is how many words it binds.
pub fn postgres_tsquery(text: &TextQuery) -> (String, usize) {
    let mut qb = QueryBuilder::<Postgres>::new("");
    crate::postgres::push_tsquery(&mut qb, text);
    let sql = qb.sql().to_owned();
    let binds = qb
        .build()
        .take_arguments()
        .ok()
        .flatten()
        .map_or(0, |a| a.len());
    (sql, binds)
}

/// The SQLite FTS5 `MATCH` expression of `text` and its phrases (see `FtsQuery`).
pub fn fts5_query(text: &TextQuery, title_only: bool) -> Option<(String, Vec<Option<String>>)> {
    FtsQuery::of(text, title_only).map(|q| (q.expr, q.phrases))
}
