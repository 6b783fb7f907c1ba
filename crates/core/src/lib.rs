//! The Bookstore domain: catalog entities and the rules that keep them valid, the access policy,
//! domain events, and the ports (traits) that adapters implement.
//!
//! Nothing here performs I/O. Every value type is "parse, don't validate": once an `Isbn`,
//! `Money` or `BookDraft` exists, it is valid and nothing downstream checks it again.

pub mod audit;
pub mod auth;
pub mod author;
pub mod book;
pub mod catalog;
pub mod consistency;
pub mod error;
pub mod event;
pub mod genre;
pub mod health;
pub mod history;
pub mod idempotency;
pub mod ids;
pub mod import;
pub mod inventory;
pub mod isbn;
pub mod location;
pub mod money;
pub mod outbox;
pub mod paging;
pub mod policy;
pub mod ports;
pub mod ratelimit;
pub mod reorder;
pub mod search;
pub mod shared_cache;
pub mod stock;
pub mod stocktake;
pub mod text;
pub mod validation;
pub mod webhook;

#[cfg(test)]
mod authorization_tests;
#[cfg(test)]
mod fakes;

pub use author::{Author, AuthorDraft};
pub use book::{
    AuthorRef, Book, BookDraft, BookFormat, Contributor, ContributorRef, ContributorRole, GenreRef,
    GenreTag, Quantity, RawBook, RawContributor, RawPrice,
};
pub use catalog::Catalog;
pub use error::{CatalogError, StoreError};
pub use genre::{Genre, GenreDraft};
pub use history::{HistoryAction, HistoryEntry};
pub use idempotency::Created;
pub use ids::{
    AuthorId, BookId, DeliveryId, GenreId, ImportId, LocationId, StocktakeId, WebhookId,
};
pub use inventory::{Inventory, InventoryStore};
pub use isbn::{Isbn, IsbnError};
pub use location::{Location, LocationDraft, LocationKind, LocationRef, StockLevel};
pub use money::{Currency, Money, MoneyError};
pub use paging::{BookListQuery, BookSort, Limit, Page, PageRequest};
pub use policy::{Action, Principal, Role};
pub use ports::{
    CatalogStore, IdempotencyRecord, IdempotencyRequest, IdempotencyStore, Precondition,
    WriteContext, IDEMPOTENCY_KEY_TTL_SECS,
};
pub use reorder::{BookStream, ItemStream, ReorderCandidate, ReorderStream};
pub use search::{
    BookFilters, BookPage, BookSearch, Facet, FacetCount, FacetCounts, NameOrId, RawBookSearch,
    ScoredBook, Term, TextQuery,
};
pub use stock::{
    StockMovement, StockMovementDraft, StockMovementKind, StockRequest, TransferDraft,
};
pub use stocktake::{
    CountChange, CountDraft, CountedBook, Stocktake, StocktakeDraft, StocktakeLine, StocktakeState,
};
pub use validation::{FieldError, ValidationErrors};
