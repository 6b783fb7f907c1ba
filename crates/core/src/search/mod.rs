//! Search over the catalogue: the parsed text query (web-search syntax), the filters, the
//! facets a client asks for, and what a search returns.
//!
//! The text query is parsed here, once, into a small tree of words and phrases; each store
//! renders that tree into its own engine's syntax from sanitised words only, so that no user
//! input ever reaches a full-text parser (`to_tsquery`, FTS5 `MATCH`) as syntax.

mod lex;
mod query;
mod read_model;
mod request;
mod results;
mod words;

pub use lex::{words_of, MAX_WORD_CHARS};
pub use query::{Term, TextQuery, MAX_QUERY_TERMS, MIN_PREFIX_CHARS};
pub use read_model::{Declined, SearchReadModel};
pub use request::{BookFilters, BookSearch, NameOrId, RawBookSearch, MAX_QUERY_CHARS};
pub use results::{BookPage, Facet, FacetCount, FacetCounts, ScoredBook, MAX_FACET_VALUES};
pub use words::{is_stop_word, trigram_similarity};
