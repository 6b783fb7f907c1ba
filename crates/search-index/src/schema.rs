//! The index's schema: what of a book is searched, filtered, sorted and counted, and how a
//! book becomes a document.
//!
//! Text fields are weighted at query time as both stores weigh them (title 10, authors 4,
//! genres 2, description 1; the subtitle counts as title, as in PostgreSQL's `tsvector`).
//! Filters are exact terms of folded values (the same keys the stores compare); sorts and
//! facets read fast fields. A deleted book stays as a tombstone (`live` 0) with its last
//! version, so that a stale event arriving late cannot bring it back.

use bookstore_core::text::fold_key;
use bookstore_core::Book;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer,
};
use tantivy::{Index, IndexSettings, IndexSortByField, Order, TantivyDocument};

/// The analyzer of the text fields: words as `TextQuery` splits them (runs of letters and
/// digits), lower case, accents folded, English stems (PostgreSQL's `english` configuration
/// stems too).
pub const TEXT: &str = "bookstore_text";
/// The analyzer of words matched as prefixes or near spellings: the same words, unstemmed
/// (query side only: a prefix or a misspelling is not a word to stem).
pub const PLAIN: &str = "bookstore_plain";

/// Query-time weight of each text field.
pub const WEIGHTS: [f32; 4] = [10.0, 4.0, 2.0, 1.0];

/// The fields, by role.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The book id as text: the term that replaces or deletes a book's document.
    pub id: Field,
    pub id_hi: Field,
    pub id_lo: Field,
    /// 1 for a book, 0 for the tombstone of a deleted one.
    pub live: Field,
    pub version: Field,
    /// Title (with subtitle), authors, genres, description: in [`WEIGHTS`] order.
    pub text: [Field; 4],
    /// ISBN-13 and, for 978 books, ISBN-10: exact terms.
    pub isbn: Field,
    pub author_id: Field,
    pub author_key: Field,
    pub genre_id: Field,
    pub genre_key: Field,
    pub language: Field,
    pub format: Field,
    pub publisher_key: Field,
    pub year: Field,
    pub price: Field,
    pub quantity: Field,
    /// Sort keys, as the stores define them (a missing price or year sorts last).
    pub updated: Field,
    pub price_asc: Field,
    pub price_desc: Field,
    pub year_key: Field,
    /// Facet values (fast, multi-valued for genres).
    pub genre_facet: Field,
    pub language_facet: Field,
    pub format_facet: Field,
    /// The book as stored (JSON): what a search answers without asking the store.
    pub book: Field,
}

pub fn build() -> (Schema, Fields) {
    let mut s = Schema::builder();
    let text = |name: &str, s: &mut tantivy::schema::SchemaBuilder| {
        s.add_text_field(
            name,
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TEXT)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        )
    };
    let num = || NumericOptions::default().set_indexed().set_fast();
    let fast_only = || NumericOptions::default().set_fast();
    let fields = Fields {
        id: s.add_text_field("id", STRING),
        id_hi: s.add_u64_field("id_hi", fast_only()),
        id_lo: s.add_u64_field("id_lo", fast_only()),
        live: s.add_u64_field("live", INDEXED | FAST),
        version: s.add_i64_field("version", fast_only()),
        text: [
            text("title", &mut s),
            text("authors", &mut s),
            text("genres", &mut s),
            text("description", &mut s),
        ],
        isbn: s.add_text_field("isbn", STRING),
        author_id: s.add_text_field("author_id", STRING),
        author_key: s.add_text_field("author_key", STRING),
        genre_id: s.add_text_field("genre_id", STRING),
        genre_key: s.add_text_field("genre_key", STRING),
        language: s.add_text_field("language", STRING),
        format: s.add_text_field("format", STRING),
        publisher_key: s.add_text_field("publisher_key", STRING),
        year: s.add_i64_field("year", num()),
        price: s.add_i64_field("price", num()),
        quantity: s.add_i64_field("quantity", num()),
        updated: s.add_i64_field("updated", fast_only()),
        price_asc: s.add_i64_field("price_asc", fast_only()),
        price_desc: s.add_i64_field("price_desc", fast_only()),
        year_key: s.add_i64_field("year_key", fast_only()),
        genre_facet: s.add_text_field("genre_facet", TextOptions::default().set_fast("raw")),
        language_facet: s.add_text_field("language_facet", TextOptions::default().set_fast("raw")),
        format_facet: s.add_text_field("format_facet", TextOptions::default().set_fast("raw")),
        book: s.add_bytes_field("book", STORED),
    };
    (s.build(), fields)
}

/// The index's settings: documents stored newest first (each segment sorted by `updated`,
/// descending), so that a list in that order, the default, stops at its page instead of
/// reading every match.
///
/// Stored books are compressed in blocks of [`DOCSTORE_BLOCK`] bytes: a page reads 20 books
/// from 20 places, and each read decompresses its whole block (Tantivy's default of 16 KiB
/// made that a tenth of a common word's CPU).
pub fn settings() -> IndexSettings {
    IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: "updated".to_owned(),
            order: Order::Desc,
        }),
        docstore_blocksize: DOCSTORE_BLOCK,
        ..IndexSettings::default()
    }
}

/// The size of a compressed block of stored books (a few books each).
pub const DOCSTORE_BLOCK: usize = 4096;

/// Registers the analyzers the schema names on `index`.
pub fn register(index: &Index) {
    index.tokenizers().register(TEXT, text_analyzer());
    index.tokenizers().register(PLAIN, plain_analyzer());
}

pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(100))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

pub fn plain_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(100))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens `analyzer` makes of `text`.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The id as two halves, for fast fields (ordering by id is ordering by the pair).
pub fn id_halves(id: uuid::Uuid) -> (u64, u64) {
    let v = id.as_u128();
    ((v >> 64) as u64, v as u64)
}

/// The document of a book. `book_json` is the book as the event carried it.
pub fn document(f: &Fields, book: &Book, book_json: &[u8]) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    let id = book.id.as_uuid();
    let (hi, lo) = id_halves(id);
    d.add_text(f.id, id.to_string());
    d.add_u64(f.id_hi, hi);
    d.add_u64(f.id_lo, lo);
    d.add_u64(f.live, 1);
    d.add_i64(f.version, book.version);
    let mut title = book.title.clone();
    if let Some(sub) = &book.subtitle {
        title.push(' ');
        title.push_str(sub);
    }
    let authors: Vec<&str> = book.authors.iter().map(|a| a.name.as_str()).collect();
    let genres: Vec<&str> = book.genres.iter().map(|g| g.name.as_str()).collect();
    let texts = [
        title,
        authors.join(" "),
        genres.join(" "),
        book.description.clone().unwrap_or_default(),
    ];
    for (field, value) in f.text.iter().zip(&texts) {
        d.add_text(*field, value);
    }
    let isbn = book.isbn.as_str();
    d.add_text(f.isbn, isbn);
    if let Some(ten) = isbn10(isbn) {
        d.add_text(f.isbn, ten);
    }
    for a in &book.authors {
        d.add_text(f.author_id, a.author_id.as_uuid().to_string());
        d.add_text(f.author_key, fold_key(&a.name));
    }
    for g in &book.genres {
        d.add_text(f.genre_id, g.id.as_uuid().to_string());
        d.add_text(f.genre_key, fold_key(&g.name));
        d.add_text(f.genre_facet, &g.name);
    }
    if let Some(language) = &book.language {
        d.add_text(f.language, language);
        d.add_text(f.language_facet, language);
    }
    if let Some(format) = book.format {
        d.add_text(f.format, format.as_str());
        d.add_text(f.format_facet, format.as_str());
    }
    if let Some(publisher) = &book.publisher {
        d.add_text(f.publisher_key, fold_key(publisher));
    }
    if let Some(year) = book.published_year {
        d.add_i64(f.year, i64::from(year));
    }
    let price = book.price.as_ref().map(|p| p.amount_minor());
    if let Some(p) = price {
        d.add_i64(f.price, p);
    }
    d.add_i64(f.quantity, book.quantity.get());
    d.add_i64(f.updated, book.updated_at.timestamp_micros());
    d.add_i64(f.price_asc, price.unwrap_or(i64::MAX));
    d.add_i64(f.price_desc, price.unwrap_or(-1));
    d.add_i64(
        f.year_key,
        book.published_year.map_or(i64::from(i32::MAX), i64::from),
    );
    d.add_bytes(f.book, book_json);
    d
}

/// The tombstone of a deleted book: its id and last version, matched by no search.
pub fn tombstone(f: &Fields, id: uuid::Uuid, version: i64) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    let (hi, lo) = id_halves(id);
    d.add_text(f.id, id.to_string());
    d.add_u64(f.id_hi, hi);
    d.add_u64(f.id_lo, lo);
    d.add_u64(f.live, 0);
    d.add_i64(f.version, version);
    // After every book in the index's order.
    d.add_i64(f.updated, i64::MIN);
    d
}

/// The ISBN-10 form of a 978 ISBN-13 (979 books have none).
fn isbn10(isbn13: &str) -> Option<String> {
    let body = isbn13.strip_prefix("978")?.get(..9)?;
    let sum: u32 = body
        .chars()
        .zip((2..=10).rev())
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    let check = (11 - sum % 11) % 11;
    let check = if check == 10 {
        'X'
    } else {
        char::from_digit(check, 10)?
    };
    Some(format!("{body}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbn10_of_a_978_isbn() {
        assert_eq!(isbn10("9780261103344").as_deref(), Some("0261103342"));
        assert_eq!(isbn10("9780306406157").as_deref(), Some("0306406152"));
        assert_eq!(isbn10("9798886451740"), None);
    }

    #[test]
    fn text_is_folded_and_stemmed_plain_is_only_folded() {
        let mut t = text_analyzer();
        assert_eq!(
            tokens(&mut t, "Saint-Exupéry's Hobbits"),
            ["saint", "exuperi", "s", "hobbit"]
        );
        let mut p = plain_analyzer();
        assert_eq!(tokens(&mut p, "Exupéry Hobbits"), ["exupery", "hobbits"]);
    }
}
