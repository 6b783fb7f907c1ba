//! Defects the API fuzzer (scripts/schemathesis/run) found, each pinned here, and the served
//! OpenAPI document checked against what the server answers.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::{json, Value};

both_stores!(
    integers_may_be_written_with_a_zero_fraction,
    |backend| async move {
        let app = spawn(backend).await;
        // JSON does not tell 3 from 3.0, and the document's `integer` (JSON Schema) takes both.
        let mut book = hobbit();
        book["quantity"] = json!(3.0);
        book["published_year"] = json!(1937.0);
        let response = app.post_json("/books", &book).await;
        assert_eq!(response.status(), 201);
        let created = body(response).await;
        assert_eq!(created["quantity"], 3);
        assert_eq!(created["published_year"], 1937);
        let id = created["id"].as_str().expect("id").to_owned();
        let response = app
            .post_json(
                &format!("/books/{id}/stock-movements"),
                &json!({"kind": "sale", "quantity": 2.0}),
            )
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(body(response).await["quantity_after"], 1);
        // A fraction is still no integer: refused, naming the field, nothing recorded.
        let response = app
            .post_json(
                &format!("/books/{id}/stock-movements"),
                &json!({"kind": "sale", "quantity": 0.5}),
            )
            .await;
        assert_eq!(response.status(), 422);
        assert_eq!(body(response).await["errors"][0]["field"], "quantity");
        let book = body(app.get(&format!("/books/{id}")).await).await;
        assert_eq!(book["quantity"], 1);
    }
);

both_stores!(
    an_author_search_is_bounded_like_a_name,
    |backend| async move {
        let app = spawn(backend).await;
        app.post_json("/authors", &json!({"name": "Ursula K. Le Guin"}))
            .await;
        let long = "a".repeat(201);
        let response = app.get(&format!("/authors?q={long}")).await;
        assert_eq!(response.status(), 422);
        assert_eq!(body(response).await["errors"][0]["field"], "q");
        // Up to a name's length it searches as before.
        let response = app.get(&format!("/authors?q={}", "guin")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            body(response).await["items"][0]["name"],
            "Ursula K. Le Guin"
        );
        let response = app.get(&format!("/authors?q={}", "a".repeat(200))).await;
        assert_eq!(response.status(), 200);
        assert_eq!(body(response).await["items"], json!([]));
    }
);

/// The media type a response of `path` carries is one the document lists for it.
fn documented_types(doc: &Value, path: &str, method: &str, status: &str) -> Vec<String> {
    doc["paths"][path][method]["responses"][status]["content"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

both_stores!(
    the_served_document_describes_the_answers,
    |backend| async move {
        let app = spawn(backend).await;
        let doc = body(
            app.anonymous(Method::GET, "/openapi.json")
                .send()
                .await
                .expect("doc"),
        )
        .await;
        // Success types of the versioned API, in each version.
        for (accept, path, documented) in [
            ("application/json", "/authors", "/authors"),
            ("application/vnd.bookstore.v2+json", "/genres", "/genres"),
            (
                "application/vnd.bookstore.v2+json",
                "/books/low-stock",
                "/books/low-stock",
            ),
        ] {
            let response = app
                .request(Method::GET, path)
                .header(header::ACCEPT, accept)
                .send()
                .await
                .expect("GET");
            assert_eq!(response.status(), 200);
            let served = header(&response, header::CONTENT_TYPE);
            assert!(
                documented_types(&doc, documented, "get", "200").contains(&served),
                "{path}: {served} is not in the document"
            );
        }
        // 401 with a challenge, 400 for a path id, 415 and 422 as documented.
        let response = app
            .anonymous(Method::GET, "/authors")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 401);
        assert!(header(&response, header::WWW_AUTHENTICATE).starts_with("Bearer"));
        assert!(doc["paths"]["/authors"]["get"]["responses"]["401"].is_object());
        let response = app.get("/genres/not-a-uuid").await;
        assert_eq!(response.status(), 400);
        assert!(doc["paths"]["/genres/{id}"]["get"]["responses"]["400"].is_object());
        let response = app
            .request(Method::POST, "/authors")
            .body(r#"{"name": "No Type"}"#)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 415);
        assert!(doc["paths"]["/authors"]["post"]["responses"]["415"].is_object());
        let response = app.get("/books/low-stock?colour=red").await;
        assert_eq!(response.status(), 422);
        assert!(doc["paths"]["/books/low-stock"]["get"]["responses"]["422"].is_object());
    }
);

both_stores!(
    a_deleted_books_stock_movements_stay_readable,
    |backend| async move {
        let app = spawn(backend).await;
        let created = body(app.post_json("/books", &hobbit()).await).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let response = app
            .request(Method::DELETE, &format!("/books/{id}"))
            .header(header::IF_MATCH, "*")
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), 204);
        assert_eq!(app.get(&format!("/books/{id}")).await.status(), 404);
        // The ledger is a record of what happened, like the history: it outlives the book,
        // as the document says (the fuzzer's check expects a 404; hooks.py names why not).
        let response = app.get(&format!("/books/{id}/stock-movements")).await;
        assert_eq!(response.status(), 200);
        let movements = body(response).await;
        assert_eq!(movements["items"][0]["kind"], "receive");
        assert_eq!(movements["items"][0]["book_id"], id.as_str());
        let never = "01890a5d-ac96-774b-bcce-b302099a8057";
        let response = app.get(&format!("/books/{never}/stock-movements")).await;
        assert_eq!(response.status(), 404);
        let doc = body(app.get("/openapi.json").await).await;
        let described = doc["paths"]["/books/{id}/stock-movements"]["get"]["responses"]["200"]
            ["description"]
            .as_str()
            .expect("description");
        assert!(described.contains("deleted book"), "{described}");
    }
);

/// The schema of `name`, a query parameter of `GET path`, in the served document.
fn query_schema(doc: &Value, path: &str, name: &str) -> Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["schema"].clone())
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

both_stores!(
    the_document_says_which_search_parameters_the_server_takes,
    |backend| async move {
        let app = spawn(backend).await;
        app.post_json("/books", &hobbit()).await;
        let doc = body(app.get("/openapi.json").await).await;
        // An empty sort is the default order, like an empty format (a search form's choice
        // left alone); the document lists it (the fuzzer sent it, the document refused it).
        let response = app.get("/books?sort=&format=").await;
        assert_eq!(response.status(), 200);
        assert_eq!(body(response).await["items"][0]["title"], "The Hobbit");
        let sorts = query_schema(&doc, "/books", "sort")["enum"].clone();
        assert!(
            sorts.as_array().expect("enum").contains(&json!("")),
            "{sorts}"
        );
        // A NUL in a text parameter is refused, and the document's pattern says so (the
        // fuzzer sent one the document allowed and got 422).
        for name in ["q", "author", "genre", "publisher"] {
            let response = app.get(&format!("/books?{name}=a%00b")).await;
            assert_eq!(response.status(), 422, "{name}");
            assert_eq!(body(response).await["errors"][0]["field"], name);
            let pattern = query_schema(&doc, "/books", name)["pattern"].clone();
            assert_eq!(pattern, r"^[^\x00]*$", "{name}");
        }
        let response = app.get("/authors?q=a%00b").await;
        assert_eq!(response.status(), 422);
        assert_eq!(
            query_schema(&doc, "/authors", "q")["pattern"],
            r"^[^\x00]*$"
        );
        // What the pattern lets through is searched, not refused.
        let response = app.get("/books?author=%E2%80%AEtolkien").await;
        assert_eq!(response.status(), 200);
    }
);
