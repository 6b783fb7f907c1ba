//! When a book gets a new version: a write that changes nothing makes none, and a rename of
//! one of its authors or genres makes one (the book reads differently).

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

both_stores!(
    a_patch_that_changes_nothing_keeps_the_version,
    |backend| async move {
        let app = spawn(backend).await;
        let book = app.create_book(hobbit()).await;
        let location = format!("/books/{}", book["id"].as_str().expect("id"));
        let history = app.count("book_history").await;
        let outbox = app.count("outbox").await;
        for patch in [
            json!({}),
            json!({"title": book["title"], "quantity": book["quantity"]}),
        ] {
            let response = app
                .request(Method::PATCH, &location)
                .header(header::IF_MATCH, "\"1\"")
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .json(&patch)
                .send()
                .await
                .expect("PATCH");
            assert_eq!(response.status(), 200);
            assert_eq!(header(&response, header::ETAG), "\"1\"");
            assert_eq!(body(response).await, book);
        }
        // A PUT of the book as it is, without its quantity, changes nothing either.
        let mut same = hobbit();
        same.as_object_mut().expect("object").remove("quantity");
        let response = app
            .request(Method::PUT, &location)
            .header(header::IF_MATCH, "\"1\"")
            .json(&same)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, header::ETAG), "\"1\"");
        assert_eq!(app.count("book_history").await, history);
        assert_eq!(app.count("outbox").await, outbox);
    }
);

both_stores!(a_quantity_edit_is_in_the_ledger, |backend| async move {
    let app = spawn(backend).await;
    let book = app.create_book(hobbit()).await; // 4 on hand
    let id = book["id"].as_str().expect("id");
    let response = app
        .request(Method::PATCH, &format!("/books/{id}"))
        .header(header::IF_MATCH, "\"1\"")
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .json(&json!({"quantity": 9}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 200);
    let moves = body(app.get(&format!("/books/{id}/stock-movements")).await).await;
    let items = moves["items"].as_array().expect("items");
    let kinds: Vec<(&str, i64)> = items
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().expect("kind"),
                m["delta"].as_i64().expect("delta"),
            )
        })
        .collect();
    assert_eq!(kinds, [("adjustment", 5), ("receive", 4)]);
    assert_eq!(items[0]["reason"], "edited");
});

both_stores!(renaming_an_author_changes_the_etag, |backend| async move {
    let app = spawn(backend).await;
    let book = app.create_book(hobbit()).await;
    let location = format!("/books/{}", book["id"].as_str().expect("id"));
    let v2 = body(
        app.request(Method::GET, &location)
            .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
            .send()
            .await
            .expect("GET"),
    )
    .await;
    let author = v2["authors"][0]["id"]
        .as_str()
        .expect("author id")
        .to_owned();
    let response = app
        .request(Method::PATCH, &format!("/authors/{author}"))
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .json(&json!({"name": "John Ronald Reuel Tolkien"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 200);
    // The cached version is stale now: no 304 with the old name.
    let response = app
        .request(Method::GET, &location)
        .header(header::IF_NONE_MATCH, "\"1\"")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::ETAG), "\"2\"");
    assert_eq!(
        body(response).await["authors"],
        json!(["John Ronald Reuel Tolkien"])
    );
    let history = body(app.get(&format!("{location}/history")).await).await;
    assert_eq!(history["items"][0]["actor"], "admin");
    assert_eq!(history["items"][0]["version"], 2);
});
