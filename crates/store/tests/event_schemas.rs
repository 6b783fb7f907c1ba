//! Every kind of event the service emits matches its JSON Schema in `schemas/events/` (issue
//! 12, point 4), on both stores: a create, an edit, an author rename, a genre rename, a stock
//! movement, a transfer between two locations (two `stock_adjusted` events) and a delete, read back from the outbox as committed. The schemas are strict
//! enough to refuse a wrong event: each mangled copy of a real one fails.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bookstore_core::{
    AuthorDraft, BookDraft, CatalogStore, GenreDraft, InventoryStore, LocationDraft, Precondition,
    Principal, RawBook, RawContributor, RawPrice, Role, StockMovementDraft, TransferDraft,
    WriteContext,
};
use bookstore_store::{testing, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

contract!(every_event_matches_its_schema);

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TYPES: [&str; 4] = [
    "bookstore.book.created",
    "bookstore.book.updated",
    "bookstore.book.deleted",
    "bookstore.book.stock_adjusted",
];

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events")
}

/// The validator of each event type, by type.
fn validators() -> BTreeMap<String, jsonschema::Validator> {
    let mut validators = BTreeMap::new();
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(event_type) = name.strip_suffix(".json") else {
            continue;
        };
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        jsonschema::meta::validate(&schema).unwrap_or_else(|err| panic!("{name}: {err}"));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        validators.insert(event_type.to_owned(), validator);
    }
    validators
}

fn errors(validators: &BTreeMap<String, jsonschema::Validator>, event: &Value) -> Vec<String> {
    let event_type = event["type"].as_str().unwrap_or_default();
    let Some(validator) = validators.get(event_type) else {
        return vec![format!("no schema for type {event_type:?}")];
    };
    validator
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn clerk() -> WriteContext {
    WriteContext {
        principal: Principal {
            subject: "u-7".into(),
            username: "clerk-7".into(),
            role: Role::Admin,
        },
        request_id: Some("req-7".into()),
        traceparent: Some(TRACEPARENT.into()),
    }
}

fn full_book() -> RawBook {
    RawBook {
        isbn: Some("978-0-261-10334-4".into()),
        title: Some("The Hobbit".into()),
        subtitle: Some("or There and Back Again".into()),
        description: Some("A hobbit goes there and back again.".into()),
        authors: vec![
            RawContributor {
                name: Some("J. R. R. Tolkien".into()),
                ..RawContributor::default()
            },
            RawContributor {
                name: Some("Alan Lee".into()),
                role: Some("illustrator".into()),
                ..RawContributor::default()
            },
        ],
        genres: vec!["Fantasy".into()],
        publisher: Some("HarperCollins".into()),
        published_year: Some(1937),
        language: Some("en".into()),
        format: Some("paperback".into()),
        page_count: Some(310),
        price: Some(RawPrice::Minor {
            amount_minor: 1299,
            currency: "EUR".into(),
        }),
        quantity: Some(4),
        reorder_point: Some(2),
        reorder_quantity: Some(6),
        location: Some("F-12".into()),
    }
}

/// Makes the store emit every kind of event.
async fn emit_every_kind(cat: &dyn CatalogStore, inventory: &dyn InventoryStore) {
    let ctx = clerk();
    let raw = full_book();
    let book = cat
        .create_book(&BookDraft::parse(&raw).unwrap(), &ctx, None)
        .await
        .unwrap();
    // A bare book: the optional fields as null.
    let bare = cat
        .create_book(
            &BookDraft::parse(&RawBook {
                isbn: Some("9780000000002".into()),
                title: Some("Bare".into()),
                ..RawBook::default()
            })
            .unwrap(),
            &ctx,
            None,
        )
        .await
        .unwrap();
    let edited = RawBook {
        title: Some("The Hobbit (revised)".into()),
        ..raw
    };
    let book = cat
        .replace_book(
            book.id,
            &Precondition::version(book.version),
            &BookDraft::parse(&edited).unwrap(),
            &ctx,
        )
        .await
        .unwrap();
    cat.update_author(
        book.authors[0].author_id,
        &AuthorDraft::parse(Some("John Ronald Reuel Tolkien"), None).unwrap(),
        &ctx,
    )
    .await
    .unwrap();
    cat.update_genre(
        book.genres[0].id,
        &GenreDraft::parse(Some("High Fantasy"), None).unwrap(),
        &ctx,
    )
    .await
    .unwrap();
    let (book, _) = cat
        .record_stock_movement(
            book.id,
            &Precondition::Any,
            &StockMovementDraft::parse("sale", 1, None).unwrap(),
            &ctx,
            None,
        )
        .await
        .unwrap();
    inventory
        .create_location(
            &LocationDraft::parse(Some("back-room"), Some("Back room"), Some("store"), None)
                .unwrap(),
            None,
        )
        .await
        .unwrap();
    let (book, _) = inventory
        .transfer_stock(
            book.id,
            &Precondition::Any,
            &TransferDraft::parse(Some("main"), Some("back-room"), 1, Some("display")).unwrap(),
            &ctx,
            None,
        )
        .await
        .unwrap();
    cat.delete_book(book.id, &Precondition::version(book.version), &ctx)
        .await
        .unwrap();
    cat.delete_book(bare.id, &Precondition::Any, &ctx)
        .await
        .unwrap();
}

/// Copies of `event` each made wrong in one way a consumer would trip over.
fn mangled(event: &Value) -> Vec<(&'static str, Value)> {
    let mut wrong = Vec::new();
    let mut with = |what: &'static str, change: &dyn Fn(&mut Value)| {
        let mut copy = event.clone();
        change(&mut copy);
        wrong.push((what, copy));
    };
    with("no actor", &|e| {
        e.as_object_mut().unwrap().remove("actor");
    });
    with("no id", &|e| {
        e.as_object_mut().unwrap().remove("id");
    });
    with("an unknown attribute", &|e| e["colour"] = json!("red"));
    with("another specversion", &|e| e["specversion"] = json!("0.3"));
    with("a time that is no time", &|e| {
        e["time"] = json!("yesterday at noon")
    });
    with("an id that is no UUID", &|e| e["id"] = json!("event-1"));
    with("a version as text", &|e| e["version"] = json!("2"));
    with("a malformed traceparent", &|e| {
        e["traceparent"] = json!("00-xyz-01")
    });
    with("no data", &|e| {
        e.as_object_mut().unwrap().remove("data");
    });
    with("data without its id", &|e| {
        e["data"].as_object_mut().unwrap().remove("id");
    });
    if event["type"] == "bookstore.book.stock_adjusted" {
        with("no location", &|e| {
            e.as_object_mut().unwrap().remove("location");
        });
        with("a location id that is no UUID", &|e| {
            e["locationid"] = json!("main")
        });
    }
    if event["type"] == "bookstore.book.deleted" {
        with("a whole book as the data of a delete", &|e| {
            e["data"]["title"] = json!("The Hobbit")
        });
    } else {
        with("a negative quantity", &|e| {
            e["data"]["quantity"] = json!(-1)
        });
        with("an unknown format", &|e| {
            e["data"]["format"] = json!("scroll")
        });
        with("a short ISBN", &|e| {
            e["data"]["isbn"] = json!("97802611033")
        });
        with("an author without a role", &|e| {
            if let Some(author) = e["data"]["authors"].get_mut(0) {
                author.as_object_mut().unwrap().remove("role");
            } else {
                e["data"]["authors"] = json!([{"name": "Nobody"}]);
            }
        });
        with("a price in floating point", &|e| {
            e["data"]["price"] = json!({"amount": 12.99, "currency": "EUR"})
        });
        with("a book field left out", &|e| {
            e["data"].as_object_mut().unwrap().remove("location");
        });
    }
    // The schema of another type refuses it too.
    let other = if event["type"] == "bookstore.book.created" {
        "bookstore.book.updated"
    } else {
        "bookstore.book.created"
    };
    with("the type of another event", &|e| e["type"] = json!(other));
    wrong
}

async fn every_event_matches_its_schema(store: &Store) {
    let validators = validators();
    for t in TYPES {
        assert!(validators.contains_key(t), "no schema for {t}");
    }
    let cat = store.catalog();
    emit_every_kind(cat.as_ref(), store.inventory().as_ref()).await;
    let events = testing::outbox_events(store).await;

    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "bookstore.book.created",
            "bookstore.book.created",
            "bookstore.book.updated",
            // The author's rename, then the genre's: each a new version of the book.
            "bookstore.book.updated",
            "bookstore.book.updated",
            "bookstore.book.stock_adjusted",
            // The transfer: out of `main`, into `back-room`.
            "bookstore.book.stock_adjusted",
            "bookstore.book.stock_adjusted",
            "bookstore.book.deleted",
            "bookstore.book.deleted",
        ]
    );
    let at: Vec<(&str, i64)> = events[5..8]
        .iter()
        .map(|e| {
            (
                e["location"].as_str().unwrap(),
                e["data"]["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    // A transfer leaves the total as it is, in between its halves too.
    assert_eq!(at, [("main", 3), ("main", 3), ("back-room", 3)]);
    assert_eq!(
        events[7]["locationid"].as_str().unwrap().len(),
        36,
        "{:#}",
        events[7]
    );
    for event in &events {
        let errors = errors(&validators, event);
        assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
        // Every event names who made the change and the request's trace, renames included.
        assert_eq!(event["actor"], "clerk-7", "{event:#}");
        assert_eq!(event["traceparent"], TRACEPARENT, "{event:#}");
        assert_eq!(event["subject"], event["data"]["id"], "{event:#}");
        assert_eq!(event["version"], event["data"]["version"], "{event:#}");
    }
    assert_eq!(
        events[3]["data"]["authors"][0]["name"],
        "John Ronald Reuel Tolkien"
    );
    assert_eq!(events[4]["data"]["genres"][0]["name"], "High Fantasy");
    assert!(events[1]["data"]["price"].is_null(), "{:#}", events[1]);

    for event in &events {
        for (what, wrong) in mangled(event) {
            assert!(
                !errors(&validators, &wrong).is_empty(),
                "{what}: the schema of {} accepted\n{wrong:#}",
                event["type"]
            );
        }
    }
}

/// A ping is the one event that reaches webhooks without being in the event log: the body the
/// service sends is held to its schema too, and a wrong one fails.
#[test]
fn a_webhook_ping_matches_its_schema() {
    let validators = validators();
    let ping = bookstore_core::webhook::ping_event(
        bookstore_core::ids::WebhookId::generate(),
        uuid::Uuid::now_v7(),
        chrono::Utc::now(),
    );
    let found = errors(&validators, &ping);
    assert!(found.is_empty(), "{found:#?}\n{ping:#}");

    let mut extra = ping.clone();
    extra["data"]["secret"] = json!("whsec_x");
    let mut no_subject = ping.clone();
    no_subject.as_object_mut().unwrap().remove("subject");
    let mut bad_id = ping.clone();
    bad_id["data"]["webhook_id"] = json!("not-a-uuid");
    for (what, wrong) in [
        ("extra data", extra),
        ("no subject", no_subject),
        ("bad id", bad_id),
    ] {
        assert!(
            !errors(&validators, &wrong).is_empty(),
            "{what} was accepted\n{wrong:#}"
        );
    }
}
