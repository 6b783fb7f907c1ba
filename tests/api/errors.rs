//! Bad input never gets a 500 and never changes data.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

/// Sends a raw body to POST /books and returns status and problem body.
async fn post_raw(app: &TestApp, content_type: &str, payload: Vec<u8>) -> (u16, serde_json::Value) {
    let response = app
        .request(Method::POST, "/books")
        .header(header::CONTENT_TYPE, content_type)
        .body(payload)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/problem+json",
        "status {status}"
    );
    (status, body(response).await)
}

/// Name, content type, body, expected status, and the field an error must name.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    Option<&'static str>,
);

fn field_names(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

both_stores!(
    bad_bodies_are_refused_and_change_nothing,
    |backend| async move {
        let app = spawn(backend).await;
        let json_type = "application/json";
        let with = |patch: serde_json::Value| {
            let mut book = hobbit();
            json_patch::merge(&mut book, &patch);
            serde_json::to_vec(&book).expect("json")
        };
        let cases: Vec<Case> = vec![
            (
                "malformed JSON",
                json_type,
                b"{\"isbn\": ".to_vec(),
                400,
                None,
            ),
            ("trailing garbage", json_type, b"{} {}".to_vec(), 400, None),
            (
                "invalid UTF-8",
                json_type,
                b"{\"isbn\": \"\xff\xfe\", \"title\": \"x\"}".to_vec(),
                400,
                None,
            ),
            (
                "wrong type",
                json_type,
                with(json!({"page_count": "many"})),
                422,
                Some("page_count"),
            ),
            (
                "unknown field",
                json_type,
                with(json!({"colour": "red"})),
                422,
                Some("colour"),
            ),
            (
                "server-owned field",
                json_type,
                with(json!({"version": 7})),
                422,
                Some("version"),
            ),
            (
                "negative price",
                json_type,
                with(json!({"price": {"amount_minor": -1}})),
                422,
                Some("price"),
            ),
            (
                "unknown currency",
                json_type,
                with(json!({"price": {"currency": "ABC"}})),
                422,
                Some("price"),
            ),
            (
                "negative stock",
                json_type,
                with(json!({"quantity": -3})),
                422,
                Some("quantity"),
            ),
            (
                "huge title",
                json_type,
                with(json!({"title": "x".repeat(100_000)})),
                422,
                Some("title"),
            ),
            (
                "bad ISBN",
                json_type,
                with(json!({"isbn": "978-0-261-10334-5"})),
                422,
                Some("isbn"),
            ),
            (
                "missing title",
                json_type,
                with(json!({"title": null})),
                422,
                Some("title"),
            ),
            ("not JSON", "text/plain", with(json!({})), 415, None),
            ("array body", json_type, b"[]".to_vec(), 422, None),
        ];
        for (name, content_type, payload, status, field) in cases {
            let (actual, problem) = post_raw(&app, content_type, payload).await;
            assert_eq!(actual, status, "{name}: {problem}");
            assert_eq!(problem["status"], status, "{name}");
            assert!(problem["request_id"].is_string(), "{name}: {problem}");
            assert!(
                problem["type"].is_string() && problem["title"].is_string(),
                "{name}"
            );
            if let Some(field) = field {
                let fields = field_names(&problem);
                assert!(
                    fields
                        .iter()
                        .any(|f| f == field || f.starts_with(&format!("{field}."))),
                    "{name}: expected {field} in {fields:?}"
                );
            }
        }
        assert_eq!(app.count("books").await, 0);
        assert_eq!(app.count("book_history").await, 0);
        assert_eq!(app.count("outbox").await, 0);
    }
);

both_stores!(
    bodies_over_the_configured_limit_get_413,
    |backend| async move {
        // A small limit keeps the whole body inside the socket buffers, so the client always
        // reads the early answer instead of racing the server's close.
        let app = spawn_with(backend, &[("BOOKSTORE_BODY_LIMIT", "2048")]).await;
        let (status, problem) = post_raw(&app, "application/json", vec![b' '; 4096]).await;
        assert_eq!(status, 413, "{problem}");
        assert_eq!(problem["status"], 413);
        let mut book = hobbit();
        book["description"] = json!("d".repeat(1500));
        let response = app.post_json("/books", &book).await;
        assert_eq!(response.status(), 201, "a body under the limit must pass");
        assert_eq!(app.count("books").await, 1);
    }
);

both_stores!(duplicate_isbn_is_a_conflict, |backend| async move {
    let app = spawn(backend).await;
    let first = app.create_book(hobbit()).await;
    // The same book typed as an ISBN-10.
    let mut again = hobbit();
    again["isbn"] = json!("0261103342");
    let response = app.post_json("/books", &again).await;
    assert_eq!(response.status(), 409);
    let problem = body(response).await;
    assert_eq!(problem["existing_id"], first["id"]);
    assert_eq!(app.count("books").await, 1);
    assert_eq!(app.count("outbox").await, 1);
});

both_stores!(bad_paths_and_parameters, |backend| async move {
    let app = spawn(backend).await;
    for (path, status) in [
        ("/books/not-a-uuid", 400),
        ("/books/0192f8a0-0000-7000-8000-000000000000", 404),
        ("/books?limit=1000000000", 422),
        ("/books?limit=-1", 422),
        ("/books?limit=0", 422),
        ("/books?limit=abc", 422),
        ("/books?sort=colour", 422),
        ("/books?cursor=garbage", 422),
        ("/no/such/route", 404),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/problem+json",
            "{path}"
        );
    }
    let response = app
        .request(Method::PATCH, "/books")
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 405);
    assert!(header(&response, header::ALLOW).contains("GET"));
    assert_eq!(body(response).await["status"], 405);
});

both_stores!(writes_to_missing_books, |backend| async move {
    let app = spawn(backend).await;
    let path = "/books/0192f8a0-0000-7000-8000-000000000000";
    for method in [Method::PUT, Method::PATCH] {
        let response = app
            .request(method.clone(), path)
            .header(header::IF_MATCH, "*")
            .json(&hobbit())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 404, "{method}");
    }
    let response = app
        .request(Method::DELETE, path)
        .header(header::IF_MATCH, "*")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 404);
    assert_eq!(app.get(&format!("{path}/history")).await.status(), 404);
    assert_eq!(app.count("book_history").await, 0);
});

/// A malformed `Consistency-Token` on a read is a 400 that names the header; an empty one is
/// no token (the document's pattern allows it), and a well-formed one is served.
#[tokio::test]
async fn a_consistency_token_is_checked_and_an_empty_one_is_none() {
    let app = spawn(Backend::Sqlite).await;
    let read = |token: &'static str| {
        app.request(Method::GET, "/books")
            .header("Consistency-Token", token)
            .send()
    };
    let refused = read("16-B374D848").await.expect("GET");
    assert_eq!(refused.status(), 400);
    let problem = body(refused).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("Consistency-Token")),
        "{problem}"
    );
    for token in ["", "16/B374D848", "0/0"] {
        assert_eq!(read(token).await.expect("GET").status(), 200, "{token:?}");
    }
}

/// `refresh_cookie` is `true` or left out: an explicit null is a 422 on that field, with or
/// without a `refresh_token` (Schemathesis found null taken as absent on sign-out).
#[tokio::test]
async fn a_null_refresh_cookie_is_refused() {
    let app = spawn(Backend::Sqlite).await;
    for path in ["/auth/refresh", "/auth/logout"] {
        for input in [
            json!({"refresh_token": "some-token", "refresh_cookie": null}),
            json!({"refresh_cookie": null}),
        ] {
            let response = app.post_json(path, &input).await;
            assert_eq!(response.status(), 422, "{path} {input}");
            let problem = body(response).await;
            assert_eq!(problem["errors"][0]["field"], "refresh_cookie", "{problem}");
        }
    }
}
