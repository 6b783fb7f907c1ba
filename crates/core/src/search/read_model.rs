//! The port of a search read model: an index kept from the event log that answers searches
//! when it is fresh enough, and declines (the store answers) when it is not.

use crate::consistency::ConsistencyToken;
use crate::error::StoreError;
use crate::paging::BookListQuery;
use crate::search::BookPage;
use async_trait::async_trait;
use uuid::Uuid;

/// Why a read model left a search to the store (a metric label, a log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// Nothing to search (no text, no filter): the store's list is as fast.
    PlainList,
    /// Something the index does not hold or order by (a stock-movement filter, a title
    /// sort), or a cursor of the store's.
    Unsupported,
    /// The index is being built.
    Building,
    /// The index has fallen behind the event log by more than its bound.
    Lagging,
    /// A write of this process is not in the index yet, after a short wait.
    OwnWrite,
    /// The request carries a consistency token (a write elsewhere that the index cannot
    /// place in the event log).
    Token,
    /// The index failed (logged).
    Failed,
}

impl Declined {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PlainList => "plain_list",
            Self::Unsupported => "unsupported",
            Self::Building => "building",
            Self::Lagging => "lagging",
            Self::OwnWrite => "own_write",
            Self::Token => "token",
            Self::Failed => "failed",
        }
    }
}

#[async_trait]
pub trait SearchReadModel: Send + Sync + 'static {
    /// A page from the read model, or why the store must answer. An invalid cursor of the
    /// read model's is `StoreError::InvalidCursor`.
    async fn list_books(
        &self,
        query: &BookListQuery,
        token: Option<ConsistencyToken>,
    ) -> Result<Result<BookPage, Declined>, StoreError>;

    /// This process committed a change of `book` (its new `version`; `None` when unknown or
    /// deleted: `deleted` says which): its searches wait briefly for the index to have it.
    fn wrote(&self, book: Uuid, version: Option<i64>, deleted: bool);
}
