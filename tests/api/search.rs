//! Search over HTTP: the parameters of `GET /books`, facets, scores in both versions, field
//! errors, and adversarial queries that must never be a 500.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::{json, Value};

const V2: &str = "application/vnd.bookstore.v2+json";

async fn seed(app: &TestApp) {
    app.create_book(hobbit()).await;
    app.create_book(json!({
        "isbn": "978-0-00-711835-9",
        "title": "The Lord of the Rings",
        "authors": ["J. R. R. Tolkien"],
        "genres": ["Fantasy", "Classics"],
        "description": "The War of the Ring.",
        "language": "en",
        "format": "hardcover",
        "published_year": 1955,
        "price": {"amount_minor": 3500, "currency": "EUR"},
        "quantity": 0
    }))
    .await;
    app.create_book(json!({
        "isbn": "978-2-07-036822-8",
        "title": "Crime et Châtiment",
        "authors": ["Fiodor Dostoïevski"],
        "genres": ["Classiques"],
        "language": "fr",
        "format": "paperback",
        "published_year": 1866,
        "price": {"amount_minor": 990, "currency": "EUR"},
        "quantity": 2
    }))
    .await;
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("json")
}

both_stores!(search_parameters_scores_and_facets, |backend| async move {
    let app = spawn(backend).await;
    seed(&app).await;

    // Relevance by default with q; score on each item (v1).
    let page = get_ok(&app, "/books?q=tolkien%20hobbi").await;
    assert_eq!(titles(&page), ["The Hobbit"]);
    assert!(page["items"][0]["score"].as_f64().expect("score") > 0.0);
    assert!(page.get("facets").is_none());

    // v2 too, with its own book shape.
    let response = app
        .request(Method::GET, "/books?q=dostoievski")
        .header(header::ACCEPT, V2)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let page = body(response).await;
    assert_eq!(titles(&page), ["Crime et Châtiment"]);
    assert!(page["items"][0]["score"].is_number());
    assert_eq!(page["items"][0]["price"]["amount"], "9.90");

    // No q: no score.
    let page = get_ok(&app, "/books").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 3);
    assert!(page["items"][0].get("score").is_none());

    // ISBN in any form, typos, filters.
    assert_eq!(
        titles(&get_ok(&app, "/books?q=0-261-10334-2").await),
        ["The Hobbit"]
    );
    assert_eq!(
        titles(&get_ok(&app, "/books?q=tolkein&sort=title").await),
        Vec::<String>::new(),
        "the typo fallback belongs to relevance order"
    );
    let found = titles(&get_ok(&app, "/books?q=tolkein").await);
    assert_eq!(found.len(), 2);
    assert_eq!(
        titles(&get_ok(&app, "/books?q=tolkien&in_stock=true").await),
        ["The Hobbit"]
    );
    assert_eq!(
        titles(
            &get_ok(
                &app,
                "/books?genre=fantasy&language=en&year_from=1950&year_to=1960&price_min=3000&price_max=4000&format=hardcover&publisher=&author=J.%20R.%20R.%20Tolkien"
            )
            .await
        ),
        ["The Lord of the Rings"]
    );
    assert_eq!(
        titles(&get_ok(&app, "/books?publisher=harpercollins").await),
        ["The Hobbit"]
    );

    // Facets over the whole result, not the page.
    let page = get_ok(
        &app,
        "/books?q=tolkien&limit=1&facets=genre,language,format",
    )
    .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    assert_eq!(
        page["facets"]["genre"],
        json!([{"value": "Fantasy", "count": 2}, {"value": "Classics", "count": 1}])
    );
    assert_eq!(
        page["facets"]["language"],
        json!([{"value": "en", "count": 2}])
    );
    assert_eq!(
        page["facets"]["format"],
        json!([{"value": "hardcover", "count": 1}, {"value": "paperback", "count": 1}])
    );
    let page = get_ok(&app, "/books?facets=language").await;
    assert_eq!(
        page["facets"],
        json!({"language": [{"value": "en", "count": 2}, {"value": "fr", "count": 1}]})
    );

    // Pages of a search: the Link keeps the query; the cursor leads on.
    let response = app.get("/books?q=tolkien&limit=1").await;
    let link = header(&response, header::LINK);
    assert!(link.contains("q=tolkien"), "{link}");
    let first = body(response).await;
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let second = get_ok(&app, &format!("/books?q=tolkien&limit=1&cursor={cursor}")).await;
    assert_eq!(second["items"].as_array().expect("items").len(), 1);
    assert_ne!(titles(&first), titles(&second));
    assert_eq!(second["next_cursor"], Value::Null);
    // That cursor belongs to that search.
    let response = app
        .get(&format!("/books?q=hobbit&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(response.status(), 422);
});

both_stores!(
    bad_search_parameters_are_field_errors,
    |backend| async move {
        let app = spawn(backend).await;
        let long = "a".repeat(1001);
        let cases: Vec<(String, &str)> = vec![
            ("/books?qq=hobbit".into(), "qq"),
            ("/books?year_from=1990&year_to=1980".into(), "year_from"),
            ("/books?year_from=soon".into(), "year_from"),
            ("/books?price_min=500&price_max=100".into(), "price_min"),
            ("/books?price_min=-1".into(), "price_min"),
            ("/books?facets=genre,colour".into(), "facets"),
            ("/books?language=english".into(), "language"),
            ("/books?format=scroll".into(), "format"),
            ("/books?in_stock=maybe".into(), "in_stock"),
            ("/books?sort=relevance".into(), "sort"),
            ("/books?sort=score".into(), "sort"),
            (format!("/books?q={long}"), "q"),
        ];
        for (path, field) in cases {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 422, "{path}");
            let problem = body(response).await;
            let fields: Vec<&str> = problem["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| e["field"].as_str().unwrap_or(""))
                .collect();
            assert!(
                fields.iter().any(|f| f.contains(field))
                    || problem["detail"].as_str().unwrap_or("").contains(field),
                "{path}: {problem}"
            );
        }
        // Several at once: every one is reported.
        let problem = body(app.get("/books?year_from=0&price_max=-5&facets=x").await).await;
        assert_eq!(problem["errors"].as_array().expect("errors").len(), 3);
    }
);

both_stores!(adversarial_queries_are_never_a_500, |backend| async move {
    let app = spawn(backend).await;
    seed(&app).await;
    let ten_kb = "lorem ipsum ".repeat(900);
    let queries: Vec<String> = vec![
        String::new(),
        "the of and".into(),
        ten_kb,
        "\"unbalanced".into(),
        "\"\"\"".into(),
        "hobbit\" tolkien \"".into(),
        "NEAR(hobbit tolkien) AND NOT \"x\"* {title}: ^y".into(),
        "hobbit:* & !ring | (a <-> b) <2> c".into(),
        "'; DROP TABLE books; --".into(),
        "%' OR 1=1 --".into(),
        "\\x00 \\\\ \\'".into(),
        "\u{0}\u{1}\u{7}\u{1b}[2J".into(),
        "📚🔥🧙‍♂️".into(),
        "كتاب الخيال שלום עולם".into(),
        "\u{202e}tibboh\u{202c}".into(),
        "-".into(),
        "or or or".into(),
        "*".into(),
        "ＨＯＢＢＩＴ".into(),
    ];
    let extras: [&[(&str, &str)]; 3] = [
        &[],
        &[("facets", "genre,language,format")],
        &[("sort", "title"), ("in_stock", "true")],
    ];
    for q in &queries {
        for extra in extras {
            let mut params = vec![("q", q.as_str())];
            params.extend_from_slice(extra);
            let response = app
                .request(Method::GET, "/books")
                .query(&params)
                .send()
                .await
                .expect("GET");
            let url = format!("q={q:?} {extra:?}");
            let status = response.status().as_u16();
            assert!(status == 200 || status == 422, "{url}: {status}");
            if q.contains('\0') {
                // NUL is refused at the boundary, on every text input (PostgreSQL cannot
                // hold it).
                assert_eq!(status, 422, "{url}");
            } else if q.chars().count() <= 1000 {
                assert_eq!(status, 200, "{url}");
            }
        }
    }
    // Raw bytes that are not UTF-8 in the query string.
    let response = app.get("/books?q=%FF%FE%80").await;
    assert!(response.status().as_u16() < 500);
    assert!(
        !app.logs().contains("\"level\":\"ERROR\""),
        "{}",
        app.logs()
    );
});

both_stores!(openapi_describes_search, |backend| async move {
    let app = spawn(backend).await;
    let doc = body(app.get("/openapi.json").await).await;
    let params: Vec<String> = doc["paths"]["/books"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_owned())
        .collect();
    for name in [
        "limit",
        "cursor",
        "sort",
        "q",
        "author",
        "genre",
        "language",
        "format",
        "publisher",
        "year_from",
        "year_to",
        "price_min",
        "price_max",
        "in_stock",
        "facets",
    ] {
        assert!(
            params.contains(&name.to_owned()),
            "{name} missing: {params:?}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for schema in ["ListedBookV1", "ListedBookV2", "FacetsDto", "FacetValueDto"] {
        assert!(schemas.get(schema).is_some(), "{schema} missing");
    }
    let text = serde_json::to_string(&doc).expect("json");
    assert!(text.contains("\"score\""));
});
