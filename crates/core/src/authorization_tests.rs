//! Authorization twice: the HTTP routes require roles, and every write use case checks the
//! policy again here, without HTTP. Each write is tried as staff (refused, and the store never
//! asked) and as admin (let through to the store), so that removing a check from any one use
//! case fails its test. The store is the shared in-memory fake (`crate::fakes`), which writes
//! down every method asked.

use crate::auth::{Accounts, AuthError, UserEdit, UserId};
use crate::author::AuthorDraft;
use crate::book::{BookDraft, RawBook};
use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::fakes::{self, FakeStore};
use crate::genre::GenreDraft;
use crate::idempotency::Created;
use crate::ids::{AuthorId, BookId, GenreId};
use crate::paging::PageRequest;
use crate::policy::{Action, Principal, Role};
use crate::ports::{IdempotencyRequest, Precondition, WriteContext};
use crate::stock::StockMovementDraft;
use futures_executor::block_on;
use std::sync::Arc;

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
    let store = Arc::new(FakeStore::default());
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
    let (accounts, store) = fakes::accounts();
    let refused = call(&accounts, &principal(Role::Staff));
    assert!(
        matches!(refused, Err(AuthError::Forbidden)),
        "{name} as staff: {refused:?}"
    );
    assert_eq!(store.calls(), Vec::<&str>::new(), "{name} as staff");

    let admitted = call(&accounts, &principal(Role::Admin));
    assert!(
        !matches!(admitted, Err(AuthError::Forbidden)),
        "{name} as admin: {admitted:?}"
    );
    assert!(
        !store.calls().is_empty(),
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
            &crate::audit::AuditContext::system(),
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
        let promote = UserEdit {
            role: Some(Role::Admin),
            ..UserEdit::default()
        };
        block_on(a.update_user(
            who,
            None,
            own,
            promote,
            &crate::audit::AuditContext::system(),
        ))
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
