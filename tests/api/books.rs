//! The life of a book through the API: create, read, conditional update, patch, delete,
//! history, versions, idempotency and pagination.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::{json, Value};

both_stores!(
    create_read_update_delete_with_history,
    |backend| async move {
        let app = spawn(backend).await;

        // Create.
        let response = app.post_json("/books", &hobbit()).await;
        assert_eq!(response.status(), 201);
        let location = header(&response, header::LOCATION);
        assert_eq!(header(&response, header::ETAG), "\"1\"");
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/vnd.bookstore.v1+json"
        );
        let created = body(response).await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(location, format!("/books/{id}"));
        assert_eq!(created["isbn"], "9780261103344");
        assert_eq!(created["isbn10"], "0261103342");
        assert_eq!(created["authors"], json!(["J. R. R. Tolkien"]));
        assert_eq!(created["genres"], json!(["Fantasy"]));
        assert_eq!(
            created["price"],
            json!({"amount_minor": 1299, "currency": "EUR"})
        );
        assert_eq!(created["version"], 1);

        // Read, then read again conditionally.
        let response = app.get(&location).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, header::VARY), "Accept");
        assert_eq!(body(response).await, created);
        let response = app
            .request(Method::GET, &location)
            .header(header::IF_NONE_MATCH, "\"1\"")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 304);
        assert_eq!(header(&response, header::ETAG), "\"1\"");

        // Replace needs If-Match, and the right one.
        let mut replacement = hobbit();
        replacement["title"] = json!("The Hobbit (Illustrated)");
        let response = app
            .request(Method::PUT, &location)
            .json(&replacement)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 428);
        let response = app
            .request(Method::PUT, &location)
            .header(header::IF_MATCH, "\"7\"")
            .json(&replacement)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 412);
        assert_eq!(body(response).await["current_version"], 1);
        let response = app
            .request(Method::PUT, &location)
            .header(header::IF_MATCH, "\"1\"")
            .json(&replacement)
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, header::ETAG), "\"2\"");
        let replaced = body(response).await;
        assert_eq!(replaced["title"], "The Hobbit (Illustrated)");
        assert_eq!(replaced["version"], 2);

        // Merge patch: change one field, remove another, keep the rest.
        let response = app
            .request(Method::PATCH, &location)
            .header(header::IF_MATCH, "\"2\"")
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .body(r#"{"quantity": 9, "subtitle": null, "price": {"amount_minor": 1499}}"#)
            .send()
            .await
            .expect("PATCH");
        assert_eq!(response.status(), 200);
        let patched = body(response).await;
        assert_eq!(patched["quantity"], 9);
        assert_eq!(patched["subtitle"], Value::Null);
        assert_eq!(
            patched["price"],
            json!({"amount_minor": 1499, "currency": "EUR"})
        );
        assert_eq!(patched["title"], "The Hobbit (Illustrated)");
        assert_eq!(patched["authors"], json!(["J. R. R. Tolkien"]));
        assert_eq!(patched["version"], 3);

        // Delete with a stale tag fails, with the current one succeeds.
        let response = app
            .request(Method::DELETE, &location)
            .header(header::IF_MATCH, "\"2\"")
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), 412);
        let response = app
            .request(Method::DELETE, &location)
            .header(header::IF_MATCH, "\"3\"")
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), 204);
        assert_eq!(app.get(&location).await.status(), 404);

        // History outlives the book, newest first.
        let response = app.get(&format!("{location}/history")).await;
        assert_eq!(response.status(), 200);
        let history = body(response).await;
        let actions: Vec<&str> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|h| h["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions, ["deleted", "updated", "updated", "created"]);
        assert_eq!(history["items"][3]["before"], Value::Null);
        assert_eq!(history["items"][2]["before"]["title"], "The Hobbit");
        assert_eq!(
            history["items"][2]["after"]["title"],
            "The Hobbit (Illustrated)"
        );
        assert!(history["items"][0]["request_id"].is_string());

        // Every change left exactly one event behind.
        assert_eq!(app.count("outbox").await, 4);
        assert_eq!(app.count("book_history").await, 4);
        assert_eq!(app.count("books").await, 0);
    }
);

both_stores!(version_two_representation, |backend| async move {
    let app = spawn(backend).await;
    let mut book = hobbit();
    book["authors"] = json!(["J. R. R. Tolkien", {"name": "Alan Lee", "role": "illustrator"}]);
    let created = app.create_book(book).await;
    let response = app
        .request(
            Method::GET,
            &format!("/books/{}", created["id"].as_str().expect("id")),
        )
        .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/vnd.bookstore.v2+json"
    );
    let v2 = body(response).await;
    assert_eq!(v2["price"], json!({"amount": "12.99", "currency": "EUR"}));
    assert_eq!(v2["authors"][0]["name"], "J. R. R. Tolkien");
    assert_eq!(v2["authors"][0]["role"], "author");
    assert_eq!(v2["authors"][1]["role"], "illustrator");
    assert!(v2["authors"][1]["id"].is_string());
    assert_eq!(v2["genres"][0]["name"], "Fantasy");
    assert_eq!(v2["title"], created["title"]);

    // A v2 client creates with a decimal price.
    let response = app
        .request(Method::POST, "/books")
        .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
        .header(header::CONTENT_TYPE, "application/vnd.bookstore.v2+json")
        .body(
            json!({"isbn": "0-14-044913-2", "title": "Crime and Punishment",
            "price": {"amount": "9.5", "currency": "GBP"}})
            .to_string(),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    assert_eq!(
        body(response).await["price"],
        json!({"amount": "9.50", "currency": "GBP"})
    );

    // Unknown versions are refused with the list of what is served.
    let response = app
        .request(Method::GET, "/books")
        .header(header::ACCEPT, "application/vnd.bookstore.v3+json")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 406);
    let problem = body(response).await;
    assert!(problem["supported"]
        .as_array()
        .expect("supported")
        .contains(&json!("application/vnd.bookstore.v2+json")));
});

both_stores!(lookup_by_any_isbn_form, |backend| async move {
    let app = spawn(backend).await;
    let created = app.create_book(hobbit()).await;
    for form in [
        "9780261103344",
        "978-0-261-10334-4",
        "0261103342",
        "0-261-10334-2",
    ] {
        let response = app.get(&format!("/books/isbn/{form}")).await;
        assert_eq!(response.status(), 200, "{form}");
        assert_eq!(body(response).await["id"], created["id"]);
    }
    assert_eq!(app.get("/books/isbn/9780140449136").await.status(), 404);
    let response = app.get("/books/isbn/978-0-261-10334-5").await;
    assert_eq!(response.status(), 400);
    assert!(body(response).await["detail"]
        .as_str()
        .expect("detail")
        .contains("check digit"));
});

both_stores!(idempotent_create, |backend| async move {
    let app = spawn(backend).await;
    let send = |body: Value| {
        app.request(Method::POST, "/books")
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = send(hobbit()).await.expect("POST");
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    let retry = send(hobbit()).await.expect("POST");
    assert_eq!(retry.status(), 201);
    assert_eq!(
        header(&retry, "idempotent-replayed".parse().expect("name")),
        "true"
    );
    assert_eq!(body(retry).await["id"], first["id"]);
    let mut other = hobbit();
    other["title"] = json!("Something else");
    let conflict = send(other).await.expect("POST");
    assert_eq!(conflict.status(), 422);
    assert_eq!(app.count("books").await, 1);
    assert_eq!(app.count("outbox").await, 1);
});

both_stores!(pages_walk_every_book_once, |backend| async move {
    let app = spawn(backend).await;
    let isbns = [
        "9780261103344",
        "9780140449136",
        "9780553293357",
        "9780441172719",
        "9780156012195",
    ];
    for (i, isbn) in isbns.iter().enumerate() {
        app.create_book(json!({"isbn": isbn, "title": format!("Book {i}"),
            "price": {"amount_minor": 100 * (5 - i as i64), "currency": "EUR"}}))
            .await;
    }
    for sort in ["-updated_at", "title", "price", "-price", "published_year"] {
        let mut seen = Vec::new();
        let mut next = Some(format!("/books?limit=2&sort={sort}"));
        while let Some(path) = next.take() {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200);
            let link = header(&response, header::LINK);
            let page = body(response).await;
            for item in page["items"].as_array().expect("items") {
                seen.push(item["id"].as_str().expect("id").to_owned());
            }
            if let Some(cursor) = page["next_cursor"].as_str() {
                assert!(link.contains("rel=\"next\""), "{link}");
                next = Some(format!("/books?limit=2&sort={sort}&cursor={cursor}"));
            } else {
                assert!(link.is_empty());
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), 5, "{sort}: {seen:?}");
        assert_eq!(unique.len(), 5, "{sort}");
    }
    let page = body(app.get("/books?sort=title&limit=5").await).await;
    let titles: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["Book 0", "Book 1", "Book 2", "Book 3", "Book 4"]);
    let page = body(app.get("/books?sort=price&limit=1").await).await;
    assert_eq!(page["items"][0]["title"], "Book 4");
});
