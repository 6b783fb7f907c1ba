//! The settings of search: whether the search read model (an embedded index kept from the
//! event log) answers searches, and how fresh it must be to.

use super::values;
use clap::{Args, ValueEnum};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchMode {
    /// The store answers every search (SQLite FTS5, PostgreSQL tsvector).
    Off,
    /// The index under <data dir>/search-index answers searches and filters while it is
    /// fresh; the store answers otherwise.
    Index,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Search")]
pub struct SearchArgs {
    /// Where searches are answered: off (the store) or index.
    #[arg(long, env = "BOOKSTORE_SEARCH", value_enum, default_value = "off")]
    pub search: SearchMode,
    /// Seconds the index may go without being caught up with the event log before the
    /// store answers searches instead.
    #[arg(long, env = "BOOKSTORE_SEARCH_MAX_LAG", value_name = "SECONDS", default_value = "2",
          value_parser = values::seconds_or_zero)]
    pub search_max_lag: Duration,
    /// Seconds a search waits for this process's own writes to reach the index before the
    /// store answers it.
    #[arg(long, env = "BOOKSTORE_SEARCH_OWN_WRITE_WAIT", value_name = "SECONDS", default_value = "1",
          value_parser = values::seconds_or_zero)]
    pub search_own_write_wait: Duration,
}

impl SearchArgs {
    pub fn freshness(&self) -> bookstore_search_index::Freshness {
        bookstore_search_index::Freshness {
            max_lag: self.search_max_lag,
            own_write_wait: self.search_own_write_wait,
        }
    }
}
