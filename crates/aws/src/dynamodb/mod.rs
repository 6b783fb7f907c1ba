//! The DynamoDB read model of the books (`BOOKSTORE_DYNAMODB_TABLE`): one item per book, keyed
//! by `id`, with the book's fields as attributes (denormalised: authors, genres and price are
//! in the item) and its `isbn` in the global secondary index `isbn`.
//!
//! Every write is conditional on the book's `version`, so that events may arrive twice, out of
//! order, or race a rebuild, and the table still ends at each book's latest version:
//!
//! - a book (from a created, updated or stock-adjusted event, or a rebuild) is put only when
//!   the item is absent or older: `attribute_not_exists(id) OR version < :v`;
//! - a deletion puts a **tombstone** (`id`, `version` = the book's last version, `deleted`,
//!   `expires_at`) unless a newer item or the tombstone is there: `attribute_not_exists(id)
//!   OR version < :v OR (version = :v AND attribute_not_exists(deleted))` (a delete event
//!   carries the last version the book had, so it wins over that version's item).
//!
//! Why a tombstone rather than DeleteItem: once the item is gone nothing remembers the
//! version, and a stale created or updated event arriving later (a redelivery, another
//! consumer's retry, a rebuild that read the book just before it was deleted) would put the
//! book back. The tombstone keeps the version, so those writes fail their condition. It has
//! no `isbn`, so the index never lists it (a sparse index), and readers treat it as absent.
//! `expires_at` is the table's TTL attribute: DynamoDB removes the tombstone after
//! [`TOMBSTONE_TTL`], longer than any event can wait in SQS (14 days at most).

mod attributes;
pub mod rebuild;
pub mod subscriber;

pub use attributes::{item_json, Item};

use crate::config::describe;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The index that finds books by ISBN.
pub const ISBN_INDEX: &str = "isbn";
/// How long a deleted book's tombstone is kept (the table's TTL on `expires_at`).
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(15 * 24 * 3600);
/// The attribute that marks a tombstone.
pub const DELETED: &str = "deleted";

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("DynamoDB: {0}")]
    Call(String),
    /// An event or book that cannot be written (not a retryable failure).
    #[error("not a book: {0}")]
    NotABook(String),
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Applied,
    /// The table already had this version or a newer one (or the book's deletion).
    Stale,
}

/// The books table.
#[derive(Clone)]
pub struct BooksTable {
    client: Client,
    table: String,
}

/// An item as read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Book(Value),
    Deleted { id: String, version: i64 },
}

impl Stored {
    fn from_item(item: &Item) -> Self {
        let json = item_json(item);
        if item.contains_key(DELETED) {
            return Self::Deleted {
                id: json["id"].as_str().unwrap_or_default().to_owned(),
                version: json["version"].as_i64().unwrap_or_default(),
            };
        }
        Self::Book(json)
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Book(book) => book["id"].as_str().unwrap_or_default(),
            Self::Deleted { id, .. } => id,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            Self::Book(book) => book["version"].as_i64().unwrap_or_default(),
            Self::Deleted { version, .. } => *version,
        }
    }
}

impl BooksTable {
    pub fn new(config: &SdkConfig, table: String) -> Self {
        Self {
            client: Client::new(config),
            table,
        }
    }

    pub fn name(&self) -> &str {
        &self.table
    }

    /// Puts `book` (its JSON as in the events: `id`, `isbn` and `version` required) unless
    /// the table has that version or a newer one, or the book's tombstone.
    pub async fn put_book(&self, book: &Value) -> Result<Written, DynamoError> {
        let version = field_version(book)?;
        for field in ["id", "isbn"] {
            if !book.get(field).is_some_and(Value::is_string) {
                return Err(DynamoError::NotABook(format!("no {field}")));
            }
        }
        let item = attributes::to_item(book)
            .ok_or_else(|| DynamoError::NotABook("not a JSON object".into()))?;
        self.conditional_put(
            item,
            "attribute_not_exists(#id) OR #version < :version",
            version,
        )
        .await
    }

    /// Marks book `id` deleted at `version` (its last), unless a newer version is there.
    pub async fn delete_book(&self, id: &str, version: i64) -> Result<Written, DynamoError> {
        self.conditional_put(
            tombstone(id, version),
            "attribute_not_exists(#id) OR #version < :version \
             OR (#version = :version AND attribute_not_exists(#deleted))",
            version,
        )
        .await
    }

    /// Marks book `id` deleted only if its item is still the live one at `version`: for a
    /// rebuild that found the book gone from the store (any write since then wins).
    pub async fn delete_if_unchanged(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Written, DynamoError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(tombstone(id, version)))
            .condition_expression("#version = :version AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#deleted", DELETED)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(Written::Applied),
            Err(err) if condition_failed(&err) => Ok(Written::Stale),
            Err(err) => Err(DynamoError::Call(describe(&err))),
        }
    }

    async fn conditional_put(
        &self,
        item: Item,
        condition: &str,
        version: i64,
    ) -> Result<Written, DynamoError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()));
        // DynamoDB refuses a name the expression does not use.
        if condition.contains("#deleted") {
            put = put.expression_attribute_names("#deleted", DELETED);
        }
        let answer = put.send().await;
        match answer {
            Ok(_) => Ok(Written::Applied),
            Err(err) if condition_failed(&err) => Ok(Written::Stale),
            Err(err) => Err(DynamoError::Call(describe(&err))),
        }
    }

    /// The item of book `id` (strongly consistent), tombstones included.
    pub async fn get(&self, id: &str) -> Result<Option<Stored>, DynamoError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| DynamoError::Call(describe(&err)))?;
        Ok(output.item().map(Stored::from_item))
    }

    /// The books with `isbn`, through the index (eventually consistent, as every GSI read).
    pub async fn by_isbn(&self, isbn: &str) -> Result<Vec<Value>, DynamoError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ISBN_INDEX)
            .key_condition_expression("#isbn = :isbn")
            .expression_attribute_names("#isbn", "isbn")
            .expression_attribute_values(":isbn", AttributeValue::S(isbn.to_owned()))
            .send()
            .await
            .map_err(|err| DynamoError::Call(describe(&err)))?;
        Ok(output.items().iter().map(item_json).collect())
    }

    /// Every item, tombstones included (strongly consistent scan, page by page).
    pub async fn scan(&self) -> Result<Vec<Stored>, DynamoError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| DynamoError::Call(describe(&err)))?;
            items.extend(output.items().iter().map(Stored::from_item));
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }
}

fn field_version(book: &Value) -> Result<i64, DynamoError> {
    book.get("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| DynamoError::NotABook("no version".into()))
}

fn tombstone(id: &str, version: i64) -> Item {
    let expires = SystemTime::now()
        .checked_add(TOMBSTONE_TTL)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Item::from([
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
        ("version".to_owned(), AttributeValue::N(version.to_string())),
        (DELETED.to_owned(), AttributeValue::Bool(true)),
        (
            "expires_at".to_owned(),
            AttributeValue::N(expires.to_string()),
        ),
    ])
}

fn condition_failed(
    err: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}
