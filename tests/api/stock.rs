//! Stock movements over HTTP: receipts, sales, counts, oversell refused, reorder list.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

both_stores!(stock_moves_and_reorders, |backend| async move {
    let app = spawn(backend).await;
    let book = app.create_book(hobbit()).await; // 4 on hand, reorder point 2
    let id = book["id"].as_str().expect("id").to_owned();
    let path = format!("/books/{id}/stock-movements");
    let mv = |body: serde_json::Value| app.request(Method::POST, &path).json(&body).send();

    let response = mv(json!({"kind": "sale", "quantity": 3}))
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, header::ETAG), "\"2\"");
    let sale = body(response).await;
    assert_eq!(
        (sale["delta"].as_i64(), sale["quantity_after"].as_i64()),
        (Some(-3), Some(1))
    );
    assert_eq!(sale["actor"], "admin");

    // Now below the reorder point.
    let low = body(app.get("/books/low-stock").await).await;
    assert_eq!(low["items"][0]["id"], book["id"]);

    let response = mv(json!({"kind": "sale", "quantity": 2}))
        .await
        .expect("post");
    assert_eq!(response.status(), 409);
    assert_eq!(body(response).await["available"], 1);
    let response = mv(json!({"kind": "adjustment", "quantity": -1}))
        .await
        .expect("post");
    assert_eq!(response.status(), 422);
    let response = mv(json!({"kind": "theft", "quantity": 1}))
        .await
        .expect("post");
    assert_eq!(response.status(), 422);
    let response = mv(json!({"kind": "receive", "quantity": 10, "price": 3}))
        .await
        .expect("post");
    assert_eq!(response.status(), 422, "unknown fields are refused");
    let response = app
        .request(Method::POST, &path)
        .header(header::IF_MATCH, "\"1\"")
        .json(&json!({"kind": "receive", "quantity": 10}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 412);
    let response = mv(json!({"kind": "receive", "quantity": 10}))
        .await
        .expect("post");
    assert_eq!(response.status(), 201);

    let current = body(app.get(&format!("/books/{id}")).await).await;
    assert_eq!(current["quantity"], 11);
    assert_eq!(current["version"], 3);
    let low = body(app.get("/books/low-stock").await).await;
    assert_eq!(low["items"].as_array().expect("items").len(), 0);
    let movements = body(app.get(&path).await).await;
    let kinds: Vec<&str> = movements["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["kind"].as_str().expect("kind"))
        .collect();
    // The last is the receipt of the quantity the book was created with.
    assert_eq!(kinds, ["receive", "sale", "receive"]);
    assert_eq!(app.count("stock_movements").await, 3);
    assert_eq!(app.count("outbox").await, 3);
    assert_eq!(
        app.get("/books/0192f8a0-0000-7000-8000-000000000000/stock-movements")
            .await
            .status(),
        404
    );
});
