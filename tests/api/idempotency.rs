//! `Idempotency-Key` on every creating `POST`: a retry with the same key and body gets the
//! first answer (and creates nothing), the same key with another body or on another route is
//! 422, and a key is forgotten after 24 hours.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, Response};
use serde_json::{json, Value};

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn post(app: &TestApp, path: &str, key: &str, body: &Value) -> Response {
    app.request(Method::POST, path)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST")
}

/// Sends `first` twice and `other` once with one key: the retry replays, `other` is 422; the
/// table `table` gained one row.
async fn check_route(app: &TestApp, path: &str, table: &str, first: Value, other: Value) -> Value {
    let rows = app.count(table).await;
    let key = format!("key-{table}");
    let created = post(app, path, &key, &first).await;
    assert_eq!(
        created.status(),
        201,
        "{path}: {}",
        created.text().await.unwrap_or_default()
    );
    assert!(!replayed(&created));
    let etag = created.headers().get(header::ETAG).cloned();
    let created = body(created).await;

    let retry = post(app, path, &key, &first).await;
    assert_eq!(retry.status(), 201, "{path}");
    assert!(replayed(&retry), "{path}");
    assert_eq!(retry.headers().get(header::ETAG).cloned(), etag);
    assert_eq!(body(retry).await, created, "{path}");

    let reused = post(app, path, &key, &other).await;
    assert_eq!(reused.status(), 422, "{path}");
    assert_eq!(
        body(reused).await["type"],
        "https://bookstore.dev/problems/idempotency-key-reused"
    );
    assert_eq!(app.count(table).await, rows + 1, "{path}");
    created
}

both_stores!(every_creating_post_is_idempotent, |backend| async move {
    let app = spawn(backend).await;
    check_route(
        &app,
        "/authors",
        "authors",
        json!({"name": "Mary Shelley"}),
        json!({"name": "Percy Shelley"}),
    )
    .await;
    check_route(
        &app,
        "/genres",
        "genres",
        json!({"name": "Gothic"}),
        json!({"name": "Horror"}),
    )
    .await;
    check_route(
        &app,
        "/users",
        "users",
        json!({"username": "till-2", "password": "velvet tram orbit quinoa", "role": "staff"}),
        json!({"username": "till-3", "password": "velvet tram orbit quinoa", "role": "staff"}),
    )
    .await;
    let book = check_route(&app, "/books", "books", hobbit(), {
        let mut other = hobbit();
        other["title"] = json!("Another");
        other
    })
    .await;
    // A till that retries a sale after a timeout sells once.
    let id = book["id"].as_str().expect("id");
    let sale = check_route(
        &app,
        &format!("/books/{id}/stock-movements"),
        "stock_movements",
        json!({"kind": "sale", "quantity": 1}),
        json!({"kind": "sale", "quantity": 2}),
    )
    .await;
    assert_eq!(sale["quantity_after"], 3);
    assert_eq!(
        body(app.get(&format!("/books/{id}")).await).await["quantity"],
        3
    );
});

both_stores!(
    a_key_belongs_to_one_route_and_one_caller,
    |backend| async move {
        let app = spawn(backend).await;
        let body = json!({"name": "Same Body"});
        assert_eq!(post(&app, "/authors", "k", &body).await.status(), 201);
        // The same key and body on another route is another request.
        assert_eq!(post(&app, "/genres", "k", &body).await.status(), 422);
        // Another caller's key of the same name is theirs.
        app.add_user("admin2", "velvet tram orbit quinoa", "admin")
            .await;
        let token = app.sign_in("admin2", "velvet tram orbit quinoa").await;
        let theirs = app
            .anonymous(Method::POST, "/genres")
            .bearer_auth(token)
            .header("Idempotency-Key", "k")
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(theirs.status(), 201);
        assert!(!replayed(&theirs));
    }
);

both_stores!(keys_expire_after_a_day, |backend| async move {
    let app = spawn(backend).await;
    let first = post(&app, "/authors", "daily", &json!({"name": "Day One"})).await;
    assert_eq!(first.status(), 201);
    bookstore_store::testing::age_idempotency_keys(app.store().await, 25).await;
    // A write with another key prunes the expired record.
    let other = post(&app, "/authors", "other", &json!({"name": "Day Two"})).await;
    assert_eq!(other.status(), 201);
    assert_eq!(app.count("idempotency_keys").await, 1);
    // Forgotten: the key makes a new create, with another body too.
    let again = post(&app, "/authors", "daily", &json!({"name": "Day Three"})).await;
    assert_eq!(again.status(), 201);
    assert!(!replayed(&again));
    assert_eq!(app.count("authors").await, 3);
    assert_eq!(app.count("idempotency_keys").await, 2);
});

both_stores!(
    an_invalid_key_is_refused_and_creates_nothing,
    |backend| async move {
        let app = spawn(backend).await;
        let rows = app.count("authors").await;
        let too_long = "k".repeat(256);
        for key in ["", "   ", "a\tb", too_long.as_str()] {
            let response = post(&app, "/authors", key, &json!({"name": "Ursula K. Le Guin"})).await;
            assert_eq!(response.status(), 400, "key {key:?}");
        }
        assert_eq!(app.count("authors").await, rows);
    }
);
