//! Errors of the catalog use cases and of the store port. Constraint names and SQL never
//! climb above the adapter: it maps them to these variants.

use crate::isbn::Isbn;
use crate::policy::Action;
use crate::validation::ValidationErrors;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("the book has changed: its current version is {current}")]
    VersionMismatch { current: i64 },
    #[error("a book with ISBN {isbn} already exists")]
    DuplicateIsbn { isbn: Isbn, existing: Option<Uuid> },
    #[error("not enough stock: {available} on hand, the movement needs {requested}")]
    InsufficientStock { available: i64, requested: i64 },
    #[error("{entity} named '{name}' already exists")]
    DuplicateName { entity: &'static str, name: String },
    #[error("{entity} is still used by {count} book(s)")]
    InUse { entity: &'static str, count: i64 },
    #[error("no {entity} with id {id}")]
    UnknownReference {
        field: String,
        entity: &'static str,
        id: Uuid,
    },
    #[error("{entity} has {count} sub-genre(s); move or delete them first")]
    HasChildren { entity: &'static str, count: i64 },
    #[error("a genre cannot be nested under itself or its own descendants")]
    GenreCycle,
    /// The change conflicts with the state it met, for a reason `detail` explains (a
    /// location still holding stock, a stocktake no longer open); `problem` is its type.
    #[error("{detail}")]
    Conflict {
        problem: &'static str,
        detail: String,
    },
    #[error("this idempotency key was taken by a concurrent request")]
    IdempotencyKeyTaken,
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    /// The change is well-formed but breaks a rule on the state it met (a receipt that would
    /// take the stock past its maximum): a field error, not a conflict.
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    #[error("storage is unavailable or failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    #[error("not allowed to {0}")]
    Forbidden(Action),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationErrors> for CatalogError {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}
