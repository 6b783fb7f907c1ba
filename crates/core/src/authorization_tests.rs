//! Authorization twice: the HTTP routes require roles, and every write use case checks the
//! policy again here, without HTTP. Each write is tried as staff (refused, and the store never
//! asked) and as admin (let through to the store), so that removing a check from any one use
//! case fails its test.

use crate::auth::ports::{
    AccessClaims, NewDeviceToken, NewRefreshToken, PasswordHasher, RefreshOutcome, SessionState,
    StoredSigningKey, TokenSigner, UserStore,
};
use crate::auth::{Accounts, AuthConfig, AuthError, NewUser, User, UserChange, UserId};
use crate::auth::{Throttle, UserRecord, Username};
use crate::author::{Author, AuthorDraft};
use crate::book::{Book, BookDraft, RawBook};
use crate::catalog::Catalog;
use crate::error::{CatalogError, StoreError};
use crate::genre::{Genre, GenreDraft};
use crate::history::HistoryEntry;
use crate::idempotency::Created;
use crate::ids::{AuthorId, BookId, GenreId};
use crate::isbn::Isbn;
use crate::paging::{BookListQuery, Page, PageRequest};
use crate::policy::{Action, Principal, Role};
use crate::ports::{
    CatalogStore, IdempotencyRecord, IdempotencyRequest, IdempotencyStore, Precondition,
    WriteContext,
};
use crate::search::BookPage;
use crate::stock::{StockMovement, StockMovementDraft};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_executor::block_on;
use std::sync::{Arc, Mutex};

/// A store (and hasher, and signer) that answers nothing: it writes down which method was
/// asked and fails it. Staff must never get as far as asking; admins must.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn asked<T>(&self, method: &'static str) -> Result<T, StoreError> {
        self.calls.lock().unwrap().push(method);
        Err(StoreError::NotFound { entity: "fake" })
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl IdempotencyStore for Recorder {
    async fn find_idempotency_record(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.asked("find_idempotency_record")
    }
}

#[async_trait]
impl CatalogStore for Recorder {
    async fn ready(&self) -> Result<(), StoreError> {
        self.asked("ready")
    }
    async fn create_book(
        &self,
        _: &BookDraft,
        _: &WriteContext,
        _: Option<&IdempotencyRequest>,
    ) -> Result<Book, StoreError> {
        self.asked("create_book")
    }
    async fn get_book(&self, _: BookId) -> Result<Option<Book>, StoreError> {
        self.asked("get_book")
    }
    async fn get_book_by_isbn(&self, _: &Isbn) -> Result<Option<Book>, StoreError> {
        self.asked("get_book_by_isbn")
    }
    async fn list_books(&self, _: &BookListQuery) -> Result<BookPage, StoreError> {
        self.asked("list_books")
    }
    async fn replace_book(
        &self,
        _: BookId,
        _: &Precondition,
        _: &BookDraft,
        _: &WriteContext,
    ) -> Result<Book, StoreError> {
        self.asked("replace_book")
    }
    async fn delete_book(
        &self,
        _: BookId,
        _: &Precondition,
        _: &WriteContext,
    ) -> Result<(), StoreError> {
        self.asked("delete_book")
    }
    async fn book_history(
        &self,
        _: BookId,
        _: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.asked("book_history")
    }
    async fn record_stock_movement(
        &self,
        _: BookId,
        _: &Precondition,
        _: &StockMovementDraft,
        _: &WriteContext,
        _: Option<&IdempotencyRequest>,
    ) -> Result<(Book, StockMovement), StoreError> {
        self.asked("record_stock_movement")
    }
    async fn stock_movements(
        &self,
        _: BookId,
        _: &PageRequest,
    ) -> Result<Page<StockMovement>, StoreError> {
        self.asked("stock_movements")
    }
    async fn low_stock(&self, _: &PageRequest) -> Result<Page<Book>, StoreError> {
        self.asked("low_stock")
    }
    async fn create_author(
        &self,
        _: &AuthorDraft,
        _: Option<&IdempotencyRequest>,
    ) -> Result<Author, StoreError> {
        self.asked("create_author")
    }
    async fn get_author(&self, _: AuthorId) -> Result<Option<Author>, StoreError> {
        self.asked("get_author")
    }
    async fn list_authors(
        &self,
        _: Option<&str>,
        _: &PageRequest,
    ) -> Result<Page<Author>, StoreError> {
        self.asked("list_authors")
    }
    async fn update_author(
        &self,
        _: AuthorId,
        _: &AuthorDraft,
        _: &WriteContext,
    ) -> Result<Author, StoreError> {
        self.asked("update_author")
    }
    async fn delete_author(&self, _: AuthorId) -> Result<(), StoreError> {
        self.asked("delete_author")
    }
    async fn create_genre(
        &self,
        _: &GenreDraft,
        _: Option<&IdempotencyRequest>,
    ) -> Result<Genre, StoreError> {
        self.asked("create_genre")
    }
    async fn get_genre(&self, _: GenreId) -> Result<Option<Genre>, StoreError> {
        self.asked("get_genre")
    }
    async fn list_genres(&self, _: &PageRequest) -> Result<Page<Genre>, StoreError> {
        self.asked("list_genres")
    }
    async fn update_genre(
        &self,
        _: GenreId,
        _: &GenreDraft,
        _: &WriteContext,
    ) -> Result<Genre, StoreError> {
        self.asked("update_genre")
    }
    async fn delete_genre(&self, _: GenreId) -> Result<(), StoreError> {
        self.asked("delete_genre")
    }
}

#[async_trait]
impl UserStore for Recorder {
    async fn count_users(&self) -> Result<i64, StoreError> {
        self.asked("count_users")
    }
    async fn create_user(
        &self,
        _: &NewUser,
        _: Option<&IdempotencyRequest>,
    ) -> Result<User, StoreError> {
        self.asked("create_user")
    }
    async fn find_user_by_username(&self, _: &Username) -> Result<Option<UserRecord>, StoreError> {
        self.asked("find_user_by_username")
    }
    async fn get_user(&self, _: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.asked("get_user")
    }
    async fn list_users(&self, _: &PageRequest) -> Result<Page<User>, StoreError> {
        self.asked("list_users")
    }
    async fn update_user(&self, _: UserId, _: &UserChange) -> Result<User, StoreError> {
        self.asked("update_user")
    }
    async fn token_epoch(&self, _: UserId) -> Result<Option<(i64, bool)>, StoreError> {
        self.asked("token_epoch")
    }
    async fn insert_refresh_token(&self, _: &NewRefreshToken) -> Result<(), StoreError> {
        self.asked("insert_refresh_token")
    }
    async fn use_refresh_token(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        self.asked("use_refresh_token")
    }
    async fn session_state(
        &self,
        _: UserId,
        _: uuid::Uuid,
        _: DateTime<Utc>,
    ) -> Result<Option<SessionState>, StoreError> {
        self.asked("session_state")
    }
    async fn revoke_refresh_family(
        &self,
        _: &str,
        _: UserId,
    ) -> Result<Option<uuid::Uuid>, StoreError> {
        self.asked("revoke_refresh_family")
    }
    async fn device_token_user(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        self.asked("device_token_user")
    }
    async fn insert_device_token(
        &self,
        _: &NewDeviceToken,
        _: Option<&str>,
    ) -> Result<(), StoreError> {
        self.asked("insert_device_token")
    }
    async fn login_failures(&self, _: &str, _: DateTime<Utc>) -> Result<Throttle, StoreError> {
        self.asked("login_failures")
    }
    async fn record_login_failure(&self, _: &str, _: DateTime<Utc>) -> Result<(), StoreError> {
        self.asked("record_login_failure")
    }
    async fn clear_login_failures(&self, _: &str) -> Result<(), StoreError> {
        self.asked("clear_login_failures")
    }
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.asked("signing_keys")
    }
    async fn add_signing_key(
        &self,
        _: &StoredSigningKey,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.asked("add_signing_key")
    }
}

#[async_trait]
impl PasswordHasher for Recorder {
    async fn hash(&self, _: &str) -> Result<String, AuthError> {
        Ok(self.asked::<()>("hash").map(|()| String::new())?)
    }
    async fn verify(&self, _: &str, _: &str) -> Result<bool, AuthError> {
        Ok(self.asked::<()>("verify").map(|()| false)?)
    }
    async fn verify_dummy(&self, _: &str) {
        let _ = self.asked::<()>("verify_dummy");
    }
}

#[async_trait]
impl TokenSigner for Recorder {
    async fn sign(&self, _: &AccessClaims) -> Result<String, AuthError> {
        Ok(self.asked::<()>("sign").map(|()| String::new())?)
    }
    fn new_refresh_token(&self) -> Result<String, AuthError> {
        Ok(self
            .asked::<()>("new_refresh_token")
            .map(|()| String::new())?)
    }
    fn hash_refresh_token(&self, _: &str) -> String {
        let _ = self.asked::<()>("hash_refresh_token");
        String::new()
    }
}

fn principal(role: Role) -> Principal {
    Principal {
        subject: UserId::generate().to_string(),
        username: format!("{role:?}").to_lowercase(),
        role,
    }
}

fn ctx(role: Role) -> WriteContext {
    WriteContext {
        principal: principal(role),
        request_id: None,
        traceparent: None,
    }
}

fn book() -> BookDraft {
    BookDraft::parse(&RawBook {
        isbn: Some("9780261103344".into()),
        title: Some("The Hobbit".into()),
        ..RawBook::default()
    })
    .expect("valid")
}

fn author() -> AuthorDraft {
    AuthorDraft::parse(Some("J. R. R. Tolkien"), None).expect("valid")
}

fn genre() -> GenreDraft {
    GenreDraft::parse(Some("Fantasy"), None).expect("valid")
}

fn sale() -> StockMovementDraft {
    StockMovementDraft::parse("sale", 1, None).expect("valid")
}

/// Runs one catalog write as staff, then as admin.
fn catalog_write<T: std::fmt::Debug>(
    name: &str,
    write: impl Fn(&Catalog, WriteContext) -> Result<T, CatalogError>,
) {
    let store = Arc::new(Recorder::default());
    let catalog = Catalog::new(store.clone());
    let refused = write(&catalog, ctx(Role::Staff));
    assert!(
        matches!(refused, Err(CatalogError::Forbidden(Action::WriteCatalog))),
        "{name} as staff: {refused:?}"
    );
    assert_eq!(store.calls(), Vec::<&str>::new(), "{name} as staff");

    let admitted = write(&catalog, ctx(Role::Admin));
    assert!(
        !matches!(admitted, Err(CatalogError::Forbidden(_))),
        "{name} as admin: {admitted:?}"
    );
    assert!(
        !store.calls().is_empty(),
        "{name} as admin never reached the store"
    );
}

#[test]
fn staff_cannot_create_a_book() {
    catalog_write("create_book", |c, ctx| {
        block_on(c.create_book(&ctx, &book(), None)).map(|Created { value, .. }| value)
    });
}

#[test]
fn staff_cannot_create_a_book_even_with_an_idempotency_key() {
    // A replayed key must not hand staff someone else's created book either.
    catalog_write("create_book with a key", |c, ctx| {
        let key = IdempotencyRequest {
            scope: ctx.principal.subject.clone(),
            key: "k1".into(),
            fingerprint: "f1".into(),
        };
        block_on(c.create_book(&ctx, &book(), Some(&key))).map(|created| created.value)
    });
}

#[test]
fn staff_cannot_replace_a_book() {
    catalog_write("replace_book", |c, ctx| {
        block_on(c.replace_book(&ctx, BookId::generate(), &Precondition::Any, &book()))
    });
}

#[test]
fn staff_cannot_delete_a_book() {
    catalog_write("delete_book", |c, ctx| {
        block_on(c.delete_book(&ctx, BookId::generate(), &Precondition::Any))
    });
}

#[test]
fn staff_cannot_record_a_stock_movement() {
    catalog_write("record_stock_movement", |c, ctx| {
        block_on(c.record_stock_movement(
            &ctx,
            BookId::generate(),
            &Precondition::Any,
            &sale(),
            None,
        ))
        .map(|Created { value, .. }| value)
    });
}

#[test]
fn staff_cannot_create_an_author() {
    catalog_write("create_author", |c, ctx| {
        block_on(c.create_author(&ctx, &author(), None)).map(|Created { value, .. }| value)
    });
}

#[test]
fn staff_cannot_update_an_author() {
    catalog_write("update_author", |c, ctx| {
        block_on(c.update_author(&ctx, AuthorId::generate(), &author()))
    });
}

#[test]
fn staff_cannot_delete_an_author() {
    catalog_write("delete_author", |c, ctx| {
        block_on(c.delete_author(&ctx, AuthorId::generate()))
    });
}

#[test]
fn staff_cannot_create_a_genre() {
    catalog_write("create_genre", |c, ctx| {
        block_on(c.create_genre(&ctx, &genre(), None)).map(|Created { value, .. }| value)
    });
}

#[test]
fn staff_cannot_update_a_genre() {
    catalog_write("update_genre", |c, ctx| {
        block_on(c.update_genre(&ctx, GenreId::generate(), &genre()))
    });
}

#[test]
fn staff_cannot_delete_a_genre() {
    catalog_write("delete_genre", |c, ctx| {
        block_on(c.delete_genre(&ctx, GenreId::generate()))
    });
}

/// Runs one user-management call as staff, then as admin.
fn manage_users<T: std::fmt::Debug>(
    name: &str,
    call: impl Fn(&Accounts, &Principal) -> Result<T, AuthError>,
) {
    let recorder = Arc::new(Recorder::default());
    let accounts = Accounts::new(
        recorder.clone(),
        recorder.clone(),
        recorder.clone(),
        AuthConfig::default(),
    );
    let refused = call(&accounts, &principal(Role::Staff));
    assert!(
        matches!(refused, Err(AuthError::Forbidden)),
        "{name} as staff: {refused:?}"
    );
    assert_eq!(recorder.calls(), Vec::<&str>::new(), "{name} as staff");

    let admitted = call(&accounts, &principal(Role::Admin));
    assert!(
        !matches!(admitted, Err(AuthError::Forbidden)),
        "{name} as admin: {admitted:?}"
    );
    assert!(
        !recorder.calls().is_empty(),
        "{name} as admin never reached the store"
    );
}

#[test]
fn staff_cannot_create_a_user() {
    manage_users("create_user", |a, who| {
        block_on(a.create_user(
            who,
            "clerk",
            "saffron lighthouse kettle".into(),
            Role::Admin,
            None,
        ))
        .map(|Created { value, .. }| value)
    });
}

#[test]
fn staff_cannot_change_a_user() {
    // Not even their own role: making oneself admin is the first thing to try.
    manage_users("update_user", |a, who| {
        let own = uuid::Uuid::parse_str(&who.subject)
            .map(UserId::from_uuid)
            .expect("uuid");
        block_on(a.update_user(who, None, own, Some(Role::Admin), None, None, None))
    });
}

#[test]
fn staff_cannot_unlock_a_user() {
    manage_users("unlock", |a, who| {
        block_on(a.unlock(who, UserId::generate()))
    });
}

#[test]
fn staff_cannot_list_or_read_users() {
    manage_users("list_users", |a, who| {
        block_on(a.list_users(who, &PageRequest::default()))
    });
    manage_users("get_user", |a, who| {
        block_on(a.get_user(who, UserId::generate()))
    });
}
