//! Input at the boundary: money too large, quantities past the maximum, NUL bytes, text that
//! hides what it says, bodies that are not objects, merge patches with unknown fields, HEAD
//! and methods a path lacks, and what anonymous readiness tells.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

async fn refused(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let problem = body(response).await;
    assert_eq!(code, status, "{problem}");
    problem
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

both_stores!(prices_too_large_are_422_on_price, |backend| async move {
    let app = spawn(backend).await;
    for price in [
        json!({"amount": "999999999999999", "currency": "CLF"}),
        json!({"amount": "999999999999999.9999", "currency": "UYW"}),
        json!({"amount": "922337203685477.5808", "currency": "CLF"}),
        json!({"amount_minor": i64::MAX, "currency": "UYW"}),
    ] {
        let mut book = hobbit();
        book["price"] = price.clone();
        let problem = refused(app.post_json("/books", &book).await, 422).await;
        assert_eq!(fields(&problem), ["price"], "{price}: {problem}");
        assert!(
            problem.to_string().contains("at most"),
            "{price}: {problem}"
        );
    }
    assert_eq!(app.count("books").await, 0);

    // The largest price there is still fits, and reads back as it was written.
    let mut book = hobbit();
    book["price"] = json!({"amount": "100000000", "currency": "CLF"});
    let created = app.create_book(book).await;
    let id = created["id"].as_str().expect("id");
    let v2 = app
        .request(Method::GET, &format!("/books/{id}"))
        .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        body(v2).await["price"],
        json!({"amount": "100000000.0000", "currency": "CLF"})
    );
    // A patch that overflows is refused the same way, and changes nothing.
    let response = app
        .request(Method::PATCH, &format!("/books/{id}"))
        .header(header::IF_MATCH, "*")
        .json(&json!({"price": {"amount": "999999999999999.9999", "currency": "UYW"}}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(fields(&refused(response, 422).await), ["price"]);
    let after = body(app.get(&format!("/books/{id}")).await).await;
    assert_eq!(after["version"], created["version"]);
});

both_stores!(
    receiving_past_the_maximum_is_422_on_quantity,
    |backend| async move {
        let app = spawn(backend).await;
        let book = app.create_book(hobbit()).await; // 4 on hand
        let id = book["id"].as_str().expect("id");
        let path = format!("/books/{id}/stock-movements");
        for movement in [
            json!({"kind": "receive", "quantity": 1_000_000_000}),
            json!({"kind": "return", "quantity": 999_999_999}),
            json!({"kind": "adjustment", "quantity": 999_999_997, "reason": "found a warehouse"}),
        ] {
            let response = app
                .request(Method::POST, &path)
                .json(&movement)
                .send()
                .await
                .expect("POST");
            let problem = refused(response, 422).await;
            assert_eq!(fields(&problem), ["quantity"], "{movement}: {problem}");
        }
        let after = body(app.get(&format!("/books/{id}")).await).await;
        assert_eq!(after["quantity"], 4);
        assert_eq!(after["version"], book["version"]);
        // Taking more than there is stays a conflict.
        let response = app
            .request(Method::POST, &path)
            .json(&json!({"kind": "sale", "quantity": 5}))
            .send()
            .await
            .expect("POST");
        refused(response, 409).await;
    }
);

both_stores!(
    nul_bytes_are_refused_where_they_come_in,
    |backend| async move {
        let app = spawn(backend).await;
        let response = app
            .anonymous(Method::POST, "/auth/login")
            .json(&json!({"username": "adm\u{0}in", "password": "whatever it is"}))
            .send()
            .await
            .expect("login");
        assert_eq!(fields(&refused(response, 422).await), ["username"]);

        for (path, field) in [
            ("/books?author=a%00b", "author"),
            ("/books?genre=%00", "genre"),
            ("/books?publisher=x%00", "publisher"),
            ("/books?q=hob%00bit", "q"),
            ("/authors?q=%00", "q"),
            ("/genres?limit=1%00", "limit"),
        ] {
            let problem = refused(app.get(path).await, 422).await;
            assert_eq!(fields(&problem), [field], "{path}: {problem}");
        }

        // Path segments are parsed (ISBN, UUID) before anything is looked up.
        for path in ["/books/isbn/978%0000", "/books/%00", "/authors/a%00b"] {
            let status = app.get(path).await.status().as_u16();
            assert!((400..500).contains(&status), "{path}: {status}");
        }
        let mut book = hobbit();
        book["title"] = json!("The\u{0}Hobbit");
        let problem = refused(app.post_json("/books", &book).await, 422).await;
        assert_eq!(fields(&problem), ["title"]);
        let mut book = hobbit();
        book["authors"] = json!(["Tolkien", "J.\u{0}R."]);
        let problem = refused(app.post_json("/books", &book).await, 422).await;
        assert_eq!(fields(&problem), ["authors[1]"]);
        let problem = refused(
            app.post_json("/authors", &json!({"name": "\u{0}"})).await,
            422,
        )
        .await;
        assert_eq!(fields(&problem), ["name"]);
        let logs = app.logs();
        assert!(!logs.contains("invalid byte sequence"), "{logs}");
        assert_eq!(app.count("books").await, 0);
    }
);

both_stores!(
    text_is_normalised_and_hidden_text_refused,
    |backend| async move {
        let app = spawn(backend).await;
        for (title, why) in [
            ("\u{200B}", "empty"),
            ("\u{200B}\u{FEFF}\u{2060} ", "empty"),
            ("\u{202E}kooB", "bidirectional"),
            ("Dune\u{2066}", "bidirectional"),
            ("\u{FFFF}", "noncharacter"),
        ] {
            let mut book = hobbit();
            book["title"] = json!(title);
            let problem = refused(app.post_json("/books", &book).await, 422).await;
            assert_eq!(fields(&problem), ["title"], "{title:?}");
            assert!(problem.to_string().contains(why), "{title:?}: {problem}");
        }
        let problem = refused(
            app.post_json("/authors", &json!({"name": "\u{200B}"}))
                .await,
            422,
        )
        .await;
        assert_eq!(fields(&problem), ["name"]);

        let mut book = hobbit();
        book["title"] = json!("Cafe\u{301} Society");
        book["subtitle"] = json!("\u{200B}");
        book["authors"] = json!(["Zoe\u{308}"]);
        let created = app.create_book(book).await;
        assert_eq!(created["title"], "Caf\u{E9} Society");
        assert_eq!(created["subtitle"], Value::Null);
        assert_eq!(created["authors"], json!(["Zo\u{EB}"]));
        // The same name typed the other way is the same author.
        let authors = body(app.get("/authors?q=Zo%C3%AB").await).await;
        assert_eq!(
            authors["items"].as_array().map(Vec::len),
            Some(1),
            "{authors}"
        );
    }
);

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let app = spawn(Backend::Sqlite).await;
    let response = app
        .post_json(
            "/users",
            &json!(["mallory", "a long enough password", "admin"]),
        )
        .await;
    assert_eq!(fields(&refused(response, 422).await), ["body"]);
    let users = body(app.get("/users").await).await;
    assert!(!users.to_string().contains("mallory"), "{users}");
    let response = app
        .anonymous(Method::POST, "/auth/login")
        .json(&json!(["admin", ADMIN_PASSWORD]))
        .send()
        .await
        .expect("login");
    assert_eq!(fields(&refused(response, 422).await), ["body"]);
    for body_value in [json!("x"), json!(1), json!(null)] {
        let response = app.post_json("/authors", &body_value).await;
        refused(response, 422).await;
    }
}

both_stores!(
    merge_patches_refuse_unknown_fields_even_null,
    |backend| async move {
        let app = spawn(backend).await;
        let book = app.create_book(hobbit()).await;
        let book_path = format!("/books/{}", book["id"].as_str().expect("id"));
        let author = body(app.post_json("/authors", &json!({"name": "Ann"})).await).await;
        let author_path = format!("/authors/{}", author["id"].as_str().expect("id"));
        let genre = body(app.post_json("/genres", &json!({"name": "Odd"})).await).await;
        let genre_path = format!("/genres/{}", genre["id"].as_str().expect("id"));
        for path in [&book_path, &author_path, &genre_path] {
            for patch in [json!({"foo": null}), json!({"": null}), json!({"foo": 1})] {
                let response = app
                    .request(Method::PATCH, path)
                    .header(header::IF_MATCH, "*")
                    .header(header::CONTENT_TYPE, "application/merge-patch+json")
                    .body(patch.to_string())
                    .send()
                    .await
                    .expect("PATCH");
                let problem = refused(response, 422).await;
                assert!(
                    problem.to_string().contains("unknown field"),
                    "{path} {patch}: {problem}"
                );
            }
        }
        let after = body(app.get(&book_path).await).await;
        assert_eq!(after["version"], book["version"]);
        // Known fields set to null still clear them.
        let response = app
            .request(Method::PATCH, &author_path)
            .json(&json!({"bio": null}))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(response.status(), 200);
    }
);

#[tokio::test]
async fn head_answers_as_get_and_missing_methods_are_405_for_everyone() {
    let app = spawn(Backend::Sqlite).await;
    let staff = {
        app.add_user("clerk", "a long enough password", "staff")
            .await;
        app.sign_in("clerk", "a long enough password").await
    };
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/.well-known/jwks.json",
    ] {
        let get = app.anonymous(Method::GET, path).send().await.expect("GET");
        assert_eq!(get.status(), 200, "{path}");
        let content_type = header(&get, header::CONTENT_TYPE);
        for token in [None, Some(&staff), Some(&app.admin_token)] {
            let mut head = app.anonymous(Method::HEAD, path);
            if let Some(token) = token {
                head = head.bearer_auth(token);
            }
            let head = head.send().await.expect("HEAD");
            assert_eq!(head.status(), 200, "HEAD {path}");
            assert_eq!(header(&head, header::CONTENT_TYPE), content_type, "{path}");
            assert!(head.bytes().await.expect("body").is_empty(), "{path}");
        }
    }
    let head = app
        .request(Method::HEAD, "/books")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    let head = app
        .anonymous(Method::HEAD, "/books")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), 401, "HEAD is GET: the same sign-in applies");

    for (method, path, allow) in [
        (Method::DELETE, "/healthz", "GET, HEAD"),
        (Method::POST, "/openapi.json", "GET, HEAD"),
        (Method::PUT, "/books", "GET, HEAD, POST"),
        (
            Method::POST,
            "/books/0190a4c0-0000-7000-8000-000000000000",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (Method::DELETE, "/users", "GET, HEAD, POST"),
        (Method::GET, "/auth/login", "POST"),
    ] {
        for token in [None, Some(&staff), Some(&app.admin_token)] {
            let mut request = app.anonymous(method.clone(), path);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} as {token:?}"
            );
            assert_eq!(header(&response, header::ALLOW), allow, "{method} {path}");
            assert_eq!(body(response).await["status"], 405);
        }
    }
}

both_stores!(
    anonymous_readiness_names_what_failed,
    |backend| async move {
        let app = spawn(backend).await;
        let ready = app
            .anonymous(Method::GET, "/readyz")
            .send()
            .await
            .expect("GET");
        assert_eq!(ready.status(), 200);
        // Unapply the newest migration behind the server's back: the store is not ready.
        let forget = "DELETE FROM _sqlx_migrations \
                  WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
        match &app.database_url {
            Some(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("connect");
                sqlx::query(forget).execute(&pool).await.expect("delete");
            }
            None => {
                let path = app.data_dir.path().join(bookstore_store::SQLITE_FILE_NAME);
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .expect("connect");
                sqlx::query(forget).execute(&pool).await.expect("delete");
            }
        }
        let response = app
            .anonymous(Method::GET, "/readyz")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 503);
        let ready = body(response).await;
        assert_eq!(ready["status"], "unavailable", "{ready}");
        assert_eq!(ready["failed"], json!(["store"]), "{ready}");
        let text = ready.to_string().to_lowercase();
        for internal in ["migration", "sqlx", "version", "database", "error"] {
            assert!(!text.contains(internal), "{internal} in {ready}");
        }
        assert!(app.logs().contains("readiness check failed"));
    }
);
