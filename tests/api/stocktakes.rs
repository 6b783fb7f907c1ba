//! Stocktakes over HTTP: open, scan and set counts, review, commit with `If-Match` (stale:
//! 412, missing: 428), cancel, conflicts on a closed one, and `not_counted_since` on
//! `GET /books`.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

both_stores!(stocktake_over_http, |backend| async move {
    let app = spawn(backend).await;
    let book = app.create_book(hobbit()).await; // 4 on hand at `main`
    let id = book["id"].as_str().expect("id").to_owned();
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let due = |since: String| {
        let app = &app;
        async move {
            let url = format!("/books?not_counted_since={}", since.replace('+', "%2B"));
            body(app.get(&url).await).await["items"]
                .as_array()
                .expect("items")
                .len()
        }
    };
    assert_eq!(due(since.clone()).await, 1);
    let response = app.get("/books?not_counted_since=yesterday").await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await["errors"][0]["field"],
        "not_counted_since"
    );

    let response = app
        .request(Method::POST, "/stocktakes")
        .header("Idempotency-Key", "count-1")
        .json(&json!({"note": "Monday"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, header::ETAG), "\"1\"");
    let take = body(response).await;
    assert_eq!(
        (&take["state"], &take["location"]),
        (&json!("open"), &json!("main"))
    );
    let path = format!("/stocktakes/{}", take["id"].as_str().expect("id"));
    let count = |body: serde_json::Value| {
        app.request(Method::POST, &format!("{path}/counts"))
            .json(&body)
            .send()
    };
    for _ in 0..3 {
        let response = count(json!({"isbn": "978-0-261-10334-4", "add": 1}))
            .await
            .expect("scan");
        assert_eq!(response.status(), 200);
    }
    let response = count(json!({"book_id": id, "add": 1})).await.expect("scan");
    assert_eq!(header(&response, header::ETAG), "\"5\"");
    let line = body(response).await;
    assert_eq!(
        (&line["counted"], &line["on_hand_at_count"]),
        (&json!(4), &json!(4))
    );
    for (bad, field) in [
        (json!({"isbn": "9780261103344"}), "counted"),
        (
            json!({"isbn": "9780261103344", "counted": 1, "add": 1}),
            "add",
        ),
        (json!({"counted": 1}), "isbn"),
        (json!({"isbn": "9780000000019", "counted": 1}), "isbn"),
        (json!({"isbn": "9780261103344", "add": -5}), "add"),
    ] {
        let response = count(bad.clone()).await.expect("count");
        assert_eq!(response.status(), 422, "{bad}");
        assert_eq!(body(response).await["errors"][0]["field"], field, "{bad}");
    }
    let response = count(json!({"isbn": "9780261103344", "counted": 3}))
        .await
        .expect("count");
    assert_eq!(header(&response, header::ETAG), "\"6\"");

    // One copy sells while the count is open.
    let response = app
        .post_json(
            &format!("/books/{id}/stock-movements"),
            &json!({"kind": "sale", "quantity": 1}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = app.get(&path).await;
    assert_eq!(header(&response, header::ETAG), "\"6\"");
    let review = body(response).await;
    let line = &review["lines"][0];
    assert_eq!(
        (
            &line["counted"],
            &line["on_hand_at_count"],
            &line["on_hand"],
            &line["sold_since_count"]
        ),
        (&json!(3), &json!(4), &json!(3), &json!(1))
    );
    assert_eq!(
        (&line["expected"], &line["difference"]),
        (&json!(2), &json!(-1))
    );
    assert_eq!(line["title"], "The Hobbit");

    let commit = |if_match: Option<&'static str>| {
        let mut request = app.request(Method::POST, &format!("{path}/commit"));
        if let Some(tag) = if_match {
            request = request.header(header::IF_MATCH, tag);
        }
        request.send()
    };
    assert_eq!(commit(None).await.expect("commit").status(), 428);
    let response = commit(Some("\"5\"")).await.expect("commit");
    assert_eq!(response.status(), 412);
    assert_eq!(header(&response, header::ETAG), "\"6\"");
    let problem = body(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("stocktake"),
        "{problem}"
    );
    let response = commit(Some("\"6\"")).await.expect("commit");
    assert_eq!(response.status(), 200);
    let done = body(response).await;
    assert_eq!(done["state"], "committed");
    assert_eq!(done["lines"][0]["expected"], 2);
    let current = body(app.get(&format!("/books/{id}")).await).await;
    assert_eq!(current["quantity"], 2);
    let movements = body(app.get(&format!("/books/{id}/stock-movements")).await).await;
    assert_eq!(movements["items"][0]["kind"], "count");
    assert_eq!(movements["items"][0]["delta"], -1);
    assert_eq!(due(since).await, 0, "counted since");

    assert_eq!(commit(Some("*")).await.expect("commit").status(), 409);
    let response = app
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 409);

    // Cancelled: nothing applied, and it cannot be committed.
    let other = body(
        app.post_json("/stocktakes", &json!({"location": "main"}))
            .await,
    )
    .await;
    let other_path = format!("/stocktakes/{}", other["id"].as_str().expect("id"));
    let response = app
        .request(Method::POST, &format!("{other_path}/counts"))
        .json(&json!({"isbn": "9780261103344", "counted": 50}))
        .send()
        .await
        .expect("count");
    assert_eq!(response.status(), 200);
    let response = app
        .request(Method::DELETE, &other_path)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    let response = app
        .request(Method::POST, &format!("{other_path}/commit"))
        .header(header::IF_MATCH, "*")
        .send()
        .await
        .expect("commit");
    assert_eq!(response.status(), 409);
    assert_eq!(body(app.get(&other_path).await).await["state"], "cancelled");
    assert_eq!(
        body(app.get(&format!("/books/{id}")).await).await["quantity"],
        2
    );
    let list = body(app.get("/stocktakes").await).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 2);
    assert_eq!(list["items"][0]["id"], other["id"]);
    assert_eq!(
        app.get("/stocktakes/0192f8a0-0000-7000-8000-000000000000")
            .await
            .status(),
        404
    );
    assert_eq!(app.count("stocktakes").await, 2);
});

both_stores!(stocktake_counts_are_paged, |backend| async move {
    let app = spawn(backend).await;
    let isbns = ["9780261103344", "9780261102385", "9780140328721"];
    for isbn in isbns {
        app.create_book(json!({"isbn": isbn, "title": format!("Book {isbn}"), "quantity": 2}))
            .await;
    }
    let take = body(app.post_json("/stocktakes", &json!({})).await).await;
    let path = format!("/stocktakes/{}", take["id"].as_str().expect("id"));
    for isbn in isbns {
        let response = app
            .post_json(
                &format!("{path}/counts"),
                &json!({"isbn": isbn, "counted": 1}),
            )
            .await;
        assert_eq!(response.status(), 200);
    }

    let response = app.get(&format!("{path}?limit=2")).await;
    assert_eq!(response.status(), 200);
    let link = header(&response, header::LINK);
    let first = body(response).await;
    assert_eq!(first["line_count"], 3);
    let lines: Vec<&str> = first["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["isbn"].as_str().expect("isbn"))
        .collect();
    assert_eq!(lines, ["9780140328721", "9780261102385"], "by ISBN");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    assert!(
        link.contains("limit=2") && link.contains(cursor) && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .expect("link target");
    let response = app.get(next).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(header::LINK).is_none());
    let second = body(response).await;
    assert_eq!(second["lines"].as_array().expect("lines").len(), 1);
    assert_eq!(second["lines"][0]["isbn"], "9780261103344");
    assert!(second["next_cursor"].is_null());

    // Without `limit`, a page of 20: all three here.
    let all = body(app.get(&path).await).await;
    assert_eq!(all["lines"].as_array().expect("lines").len(), 3);
    assert!(all["next_cursor"].is_null());

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let response = app.get(&format!("{path}?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(body(response).await["errors"][0]["field"], field, "{query}");
    }
});
