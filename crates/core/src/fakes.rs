//! In-memory stand-ins for the ports, shared by this crate's use-case tests (`catalog.rs`,
//! `auth::accounts` and `authorization_tests.rs`): one store that keeps the books, idempotency
//! records, users and failed sign-ins it is given, and writes down every method it is asked,
//! so that a test can tell whether a use case reached it; it is also the password hasher
//! (no cryptography, but it writes down how many bytes it was handed) and the token signer.

use crate::audit::{AuditAction, AuditContext, AuditEntry, AuditLog, AuditQuery, NewAuditEntry};
use crate::auth::ports::{
    AccessClaims, NewDeviceToken, NewRefreshToken, PasswordHasher, RefreshOutcome, SessionState,
    StoredSigningKey, TokenSigner, UserStore,
};
use crate::auth::{
    Accounts, AuthConfig, AuthError, NewUser, Throttle, User, UserChange, UserId, UserRecord,
    Username,
};
use crate::author::{Author, AuthorDraft};
use crate::book::{Book, BookDraft, BookFormat, Quantity};
use crate::error::StoreError;
use crate::genre::{Genre, GenreDraft};
use crate::history::HistoryEntry;
use crate::ids::{AuthorId, BookId, GenreId, LocationId};
use crate::isbn::Isbn;
use crate::paging::{BookListQuery, Page, PageRequest};
use crate::ports::{
    CatalogStore, IdempotencyRecord, IdempotencyRequest, IdempotencyStore, Precondition,
    WriteContext,
};
use crate::search::{BookPage, ScoredBook};
use crate::stock::{StockMovement, StockMovementDraft};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// An idempotency record under its scope and key.
pub(crate) type Keyed = (String, String, IdempotencyRecord);

#[derive(Default)]
pub(crate) struct FakeStore {
    calls: Mutex<Vec<&'static str>>,
    pub(crate) books: Mutex<Vec<Book>>,
    pub(crate) records: Mutex<Vec<Keyed>>,
    /// Simulates a concurrent request that stored this record just before the next create.
    pub(crate) race: Mutex<Option<Keyed>>,
    pub(crate) users: Mutex<Vec<UserRecord>>,
    /// Failed sign-ins: the throttle key and when.
    pub(crate) failures: Mutex<Vec<(String, DateTime<Utc>)>>,
    /// The length in bytes of every password handed to the hasher.
    pub(crate) hashed: Mutex<Vec<usize>>,
    /// The audit entries written, in order.
    pub(crate) audit: Mutex<Vec<NewAuditEntry>>,
}

fn empty<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next_cursor: None,
    }
}

impl FakeStore {
    /// Writes down that `method` was asked.
    fn asked(&self, method: &'static str) {
        self.calls.lock().unwrap().push(method);
    }

    /// Writes down that `method` was asked, and answers as a store without that thing would.
    fn missing<T>(&self, method: &'static str, entity: &'static str) -> Result<T, StoreError> {
        self.asked(method);
        Err(StoreError::NotFound { entity })
    }

    /// The methods asked so far, in order.
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    /// How often `method` was asked.
    pub(crate) fn count(&self, method: &str) -> usize {
        self.calls().iter().filter(|m| **m == method).count()
    }

    fn hand_over(&self, method: &'static str, password: &str) {
        self.asked(method);
        self.hashed.lock().unwrap().push(password.len());
    }
}

/// The sign-in and user-management use cases over one fake (store, hasher and signer).
pub(crate) fn accounts() -> (Accounts, Arc<FakeStore>) {
    let store = Arc::new(FakeStore::default());
    let accounts = Accounts::new(
        store.clone(),
        store.clone(),
        store.clone(),
        AuthConfig::default(),
    );
    (accounts, store)
}

/// The book a draft makes, as a store would create it.
/// A stream of the books it holds, first to last.
struct Items<T>(Vec<T>);

impl<T: Unpin> futures_core::Stream for Items<T> {
    type Item = Result<T, StoreError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = (!self.0.is_empty()).then(|| Ok(self.0.remove(0)));
        std::task::Poll::Ready(next)
    }
}

pub(crate) fn book_from(draft: &BookDraft) -> Book {
    let now = Utc::now();
    Book {
        id: BookId::generate(),
        isbn: draft.isbn().clone(),
        title: draft.title().to_owned(),
        subtitle: None,
        description: None,
        authors: Vec::new(),
        genres: Vec::new(),
        publisher: None,
        published_year: None,
        language: None,
        format: Some(BookFormat::Paperback),
        page_count: None,
        price: None,
        quantity: Quantity::ZERO,
        reorder_point: Quantity::ZERO,
        reorder_quantity: Quantity::ZERO,
        location: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

#[async_trait]
impl IdempotencyStore for FakeStore {
    async fn find_idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.asked("find_idempotency_record");
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|(s, k, _)| s == scope && k == key)
            .map(|(_, _, r)| r.clone()))
    }
}

#[async_trait]
impl CatalogStore for FakeStore {
    async fn ready(&self) -> Result<(), StoreError> {
        self.asked("ready");
        Ok(())
    }
    async fn create_book(
        &self,
        draft: &BookDraft,
        _: &WriteContext,
        idempotency: Option<&IdempotencyRequest>,
    ) -> Result<Book, StoreError> {
        self.asked("create_book");
        if let Some(raced) = self.race.lock().unwrap().take() {
            self.records.lock().unwrap().push(raced);
            return Err(StoreError::IdempotencyKeyTaken);
        }
        let book = book_from(draft);
        if let Some(request) = idempotency {
            self.records.lock().unwrap().push((
                request.scope.clone(),
                request.key.clone(),
                IdempotencyRecord {
                    fingerprint: request.fingerprint.clone(),
                    response: serde_json::to_value(&book).unwrap(),
                },
            ));
        }
        self.books.lock().unwrap().push(book.clone());
        Ok(book)
    }
    async fn get_book(&self, id: BookId) -> Result<Option<Book>, StoreError> {
        self.asked("get_book");
        let books = self.books.lock().unwrap();
        Ok(books.iter().find(|b| b.id == id).cloned())
    }
    async fn get_book_by_isbn(&self, _: &Isbn) -> Result<Option<Book>, StoreError> {
        self.asked("get_book_by_isbn");
        Ok(None)
    }
    async fn list_books(&self, _: &BookListQuery) -> Result<BookPage, StoreError> {
        self.asked("list_books");
        let books = self.books.lock().unwrap();
        Ok(BookPage {
            items: books
                .iter()
                .map(|book| ScoredBook {
                    book: book.clone(),
                    score: None,
                })
                .collect(),
            next_cursor: None,
            facets: Vec::new(),
        })
    }
    async fn replace_book(
        &self,
        _: BookId,
        _: &Precondition,
        _: &BookDraft,
        _: &WriteContext,
    ) -> Result<Book, StoreError> {
        self.missing("replace_book", "book")
    }
    async fn import_books(
        &self,
        _: &[BookDraft],
        _: crate::import::ImportMode,
        _: bool,
        _: &WriteContext,
    ) -> Result<Vec<crate::import::ImportOutcome>, StoreError> {
        self.asked("import_books");
        Ok(Vec::new())
    }
    async fn delete_book(
        &self,
        _: BookId,
        _: &Precondition,
        _: &WriteContext,
    ) -> Result<(), StoreError> {
        self.missing("delete_book", "book")
    }
    async fn book_history(
        &self,
        _: BookId,
        _: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.asked("book_history");
        Ok(empty())
    }
    async fn record_stock_movement(
        &self,
        _: BookId,
        _: &Precondition,
        _: &StockMovementDraft,
        _: &WriteContext,
        _: Option<&IdempotencyRequest>,
    ) -> Result<(Book, StockMovement), StoreError> {
        self.missing("record_stock_movement", "book")
    }
    async fn stock_movements(
        &self,
        _: BookId,
        _: &PageRequest,
    ) -> Result<Page<StockMovement>, StoreError> {
        self.asked("stock_movements");
        Ok(empty())
    }
    async fn low_stock(&self, _: &PageRequest) -> Result<Page<Book>, StoreError> {
        self.asked("low_stock");
        Ok(empty())
    }
    fn reorder_candidates(&self, _: Option<LocationId>) -> crate::reorder::ReorderStream<'_> {
        self.asked("reorder_candidates");
        Box::pin(Items(Vec::new()))
    }
    fn export_books<'a>(
        &'a self,
        _: &'a crate::search::BookSearch,
    ) -> crate::reorder::BookStream<'a> {
        self.asked("export_books");
        Box::pin(Items(self.books.lock().expect("books").clone()))
    }
    async fn create_author(
        &self,
        _: &AuthorDraft,
        _: Option<&IdempotencyRequest>,
    ) -> Result<Author, StoreError> {
        self.missing("create_author", "author")
    }
    async fn get_author(&self, _: AuthorId) -> Result<Option<Author>, StoreError> {
        self.asked("get_author");
        Ok(None)
    }
    async fn list_authors(
        &self,
        _: Option<&str>,
        _: &PageRequest,
    ) -> Result<Page<Author>, StoreError> {
        self.asked("list_authors");
        Ok(empty())
    }
    async fn update_author(
        &self,
        _: AuthorId,
        _: &AuthorDraft,
        _: &WriteContext,
    ) -> Result<Author, StoreError> {
        self.missing("update_author", "author")
    }
    async fn delete_author(&self, _: AuthorId) -> Result<(), StoreError> {
        self.missing("delete_author", "author")
    }
    async fn create_genre(
        &self,
        _: &GenreDraft,
        _: Option<&IdempotencyRequest>,
    ) -> Result<Genre, StoreError> {
        self.missing("create_genre", "genre")
    }
    async fn get_genre(&self, _: GenreId) -> Result<Option<Genre>, StoreError> {
        self.asked("get_genre");
        Ok(None)
    }
    async fn list_genres(&self, _: &PageRequest) -> Result<Page<Genre>, StoreError> {
        self.asked("list_genres");
        Ok(empty())
    }
    async fn update_genre(
        &self,
        _: GenreId,
        _: &GenreDraft,
        _: &WriteContext,
    ) -> Result<Genre, StoreError> {
        self.missing("update_genre", "genre")
    }
    async fn delete_genre(&self, _: GenreId) -> Result<(), StoreError> {
        self.missing("delete_genre", "genre")
    }
}

#[async_trait]
impl AuditLog for FakeStore {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        self.asked("record_audit");
        self.audit.lock().unwrap().push(entry.clone());
        Ok(())
    }
    async fn audit_entries(&self, _: &AuditQuery) -> Result<Page<AuditEntry>, StoreError> {
        self.asked("audit_entries");
        Ok(empty())
    }
}

#[async_trait]
impl UserStore for FakeStore {
    async fn count_users(&self) -> Result<i64, StoreError> {
        self.asked("count_users");
        Ok(self.users.lock().unwrap().len() as i64)
    }
    async fn create_user(
        &self,
        user: &NewUser,
        _: Option<&IdempotencyRequest>,
        origin: &AuditContext,
    ) -> Result<User, StoreError> {
        self.asked("create_user");
        self.audit.lock().unwrap().push(origin.entry(
            AuditAction::UserCreated,
            Some(user.username.to_string()),
            serde_json::Map::new(),
        ));
        let now = Utc::now();
        let created = User {
            id: UserId::generate(),
            username: user.username.clone(),
            role: user.role,
            disabled: false,
            token_epoch: 1,
            created_at: now,
            updated_at: now,
        };
        self.users.lock().unwrap().push(UserRecord {
            user: created.clone(),
            password_hash: user.password_hash.clone(),
        });
        Ok(created)
    }
    async fn find_user_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.asked("find_user_by_username");
        let users = self.users.lock().unwrap();
        Ok(users.iter().find(|r| r.user.username == *username).cloned())
    }
    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.asked("get_user");
        let users = self.users.lock().unwrap();
        Ok(users.iter().find(|r| r.user.id == id).cloned())
    }
    async fn list_users(&self, _: &PageRequest) -> Result<Page<User>, StoreError> {
        self.asked("list_users");
        let users = self.users.lock().unwrap();
        Ok(Page {
            items: users.iter().map(|r| r.user.clone()).collect(),
            next_cursor: None,
        })
    }
    async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        _: &AuditContext,
    ) -> Result<User, StoreError> {
        self.asked("update_user");
        let mut users = self.users.lock().unwrap();
        let record = users
            .iter_mut()
            .find(|r| r.user.id == id)
            .ok_or(StoreError::NotFound { entity: "user" })?;
        record.user.role = change.role.unwrap_or(record.user.role);
        record.user.disabled = change.disabled.unwrap_or(record.user.disabled);
        if let Some(hash) = &change.password_hash {
            record.password_hash = hash.clone();
        }
        Ok(record.user.clone())
    }
    async fn token_epoch(&self, id: UserId) -> Result<Option<(i64, bool)>, StoreError> {
        self.asked("token_epoch");
        let users = self.users.lock().unwrap();
        let found = users.iter().find(|r| r.user.id == id);
        Ok(found.map(|r| (r.user.token_epoch, r.user.disabled)))
    }
    async fn insert_refresh_token(&self, _: &NewRefreshToken) -> Result<(), StoreError> {
        self.asked("insert_refresh_token");
        Ok(())
    }
    async fn use_refresh_token(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        self.asked("use_refresh_token");
        Ok(RefreshOutcome::Invalid)
    }
    async fn session_state(
        &self,
        _: UserId,
        _: Uuid,
        _: DateTime<Utc>,
    ) -> Result<Option<SessionState>, StoreError> {
        self.asked("session_state");
        Ok(None)
    }
    async fn revoke_refresh_family(&self, _: &str, _: UserId) -> Result<Option<Uuid>, StoreError> {
        self.asked("revoke_refresh_family");
        Ok(None)
    }
    async fn device_token_user(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        self.asked("device_token_user");
        Ok(None)
    }
    async fn insert_device_token(
        &self,
        _: &NewDeviceToken,
        _: Option<&str>,
    ) -> Result<(), StoreError> {
        self.asked("insert_device_token");
        Ok(())
    }
    async fn login_failures(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<Throttle, StoreError> {
        self.asked("login_failures");
        let failures = self.failures.lock().unwrap();
        let times: Vec<DateTime<Utc>> = failures
            .iter()
            .filter(|(k, at)| k == key && *at >= since)
            .map(|(_, at)| *at)
            .collect();
        Ok(Throttle {
            failures: times.len() as i64,
            last_failure: times.into_iter().max(),
        })
    }
    async fn record_login_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.asked("record_login_failure");
        self.failures.lock().unwrap().push((key.to_owned(), at));
        Ok(())
    }
    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        self.asked("clear_login_failures");
        self.failures.lock().unwrap().retain(|(k, _)| k != key);
        Ok(())
    }
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.asked("signing_keys");
        Ok(Vec::new())
    }
    async fn add_signing_key(
        &self,
        _: &StoredSigningKey,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.asked("add_signing_key");
        Ok(())
    }
    async fn add_signing_key_unless_newer(
        &self,
        _: &StoredSigningKey,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.asked("add_signing_key_unless_newer");
        Ok(false)
    }
}

/// Hashes are the password with a prefix.
#[async_trait]
impl PasswordHasher for FakeStore {
    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        self.hand_over("hash", password);
        Ok(format!("hash:{password}"))
    }
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError> {
        self.hand_over("verify", password);
        Ok(hash.strip_prefix("hash:") == Some(password))
    }
    async fn verify_dummy(&self, password: &str) {
        self.hand_over("verify_dummy", password);
    }
}

#[async_trait]
impl TokenSigner for FakeStore {
    async fn sign(&self, claims: &AccessClaims) -> Result<String, AuthError> {
        self.asked("sign");
        Ok(format!("at_{}", claims.jti))
    }
    fn new_refresh_token(&self) -> Result<String, AuthError> {
        self.asked("new_refresh_token");
        Ok(format!("rt_{}", Uuid::new_v4().simple()))
    }
    fn hash_refresh_token(&self, token: &str) -> String {
        self.asked("hash_refresh_token");
        format!("digest:{token}")
    }
}
