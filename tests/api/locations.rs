//! Stock per location over HTTP: the locations resource, stock at a named location, the
//! per-location breakdown, transfers, and the movements naming their locations.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

both_stores!(locations_resource, |backend| async move {
    let app = spawn(backend).await;
    let list = body(app.get("/locations").await).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    assert_eq!(list["items"][0]["code"], "main");
    assert_eq!(list["items"][0]["default"], true);
    assert_eq!(list["items"][0]["kind"], "store");
    let main_id = list["items"][0]["id"].as_str().expect("id").to_owned();

    let create = |body: serde_json::Value, key: &'static str| {
        app.request(Method::POST, "/locations")
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let warehouse = json!({"code": "WH", "name": "Warehouse", "kind": "warehouse"});
    let response = create(warehouse.clone(), "wh-1").await.expect("post");
    assert_eq!(response.status(), 201);
    let location = header(&response, header::LOCATION);
    let wh = body(response).await;
    assert_eq!(
        (wh["code"].as_str(), wh["default"].as_bool()),
        (Some("wh"), Some(false))
    );
    assert_eq!(
        location,
        format!("/locations/{}", wh["id"].as_str().expect("id"))
    );
    // A retry with the same key gets the same location.
    let replay = body(create(warehouse.clone(), "wh-1").await.expect("post")).await;
    assert_eq!(replay["id"], wh["id"]);
    let response = create(warehouse, "wh-2").await.expect("post");
    assert_eq!(response.status(), 409, "codes are unique");

    let response = create(
        json!({"code": "a1", "name": "Aisle 1", "kind": "shelf"}),
        "s-1",
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["errors"][0]["field"], "parent_id");
    let response = create(
        json!({"code": "a1", "name": "Aisle 1", "kind": "shelf",
               "parent_id": "0192f8a0-0000-7000-8000-000000000000"}),
        "s-2",
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 422, "the parent must exist");
    let response = create(
        json!({"code": "a1", "name": "Aisle 1", "kind": "shelf", "parent_id": wh["id"]}),
        "s-3",
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 201);
    let shelf = body(response).await;

    let patch = |id: &str, body: serde_json::Value| {
        app.request(Method::PATCH, &format!("/locations/{id}"))
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let response = patch(
        shelf["id"].as_str().expect("id"),
        json!({"name": "Aisle One"}),
    )
    .await
    .expect("patch");
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await["name"], "Aisle One");
    let response = patch(
        wh["id"].as_str().expect("id"),
        json!({"kind": "shelf", "parent_id": shelf["id"]}),
    )
    .await
    .expect("patch");
    assert_eq!(response.status(), 422, "no cycles");

    let delete = |id: String| {
        app.request(Method::DELETE, &format!("/locations/{id}"))
            .send()
    };
    let response = delete(main_id.clone()).await.expect("delete");
    assert_eq!(response.status(), 409);
    let problem = body(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("default location"),
        "{problem}"
    );
    let response = delete(wh["id"].as_str().expect("id").to_owned())
        .await
        .expect("delete");
    assert_eq!(
        response.status(),
        409,
        "a location with a shelf inside it stays"
    );
    let response = delete(shelf["id"].as_str().expect("id").to_owned())
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.get(&format!("/locations/{}", shelf["id"].as_str().expect("id")))
            .await
            .status(),
        404
    );
    assert_eq!(app.count("locations").await, 2);
});

both_stores!(stock_at_locations_and_transfers, |backend| async move {
    let app = spawn(backend).await;
    let book = app.create_book(hobbit()).await; // 4 on hand, at the default location
    let id = book["id"].as_str().expect("id").to_owned();
    let path = format!("/books/{id}/stock-movements");
    let mv = |body: serde_json::Value| app.request(Method::POST, &path).json(&body).send();
    let response = app
        .post_json(
            "/locations",
            &json!({"code": "north", "name": "North store", "kind": "store"}),
        )
        .await;
    assert_eq!(response.status(), 201);

    let stock = body(app.get(&format!("/books/{id}/stock")).await).await;
    assert_eq!(stock["quantity"], 4);
    assert_eq!(stock["locations"][0]["code"], "main");
    assert_eq!(stock["locations"][0]["quantity"], 4);

    let response = mv(json!({"kind": "receive", "quantity": 3, "location": "North"}))
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    let receipt = body(response).await;
    assert_eq!(receipt["location"], "north");
    assert_eq!(receipt["location_quantity_after"], 3);
    assert_eq!(receipt["quantity_after"], 7);
    assert!(receipt["from_location"].is_null());

    let response = mv(
        json!({"kind": "transfer", "quantity": 2, "from_location": "north",
                             "to_location": "main", "reason": "display"}),
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, header::ETAG),
        "\"4\"",
        "two movements, two versions"
    );
    let out = body(response).await;
    assert_eq!(
        (
            &out["kind"],
            &out["delta"],
            &out["location"],
            &out["from_location"],
            &out["to_location"]
        ),
        (
            &json!("transfer"),
            &json!(-2),
            &json!("north"),
            &json!("north"),
            &json!("main")
        )
    );
    assert_eq!(
        out["quantity_after"], 7,
        "a transfer leaves the total as it is"
    );

    let response = mv(
        json!({"kind": "transfer", "quantity": 2, "from_location": "north",
                             "to_location": "main"}),
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 409);
    assert_eq!(body(response).await["available"], 1);
    for (bad, field) in [
        (
            json!({"kind": "transfer", "quantity": 1, "from_location": "main"}),
            "to_location",
        ),
        (
            json!({"kind": "transfer", "quantity": 1, "from_location": "main", "to_location": "MAIN"}),
            "to_location",
        ),
        (
            json!({"kind": "transfer", "quantity": 1, "from_location": "main", "to_location": "south"}),
            "to_location",
        ),
        (
            json!({"kind": "transfer", "quantity": 1, "location": "main", "from_location": "main", "to_location": "north"}),
            "location",
        ),
        (
            json!({"kind": "sale", "quantity": 1, "to_location": "north"}),
            "to_location",
        ),
        (
            json!({"kind": "sale", "quantity": 1, "location": "no such place"}),
            "location",
        ),
        (
            json!({"kind": "sale", "quantity": 1, "location": "south"}),
            "location",
        ),
    ] {
        let response = mv(bad.clone()).await.expect("post");
        assert_eq!(response.status(), 422, "{bad}");
        assert_eq!(body(response).await["errors"][0]["field"], field, "{bad}");
    }
    let response = mv(json!({"kind": "sale", "quantity": 2, "location": "north"}))
        .await
        .expect("post");
    assert_eq!(response.status(), 409, "north holds 1");

    let stock = body(app.get(&format!("/books/{id}/stock")).await).await;
    assert_eq!(stock["quantity"], 7);
    let levels: Vec<(&str, i64)> = stock["locations"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            (
                l["code"].as_str().expect("code"),
                l["quantity"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(levels, [("main", 6), ("north", 1)]);
    let current = body(app.get(&format!("/books/{id}")).await).await;
    assert_eq!(
        (&current["quantity"], &current["location"]),
        (&json!(7), &json!("F-12"))
    );

    let movements = body(app.get(&path).await).await;
    let listed: Vec<(&str, &str, i64)> = movements["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().expect("kind"),
                m["location"].as_str().expect("location"),
                m["location_quantity_after"].as_i64().expect("after"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("transfer", "main", 6),
            ("transfer", "north", 1),
            ("receive", "north", 3),
            ("receive", "main", 4)
        ]
    );
    assert_eq!(movements["items"][0]["from_location"], "north");
    assert_eq!(movements["items"][0]["to_location"], "main");
    assert_eq!(app.count("stock_movements").await, 4);
    assert_eq!(app.count("outbox").await, 4, "one event per movement");

    // A retried transfer with its Idempotency-Key moves once.
    let keyed = || {
        app.request(Method::POST, &path)
            .header("Idempotency-Key", "move-1")
            .json(
                &json!({"kind": "transfer", "quantity": 1, "from_location": "main",
                          "to_location": "north"}),
            )
            .send()
    };
    let first = keyed().await.expect("post");
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    let again = keyed().await.expect("post");
    assert_eq!(
        header(&again, "idempotent-replayed".parse().expect("name")),
        "true"
    );
    assert_eq!(body(again).await["id"], first["id"]);
    assert_eq!(app.count("stock_movements").await, 6);
    assert_eq!(
        app.get("/books/0192f8a0-0000-7000-8000-000000000000/stock")
            .await
            .status(),
        404
    );
});

// 200 concurrent transfers and sales of one copy each, over HTTP, against a source holding
// 100: exactly 100 are answered 201, the others 409, and no level goes below zero.
both_stores!(transfers_and_sales_race_over_http, |backend| async move {
    let app = spawn_with(backend, &[("BOOKSTORE_RATE_LIMIT_USER_BURST", "2000")]).await;
    let book = app
        .create_book(json!({"isbn": "9780000000019", "title": "Raced", "quantity": 0}))
        .await;
    let id = book["id"].as_str().expect("id").to_owned();
    let path = format!("/books/{id}/stock-movements");
    for code in ["src", "dst"] {
        let response = app
            .post_json(
                "/locations",
                &json!({"code": code, "name": code, "kind": "store"}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let response = app
        .post_json(
            &path,
            &json!({"kind": "receive", "quantity": 100, "location": "src"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let body = if i % 2 == 0 {
                json!({"kind": "transfer", "quantity": 1, "from_location": "src", "to_location": "dst"})
            } else {
                json!({"kind": "sale", "quantity": 1, "location": "src"})
            };
            let request = app.request(Method::POST, &path).json(&body);
            tokio::spawn(async move {
                (i % 2 == 0, request.send().await.expect("post").status().as_u16())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let ok = |transfer: bool| {
        outcomes
            .iter()
            .filter(|(t, status)| *t == transfer && *status == 201)
            .count() as i64
    };
    let (transfers, sales) = (ok(true), ok(false));
    assert!(
        outcomes
            .iter()
            .all(|(_, status)| *status == 201 || *status == 409),
        "{outcomes:?}"
    );
    assert_eq!(transfers + sales, 100);
    let stock = body(app.get(&format!("/books/{id}/stock")).await).await;
    assert_eq!(stock["quantity"], 100 - sales);
    let level = |code: &str| {
        stock["locations"]
            .as_array()
            .expect("levels")
            .iter()
            .find(|l| l["code"] == code)
            .map_or(0, |l| l["quantity"].as_i64().expect("n"))
    };
    assert_eq!((level("src"), level("dst")), (0, transfers));
    assert_eq!(
        app.count("stock_movements").await,
        1 + sales + 2 * transfers
    );
    for (book, location, level, total) in
        bookstore_store::testing::stock_ledger(app.store().await).await
    {
        assert_eq!(
            level.unwrap_or(0),
            total.unwrap_or(0),
            "{book} at {location}"
        );
    }
});
