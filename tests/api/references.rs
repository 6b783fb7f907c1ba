//! Authors and genres, and how books refer to them.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

both_stores!(authors_are_shared_and_protected, |backend| async move {
    let app = spawn(backend).await;
    let response = app
        .post_json("/authors", &json!({"name": "Ursula K. Le Guin"}))
        .await;
    assert_eq!(response.status(), 201);
    let author = body(response).await;
    let author_id = author["id"].as_str().expect("id").to_owned();

    // A book names the author by id; another by name in different case reuses it.
    let mut book = hobbit();
    book["authors"] = json!([author_id]);
    let first = app.create_book(book).await;
    assert_eq!(first["authors"], json!(["Ursula K. Le Guin"]));
    let second = app
        .create_book(
            json!({"isbn": "9780441478125", "title": "The Left Hand of Darkness",
            "authors": ["ursula k. le guin"]}),
        )
        .await;
    assert_eq!(second["authors"], json!(["Ursula K. Le Guin"]));
    let listed = body(app.get("/authors?q=GUIN").await).await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    assert_eq!(listed["items"][0]["book_count"], 2);

    // Unknown author ids are field errors.
    let mut bad = hobbit();
    bad["isbn"] = json!("9780140449136");
    bad["authors"] = json!(["0192f8a0-0000-7000-8000-000000000000"]);
    let response = app.post_json("/books", &bad).await;
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["errors"][0]["field"], "authors[0]");

    // In use: cannot delete. Renaming shows on the books.
    let path = format!("/authors/{author_id}");
    let response = app
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 409);
    let response = app
        .request(Method::PATCH, &path)
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"name": "Ursula Le Guin"}"#)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 200);
    let book = body(
        app.get(&format!("/books/{}", first["id"].as_str().expect("id")))
            .await,
    )
    .await;
    assert_eq!(book["authors"], json!(["Ursula Le Guin"]));

    let response = app
        .post_json("/authors", &json!({"name": "URSULA LE GUIN"}))
        .await;
    assert_eq!(response.status(), 409);
    let response = app.post_json("/authors", &json!({"name": ""})).await;
    assert_eq!(response.status(), 422);
});

both_stores!(genres_nest_without_cycles, |backend| async move {
    let app = spawn(backend).await;
    let fiction = body(app.post_json("/genres", &json!({"name": "Fiction"})).await).await;
    let fiction_id = fiction["id"].as_str().expect("id").to_owned();
    let response = app
        .post_json(
            "/genres",
            &json!({"name": "Fantasy", "parent_id": fiction_id}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let fantasy = body(response).await;
    assert_eq!(fantasy["parent_id"], fiction["id"]);

    // Fiction under Fantasy would be a cycle.
    let response = app
        .request(Method::PATCH, &format!("/genres/{fiction_id}"))
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(json!({"parent_id": fantasy["id"]}).to_string())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 422);
    // A genre with sub-genres cannot go.
    let response = app
        .request(Method::DELETE, &format!("/genres/{fiction_id}"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 409);
    let listed = body(app.get("/genres").await).await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 2);
});
