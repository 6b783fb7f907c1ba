//! Reorder quantities, reorder suggestions and the catalog export over HTTP, and the CLI
//! commands that print the same bytes (`bookstore report reorder`, `bookstore export`).

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

const CSV: &str = "text/csv; charset=utf-8";
const NDJSON: &str = "application/x-ndjson";
const EXPORT_COLUMNS: [&str; 17] = [
    "isbn",
    "title",
    "subtitle",
    "authors",
    "genres",
    "publisher",
    "published_year",
    "language",
    "format",
    "page_count",
    "price",
    "currency",
    "quantity",
    "reorder_point",
    "reorder_quantity",
    "location",
    "description",
];

/// Runs `bookstore <args>` on the test server's store; its standard output, if it succeeded.
fn cli(app: &TestApp, args: &[&str]) -> Vec<u8> {
    let output = cli_run(app, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `bookstore <args>` on the test server's store.
fn cli_run(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn")
        .stdin(Stdio::null());
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("run the CLI")
}

async fn get_as(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.request(Method::GET, path)
        .header(header::ACCEPT, accept)
        .send()
        .await
        .expect("GET")
}

fn records(bytes: &[u8]) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader
        .headers()
        .expect("header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader.records().map(|r| r.expect("CSV row")).collect();
    (headers, rows)
}

both_stores!(reorder_quantity_is_a_book_field, |backend| async move {
    let app = spawn(backend).await;
    let book = app
        .create_book(json!({"isbn": isbn(1), "title": "Dune", "reorder_quantity": 6}))
        .await;
    assert_eq!(book["reorder_quantity"], 6);
    let id = book["id"].as_str().expect("id").to_owned();
    let v2 = body(
        get_as(
            &app,
            &format!("/books/{id}"),
            "application/vnd.bookstore.v2+json",
        )
        .await,
    )
    .await;
    assert_eq!(v2["reorder_quantity"], 6);

    let patch = |value: Value, version: i64| {
        app.request(Method::PATCH, &format!("/books/{id}"))
            .header(header::IF_MATCH, format!("\"{version}\""))
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .body(value.to_string())
            .send()
    };
    let response = patch(json!({"reorder_quantity": -1}), 1)
        .await
        .expect("PATCH");
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await["errors"][0]["field"],
        "reorder_quantity"
    );
    let response = patch(json!({"title": "Dune Messiah"}), 1)
        .await
        .expect("PATCH");
    assert_eq!(
        body(response).await["reorder_quantity"],
        6,
        "a patch keeps it"
    );
    let response = patch(json!({"reorder_quantity": 12}), 2)
        .await
        .expect("PATCH");
    assert_eq!(body(response).await["reorder_quantity"], 12);

    // A full replace without it sets it to 0, as it does the reorder point.
    let response = app
        .request(Method::PUT, &format!("/books/{id}"))
        .header(header::IF_MATCH, "\"3\"")
        .json(&json!({"isbn": isbn(1), "title": "Dune"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(body(response).await["reorder_quantity"], 0);
    let history = body(app.get(&format!("/books/{id}/history")).await).await;
    assert_eq!(history["items"][0]["before"]["reorder_quantity"], 12);
    assert_eq!(history["items"][0]["after"]["reorder_quantity"], 0);
});

both_stores!(reorder_suggestions_by_publisher, |backend| async move {
    let app = spawn(backend).await;
    // (n, title, publisher, quantity, reorder point, reorder quantity)
    for (n, title, publisher, quantity, point, reorder) in [
        (1, "Zebra, \"striped\"", Some("Ace"), 0, 2, 10),
        (2, "Apple", Some("Ace"), 2, 2, 5),
        (3, "Plenty", Some("Ace"), 9, 2, 5),
        (4, "Unset", Some("Ace"), 0, 0, 0),
        (5, "Orphan", None, 1, 3, 0),
        (6, "Baen book", Some("Baen"), 1, 1, 4),
    ] {
        app.create_book(json!({
            "isbn": isbn(n), "title": title, "publisher": publisher, "quantity": quantity,
            "reorder_point": point, "reorder_quantity": reorder, "authors": ["A. Writer", "B. Other"],
        }))
        .await;
    }
    let response = app.get("/reorder-suggestions").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/vnd.bookstore.v1+json"
    );
    assert_eq!(header(&response, header::VARY), "Accept");
    let json_bytes = response.bytes().await.expect("body").to_vec();
    let report: Value = serde_json::from_slice(&json_bytes).expect("json");
    let groups = report["groups"].as_array().expect("groups");
    let publishers: Vec<&Value> = groups.iter().map(|g| &g["publisher"]).collect();
    assert_eq!(publishers, [&json!("Ace"), &json!("Baen"), &Value::Null]);
    let ace: Vec<(&str, i64)> = groups[0]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["title"].as_str().expect("title"),
                i["suggested_quantity"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(ace, [("Apple", 5), ("Zebra, \"striped\"", 12)]);
    assert_eq!(groups[0]["suggested_total"], 17);
    assert_eq!(
        groups[0]["items"][0]["authors"],
        json!(["A. Writer", "B. Other"])
    );
    assert_eq!(groups[2]["items"][0]["suggested_quantity"], 2);

    let response = get_as(
        &app,
        "/reorder-suggestions",
        "application/vnd.bookstore.v2+json",
    )
    .await;
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/vnd.bookstore.v2+json"
    );
    let response = get_as(&app, "/reorder-suggestions", "text/csv").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), CSV);
    let csv_bytes = response.bytes().await.expect("body").to_vec();
    let (headers, rows) = records(&csv_bytes);
    assert_eq!(
        headers,
        [
            "publisher",
            "isbn",
            "title",
            "authors",
            "format",
            "quantity",
            "reorder_point",
            "reorder_quantity",
            "suggested_quantity",
            "location"
        ]
    );
    let listed: Vec<(&str, &str, &str)> = rows.iter().map(|r| (&r[0], &r[2], &r[8])).collect();
    assert_eq!(
        listed,
        [
            ("Ace", "Apple", "5"),
            ("Ace", "Zebra, \"striped\"", "12"),
            ("Baen", "Baen book", "4"),
            ("", "Orphan", "2")
        ]
    );
    assert_eq!(&rows[0][3], "A. Writer;B. Other");

    let response = get_as(&app, "/reorder-suggestions", "application/xml").await;
    assert_eq!(response.status(), 406);
    assert!(body(response).await["supported"]
        .as_array()
        .expect("supported")
        .contains(&json!("text/csv")));
    let response = app
        .anonymous(Method::GET, "/reorder-suggestions")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    app.add_user("clerk", "saffron lighthouse kettle", "staff")
        .await;
    let staff = app.sign_in("clerk", "saffron lighthouse kettle").await;
    let response = app
        .anonymous(Method::GET, "/reorder-suggestions")
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);

    // The CLI prints the same bytes.
    assert_eq!(cli(&app, &["report", "reorder"]), json_bytes);
    assert_eq!(
        cli(&app, &["report", "reorder", "--format", "csv"]),
        csv_bytes
    );
});

both_stores!(reorder_suggestions_for_one_location, |backend| async move {
    let app = spawn(backend).await;
    let north = body(
        app.post_json(
            "/locations",
            &json!({"code": "north", "name": "North store", "kind": "store"}),
        )
        .await,
    )
    .await;
    let shelf = body(
        app.post_json(
            "/locations",
            &json!({"code": "north-a", "name": "Aisle A", "kind": "shelf", "parent_id": north["id"]}),
        )
        .await,
    )
    .await;
    let shelf_id = shelf["id"].as_str().expect("id").to_owned();
    // A: 4 at the default location, 1 at north, 1 on its shelf (6 in total), point 3.
    // B: 5 at north, point 2.
    let split = app
        .create_book(
            json!({"isbn": isbn(1), "title": "A split", "publisher": "Ace",
            "quantity": 4, "reorder_point": 3, "reorder_quantity": 5}),
        )
        .await;
    let north_only = app
        .create_book(
            json!({"isbn": isbn(2), "title": "B north only", "publisher": "Ace",
            "reorder_point": 2, "reorder_quantity": 2}),
        )
        .await;
    for (book, quantity, location) in [
        (&split, 1, "north"),
        (&split, 1, shelf_id.as_str()),
        (&north_only, 5, "North"),
    ] {
        let path = format!(
            "/books/{}/stock-movements",
            book["id"].as_str().expect("id")
        );
        let response = app
            .post_json(
                &path,
                &json!({"kind": "receive", "quantity": quantity, "location": location}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let items = |report: &Value| -> Vec<(String, Value, Value, Value)> {
        report["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["items"].as_array().expect("items").clone())
            .map(|i| {
                (
                    i["title"].as_str().expect("title").to_owned(),
                    i["quantity"].clone(),
                    i["location_quantity"].clone(),
                    i["suggested_quantity"].clone(),
                )
            })
            .collect()
    };

    // In total both are above their points; the report is as before, without the new fields.
    let response = app.get("/reorder-suggestions").await;
    assert_eq!(response.status(), 200);
    let whole = body(response).await;
    assert_eq!(whole, json!({"groups": []}));

    // North counts its shelf: 2 of A, ordered up to 3 + 5.
    let response = app.get("/reorder-suggestions?location=North").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/vnd.bookstore.v1+json"
    );
    let json_bytes = response.bytes().await.expect("body").to_vec();
    let report: Value = serde_json::from_slice(&json_bytes).expect("json");
    assert_eq!(
        report["stock_location"],
        json!({"id": north["id"], "code": "north", "name": "North store"})
    );
    assert_eq!(
        items(&report),
        [("A split".to_owned(), json!(6), json!(2), json!(6))]
    );
    assert_eq!(report["groups"][0]["suggested_total"], 6);

    // The shelf alone, by id: 1 of A, none of B.
    let report = body(
        app.get(&format!("/reorder-suggestions?location={shelf_id}"))
            .await,
    )
    .await;
    assert_eq!(report["stock_location"]["code"], "north-a");
    assert_eq!(
        items(&report),
        [
            ("A split".to_owned(), json!(6), json!(1), json!(7)),
            ("B north only".to_owned(), json!(5), json!(0), json!(4))
        ]
    );
    // The default location holds 4 of A (above 3), none of B.
    let report = body(app.get("/reorder-suggestions?location=main").await).await;
    assert_eq!(
        items(&report),
        [("B north only".to_owned(), json!(5), json!(0), json!(4))]
    );

    let response = get_as(&app, "/reorder-suggestions?location=north", "text/csv").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), CSV);
    let csv_bytes = response.bytes().await.expect("body").to_vec();
    let (headers, rows) = records(&csv_bytes);
    assert_eq!(
        headers,
        [
            "publisher",
            "isbn",
            "title",
            "authors",
            "format",
            "quantity",
            "location_quantity",
            "reorder_point",
            "reorder_quantity",
            "suggested_quantity",
            "location"
        ]
    );
    let listed: Vec<Vec<&str>> = rows.iter().map(|r| r.iter().collect()).collect();
    assert_eq!(
        listed,
        [[
            "Ace",
            split["isbn"].as_str().expect("isbn"),
            "A split",
            "",
            "",
            "6",
            "2",
            "3",
            "5",
            "6",
            ""
        ]]
    );
    // Without a location, the columns are as before.
    let response = get_as(&app, "/reorder-suggestions", "text/csv").await;
    let (headers, rows) = records(&response.bytes().await.expect("body"));
    assert!(!headers.iter().any(|h| h == "location_quantity"));
    assert!(rows.is_empty());

    for (path, message) in [
        ("/reorder-suggestions?location=south", "no location 'south'"),
        (
            "/reorder-suggestions?location=0192f8a0-0000-7000-8000-000000000000",
            "no location '0192f8a0-0000-7000-8000-000000000000'",
        ),
        ("/reorder-suggestions?location=", "must be a location code"),
        (
            "/reorder-suggestions?location=no%20such%20place",
            "must be a location code",
        ),
        ("/reorder-suggestions?place=north", "place"),
    ] {
        let response = get_as(&app, path, "text/csv").await;
        assert_eq!(response.status(), 422, "{path}");
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let problem = body(response).await;
        if message != "place" {
            assert_eq!(problem["errors"][0]["field"], "location", "{problem}");
        }
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .expect("message")
                .contains(message),
            "{problem}"
        );
    }

    // The CLI prints the same bytes, and refuses an unknown location.
    assert_eq!(
        cli(&app, &["report", "reorder", "--location", "NORTH"]),
        json_bytes
    );
    assert_eq!(
        cli(
            &app,
            &[
                "report",
                "reorder",
                "--location",
                "north",
                "--format",
                "csv"
            ]
        ),
        csv_bytes
    );
    let output = cli_run(&app, &["report", "reorder", "--location", "south"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no location 'south'"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "nothing printed");
});

both_stores!(export_streams_csv_and_ndjson, |backend| async move {
    let app = spawn(backend).await;
    let tricky = app
        .create_book(json!({
            "isbn": isbn(1), "title": "Commas, \"quotes\"; and more",
            "subtitle": "Sub, \"title\"", "description": "First line.\nSecond, \"quoted\" line.",
            "authors": ["Ursula K. Le Guin", {"name": "Alan Lee", "role": "illustrator"}],
            "genres": ["Science Fiction", "Classics"], "publisher": "Ace",
            "published_year": 1969, "language": "en", "format": "paperback", "page_count": 304,
            "price": {"amount_minor": 1299, "currency": "EUR"}, "quantity": 7,
            "reorder_point": 2, "reorder_quantity": 5, "location": "A-3",
        }))
        .await;
    for n in 2..=130 {
        app.create_book(json!({
            "isbn": isbn(n), "title": format!("Book {n}"),
            "publisher": if n % 2 == 0 { "Tor" } else { "Ace" },
        }))
        .await;
    }
    let response = get_as(&app, "/books/export", "text/csv").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), CSV);
    // Streamed: no length known ahead.
    assert_eq!(response.content_length(), None);
    let csv_bytes = response.bytes().await.expect("body").to_vec();
    let (headers, rows) = records(&csv_bytes);
    assert_eq!(headers, EXPORT_COLUMNS);
    assert_eq!(rows.len(), 130);
    let first: Vec<&str> = rows[0].iter().collect();
    assert_eq!(
        first,
        [
            tricky["isbn"].as_str().expect("isbn"),
            "Commas, \"quotes\"; and more",
            "Sub, \"title\"",
            "Ursula K. Le Guin;Alan Lee (illustrator)",
            "Science Fiction;Classics",
            "Ace",
            "1969",
            "en",
            "paperback",
            "304",
            "12.99",
            "EUR",
            "7",
            "2",
            "5",
            "A-3",
            "First line.\nSecond, \"quoted\" line.",
        ]
    );
    assert_eq!(&rows[129][1], "Book 130");
    assert_eq!(&rows[129][10], "", "no price");

    // Without Accept, or with */*: CSV.
    let response = app
        .request(Method::GET, "/books/export")
        .send()
        .await
        .expect("GET");
    assert_eq!(header(&response, header::CONTENT_TYPE), CSV);
    assert_eq!(response.bytes().await.expect("body").to_vec(), csv_bytes);

    let response = get_as(&app, "/books/export?publisher=ace&year_from=1900", NDJSON).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CONTENT_TYPE), NDJSON);
    let text = response.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one book per line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(
        lines[0]["price"],
        json!({"amount": "12.99", "currency": "EUR"})
    );
    assert_eq!(lines[0]["authors"][1]["role"], "illustrator");
    assert_eq!(lines[0]["id"], tricky["id"]);
    let ace = get_as(&app, "/books/export?publisher=Ace", NDJSON).await;
    let ace = ace.text().await.expect("body");
    assert_eq!(ace.lines().count(), 65);
    let searched = get_as(&app, "/books/export?q=commas", "text/csv").await;
    let (_, rows) = records(&searched.bytes().await.expect("body"));
    assert_eq!(rows.len(), 1);

    for (path, accept, status) in [
        ("/books/export", "application/json", 406),
        ("/books/export", "application/vnd.bookstore.v2+json", 406),
        ("/books/export?limit=5", "text/csv", 422),
        ("/books/export?year_from=soon", "text/csv", 422),
        ("/books/export?format=scroll", "text/csv", 422),
    ] {
        let response = get_as(&app, path, accept).await;
        assert_eq!(response.status(), status, "{path} {accept}");
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/problem+json"
        );
    }
    let response = app
        .anonymous(Method::GET, "/books/export")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    app.add_user("clerk", "saffron lighthouse kettle", "staff")
        .await;
    let staff = app.sign_in("clerk", "saffron lighthouse kettle").await;
    let response = app
        .anonymous(Method::GET, "/books/export")
        .bearer_auth(&staff)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);

    // The CLI writes the same bytes, to standard output or to a file.
    assert_eq!(cli(&app, &["export"]), csv_bytes);
    let everything = get_as(&app, "/books/export", NDJSON).await;
    let everything = everything.bytes().await.expect("body").to_vec();
    assert_eq!(cli(&app, &["export", "--format", "ndjson"]), everything);
    let file = app.data_dir.path().join("books.csv");
    let path = file.to_str().expect("path");
    assert!(cli(&app, &["export", "--output", path]).is_empty());
    assert_eq!(std::fs::read(&file).expect("file"), csv_bytes);
});

#[tokio::test]
async fn the_document_describes_both_answers() {
    let app = spawn(Backend::Sqlite).await;
    let doc = body(
        app.anonymous(Method::GET, "/openapi.json")
            .send()
            .await
            .expect("doc"),
    )
    .await;
    let export = &doc["paths"]["/books/export"]["get"]["responses"];
    for media_type in ["text/csv", NDJSON] {
        assert!(
            export["200"]["content"][media_type].is_object(),
            "{media_type}"
        );
    }
    for status in ["401", "406", "422"] {
        assert!(export[status].is_object(), "export {status}");
    }
    let reorder = &doc["paths"]["/reorder-suggestions"]["get"]["responses"];
    for media_type in [
        "text/csv",
        "application/vnd.bookstore.v1+json",
        "application/vnd.bookstore.v2+json",
    ] {
        assert!(
            reorder["200"]["content"][media_type].is_object(),
            "{media_type}"
        );
    }
    for status in ["401", "406", "422"] {
        assert!(reorder[status].is_object(), "reorder {status}");
    }
    let parameters = doc["paths"]["/reorder-suggestions"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    // The one query parameter (a read also takes the Consistency-Token header).
    let query: Vec<&serde_json::Value> = parameters.iter().filter(|p| p["in"] == "query").collect();
    assert_eq!(query.len(), 1, "{parameters:?}");
    let location = query[0];
    assert_eq!(location["name"], json!("location"));
    assert!(location["required"] != json!(true));
    let pattern = location["schema"]["pattern"].as_str().expect("pattern");
    assert!(pattern.contains("[A-Za-z0-9._-]{0,31}"), "{pattern}");
    let item = &doc["components"]["schemas"]["ReorderItemDto"]["properties"];
    assert!(item["location_quantity"].is_object());
    assert!(
        doc["components"]["schemas"]["ReorderReportDto"]["properties"]["stock_location"]
            .is_object()
    );
    assert!(
        doc["components"]["schemas"]["BookInput"]["properties"]["reorder_quantity"].is_object()
    );
}

both_stores!(
    an_export_imports_again_into_the_same_catalogue,
    |backend| async move {
        let app = spawn(backend).await;
        app.create_book(json!({
            "isbn": isbn(1), "title": "Commas, \"quotes\"; and more",
            "subtitle": "Sub, \"title\"", "description": "First line.\nSecond, \"quoted\" line.",
            "authors": ["Ursula K. Le Guin", {"name": "Alan Lee", "role": "illustrator"},
                {"name": "Jane Doe", "role": "translator"}],
            "genres": ["Science Fiction", "Classics"], "publisher": "Ace",
            "published_year": 1969, "language": "en", "format": "paperback", "page_count": 304,
            "price": {"amount_minor": 1299, "currency": "EUR"}, "quantity": 7,
            "reorder_point": 2, "reorder_quantity": 5, "location": "A-3",
        }))
        .await;
        app.create_book(json!({"isbn": isbn(2), "title": "Bare", "quantity": 0}))
            .await;
        for n in 3..=40 {
            app.create_book(json!({
            "isbn": isbn(n), "title": format!("Book {n}"), "authors": [format!("Author {}", n % 7)],
            "publisher": if n % 2 == 0 { "Tor" } else { "Ace" }, "quantity": n,
            "price": {"amount_minor": 100 * n, "currency": "USD"},
        }))
        .await;
        }
        let exported = cli(&app, &["export"]);
        let file = app.data_dir.path().join("export.csv");
        std::fs::write(&file, &exported).expect("write the export");

        let empty = spawn(backend).await;
        let path = file.to_str().expect("path");
        cli(&empty, &["import", path]);
        assert_eq!(
            String::from_utf8_lossy(&cli(&empty, &["export"])),
            String::from_utf8_lossy(&exported),
            "the same catalogue, field for field and in the same order"
        );
        let book = empty
            .client
            .get(format!("{}/books/isbn/{}", empty.base, isbn(1)))
            .bearer_auth(&empty.admin_token)
            .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
            .send()
            .await
            .expect("get");
        let book: Value = book.json().await.expect("json");
        let roles: Vec<&str> = book["authors"]
            .as_array()
            .expect("authors")
            .iter()
            .map(|a| a["role"].as_str().expect("role"))
            .collect();
        assert_eq!(roles, ["author", "illustrator", "translator"]);
    }
);
