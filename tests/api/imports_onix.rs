//! ONIX imports over HTTP on both stores: the fixture file mapped to books, and hostile or
//! broken documents refused without a byte of harm.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const FIXTURE: &str = include_str!("../../crates/onix/tests/fixtures/products.xml");

async fn import_xml(app: &TestApp, xml: &str) -> Value {
    let response = app
        .request(Method::POST, "/imports")
        .header(header::CONTENT_TYPE, "application/xml")
        .body(xml.to_owned())
        .send()
        .await
        .expect("POST /imports");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = header(&response, header::LOCATION);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let import = body(app.get(&location).await).await;
        if import["state"] != "running" {
            return import;
        }
        assert!(Instant::now() < deadline, "import still running: {import}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_stores!(the_onix_fixture_maps_to_books, |backend| async move {
    let app = spawn(backend).await;
    let done = import_xml(&app, FIXTURE).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["format"], "onix");
    let read = done["counts"]["read"].as_u64().unwrap();
    assert_eq!(read, 6, "{done}");
    let book = body(
        app.request(Method::GET, "/books/isbn/9780140449136")
            .header(header::ACCEPT, "application/vnd.bookstore.v2+json")
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(book["title"], "Crime & Punishment");
    assert_eq!(book["subtitle"], "A Novel in Six Parts");
    let contributors: Vec<(String, String)> = book["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        contributors,
        [
            ("Fyodor Dostoyevsky".to_owned(), "author".to_owned()),
            ("David McDuff".to_owned(), "translator".to_owned()),
            ("Fritz Eichenberg".to_owned(), "illustrator".to_owned()),
            ("The Dostoevsky Society".to_owned(), "editor".to_owned()),
        ]
    );
    assert_eq!(book["language"], "en");
    assert_eq!(book["page_count"], 671);
    assert_eq!(book["format"], "hardcover");
    assert_eq!(book["publisher"], "Penguin Classics");
    assert_eq!(book["published_year"], 2019);
    assert_eq!(book["quantity"], 42);
    let genres: Vec<&str> = book["genres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(genres, ["Literary fiction", "FBC", "Russia"]);
    assert!(book["description"]
        .as_str()
        .unwrap()
        .starts_with("Raskolnikov"));
    // Rejected products carry their index and record reference.
    let errors = body(
        app.get(&format!("/imports/{}/errors", done["id"].as_str().unwrap()))
            .await,
    )
    .await;
    for e in errors["items"].as_array().unwrap() {
        assert!(
            e["line"].as_u64().unwrap() >= 1 && e["line"].as_u64().unwrap() <= 6,
            "{e}"
        );
    }
    // The same file again changes nothing.
    let again = import_xml(&app, FIXTURE).await;
    assert_eq!(again["counts"]["created"], 0, "{again}");
    assert_eq!(again["counts"]["updated"], 0, "{again}");
});

both_stores!(hostile_and_broken_xml_is_refused, |backend| async move {
    let app = spawn(backend).await;
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ONIXMessage release="3.0"><Product><RecordReference>&lol9;</RecordReference></Product></ONIXMessage>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE ONIXMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ONIXMessage release="3.0"><Product><RecordReference>&xxe;</RecordReference></Product></ONIXMessage>"#;
    for xml in [laughs, external] {
        let failed = import_xml(&app, xml).await;
        assert_eq!(failed["state"], "failed", "{failed}");
        assert!(
            failed["failure"].as_str().unwrap().contains("DOCTYPE"),
            "{failed}"
        );
        assert_eq!(failed["counts"]["read"], 0);
    }
    // An entity reference without a declaration is not resolved either.
    let undeclared = r#"<ONIXMessage release="3.0"><Product><RecordReference>&xxe;</RecordReference></Product></ONIXMessage>"#;
    let failed = import_xml(&app, undeclared).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        !failed["failure"].as_str().unwrap().contains("root:"),
        "{failed}"
    );

    // Truncated: the products before the break are loaded, then the import fails.
    let cut = &FIXTURE[..FIXTURE.find("<!-- 2").unwrap_or(FIXTURE.len() / 2) + 10];
    let failed = import_xml(&app, cut).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(
        app.count("books").await,
        failed["counts"]["created"].as_i64().unwrap()
    );
    assert_eq!(app.count("books").await, 1, "{failed}");
});
