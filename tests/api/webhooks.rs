//! Webhooks end to end, against a receiver the test runs on 127.0.0.1 (so the server allows
//! private targets here): signatures checked by an independent implementation, retries after
//! 500s, redelivery, ping, rotation with both signatures, the delivery log, and the API's
//! rules (admins only, field errors).

use crate::both_stores;
use crate::helpers::*;
use crate::receiver::{signed_by, Answer, Receiver};
use reqwest::{header, Method};
use serde_json::{json, Value};
use std::time::Duration;

/// Private targets allowed (the receiver is on loopback), retries fast.
pub const FAST_RETRIES: [(&str, &str); 3] = [
    ("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("BOOKSTORE_WEBHOOK_RETRY_FIRST_MS", "200"),
    ("BOOKSTORE_WEBHOOK_RETRY_WINDOW", "60"),
];

pub async fn create_webhook(app: &TestApp, url: &str) -> Value {
    let response = app
        .post_json(
            "/webhooks",
            &json!({"url": url, "event_types": ["bookstore.book.created"], "description": "test receiver"}),
        )
        .await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).expect("json")
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

async fn deliveries(app: &TestApp, webhook: &str) -> Vec<Value> {
    let response = app.get(&format!("/webhooks/{webhook}/deliveries")).await;
    assert_eq!(response.status(), 200);
    body(response).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

both_stores!(
    deliveries_are_signed_retried_redelivered_and_logged,
    |backend| async move {
        let receiver = Receiver::start().await;
        let app = spawn_with(backend, &FAST_RETRIES).await;
        let created = create_webhook(&app, &receiver.url).await;
        let webhook = id_of(&created);
        let secret = created["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");

        // The secret is shown once.
        let shown = body(app.get(&format!("/webhooks/{webhook}")).await).await;
        assert_eq!(shown["url"], receiver.url.as_str());
        assert!(shown.get("secret").is_none(), "{shown}");
        let listed = body(app.get("/webhooks").await).await;
        assert_eq!(listed["items"][0]["id"], webhook.as_str());
        assert!(listed["items"][0].get("secret").is_none());

        // A ping answered 500 twice is retried until it is delivered.
        receiver.plan(&[Answer::Status(500), Answer::Status(500)]);
        let response = app
            .request(Method::POST, &format!("/webhooks/{webhook}/ping"))
            .send()
            .await
            .expect("ping");
        assert_eq!(response.status(), 200);
        let ping = body(response).await;
        assert_eq!(ping["status"], "pending");
        assert_eq!(ping["attempts"], 1);
        assert_eq!(ping["response_code"], 500);
        assert!(ping["next_attempt_at"].is_string());

        let received = receiver.wait_for(3, Duration::from_secs(20)).await;
        let event_id = ping["event_id"].as_str().expect("event id");
        for request in &received {
            assert!(signed_by(&secret, request), "bad signature: {request:?}");
            assert_eq!(request.header("webhook-id"), event_id);
            assert_eq!(request.header("content-type"), "application/json");
            let timestamp: i64 = request
                .header("webhook-timestamp")
                .parse()
                .expect("seconds");
            assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
            let event = request.json();
            assert_eq!(event["type"], "bookstore.webhook.ping");
            assert_eq!(event["id"], event_id);
            assert_eq!(event["specversion"], "1.0");
        }
        assert!(
            received[2].at - received[1].at > (received[1].at - received[0].at) / 2,
            "the delay grows"
        );
        // The log shows the delivery, after its last attempt.
        let mut log = Vec::new();
        for _ in 0..100 {
            log = deliveries(&app, &webhook).await;
            if log[0]["status"] == "delivered" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "delivered", "{log:?}");
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["response_code"], 204);
        assert!(log[0]["duration_ms"].is_i64());
        assert!(log[0]["next_attempt_at"].is_null());
        assert_eq!(app.count("webhook_attempts").await, 3);

        // Redelivery: the same event again, as a new delivery with the same webhook-id.
        let delivery = log[0]["id"].as_str().expect("delivery id");
        let response = app
            .request(
                Method::POST,
                &format!("/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
            )
            .send()
            .await
            .expect("redeliver");
        assert_eq!(response.status(), 202);
        let again = receiver.wait_for(4, Duration::from_secs(10)).await;
        assert_eq!(again[3].header("webhook-id"), event_id);
        assert_eq!(again[3].body, again[0].body, "the same bytes");
        assert!(signed_by(&secret, &again[3]));

        // Rotation: both secrets sign for a while.
        let response = app
            .request(Method::POST, &format!("/webhooks/{webhook}/rotate-secret"))
            .send()
            .await
            .expect("rotate");
        assert_eq!(response.status(), 200);
        let rotated = body(response).await;
        let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
        assert_ne!(new_secret, secret);
        assert!(rotated["previous_secret_until"].is_string());
        let response = app
            .request(Method::POST, &format!("/webhooks/{webhook}/ping"))
            .send()
            .await
            .expect("ping");
        assert_eq!(body(response).await["status"], "delivered");
        let last = receiver.wait_for(5, Duration::from_secs(10)).await[4].clone();
        assert_eq!(last.header("webhook-signature").split(' ').count(), 2);
        assert!(signed_by(&new_secret, &last));
        assert!(signed_by(&secret, &last));

        // Unknown deliveries and webhooks are 404.
        let nobody = "0192f8a0-7c1e-7000-8000-000000000009";
        let response = app
            .request(
                Method::POST,
                &format!("/webhooks/{webhook}/deliveries/{nobody}/redeliver"),
            )
            .send()
            .await
            .expect("redeliver");
        assert_eq!(response.status(), 404);
        assert_eq!(app.get(&format!("/webhooks/{nobody}")).await.status(), 404);
    }
);

both_stores!(
    published_events_reach_the_webhooks_that_want_them,
    |backend| async move {
        let wants = Receiver::start().await;
        let other = Receiver::start().await;
        let app = spawn_with(backend, &FAST_RETRIES).await;
        let created = create_webhook(&app, &wants.url).await;
        let secret = created["secret"].as_str().expect("secret").to_owned();
        let response = app
            .post_json(
                "/webhooks",
                &json!({"url": other.url, "event_types": ["bookstore.book.deleted"]}),
            )
            .await;
        assert_eq!(response.status(), 201);

        // The relay publishes it, the fan-out (woken by the log's growth) queues it.
        let book = app.create_book(hobbit()).await;
        let received = wants.wait_for(1, Duration::from_secs(5)).await;
        let event = received[0].json();
        assert_eq!(event["type"], "bookstore.book.created");
        assert_eq!(event["subject"], book["id"]);
        assert_eq!(
            received[0].header("webhook-id"),
            event["id"].as_str().expect("id")
        );
        assert!(signed_by(&secret, &received[0]));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(other.received().is_empty(), "it wants deletions only");
        assert_eq!(wants.received().len(), 1, "one delivery per event");

        let log = deliveries(&app, &id_of(&created)).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["event_type"], "bookstore.book.created");
        assert_eq!(log[0]["event_id"], event["id"]);
    }
);

both_stores!(
    webhooks_are_changed_and_deleted_by_admins_only,
    |backend| async move {
        let app = spawn(backend).await;
        let created = create_webhook(&app, "https://hooks.example.com/in").await;
        let webhook = id_of(&created);

        // Merge patch: fields given change, null removes the description.
        let response = app
        .request(Method::PATCH, &format!("/webhooks/{webhook}"))
        .header(header::CONTENT_TYPE, "application/merge-patch+json")
        .body(r#"{"active": false, "description": null, "event_types": ["bookstore.book.deleted"]}"#)
        .send()
        .await
        .expect("patch");
        assert_eq!(response.status(), 200);
        let changed = body(response).await;
        assert_eq!(changed["active"], false);
        assert!(changed["description"].is_null());
        assert_eq!(changed["event_types"], json!(["bookstore.book.deleted"]));
        assert_eq!(changed["url"], "https://hooks.example.com/in");

        // Field errors name the field.
        for (input, field) in [
            (
                json!({"url": "ftp://example.com/", "event_types": ["bookstore.book.created"]}),
                "url",
            ),
            (
                json!({"url": "https://u:p@example.com/", "event_types": ["bookstore.book.created"]}),
                "url",
            ),
            (
                json!({"url": "https://example.com/", "event_types": ["bookstore.nope"]}),
                "event_types[0]",
            ),
            (
                json!({"url": "https://example.com/", "event_types": []}),
                "event_types",
            ),
            (json!({"event_types": ["bookstore.book.created"]}), "url"),
            (
                json!({"url": "https://example.com/", "event_types": ["bookstore.book.created"], "description": "x".repeat(501)}),
                "description",
            ),
        ] {
            let response = app.post_json("/webhooks", &input).await;
            assert_eq!(response.status(), 422, "{input}");
            let problem = body(response).await;
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        let response = app
            .request(Method::PATCH, &format!("/webhooks/{webhook}"))
            .header(header::CONTENT_TYPE, "application/merge-patch+json")
            .body(r#"{"url": null}"#)
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 422);

        // Staff may not see or touch webhooks.
        app.add_user("clerk", "saffron lighthouse kettle", "staff")
            .await;
        let staff = app.sign_in("clerk", "saffron lighthouse kettle").await;
        for (method, path) in [
            (Method::GET, "/webhooks".to_owned()),
            (Method::GET, format!("/webhooks/{webhook}")),
            (Method::DELETE, format!("/webhooks/{webhook}")),
            (Method::POST, format!("/webhooks/{webhook}/ping")),
            (Method::POST, format!("/webhooks/{webhook}/rotate-secret")),
            (Method::GET, format!("/webhooks/{webhook}/deliveries")),
        ] {
            let response = app
                .anonymous(method.clone(), &path)
                .bearer_auth(&staff)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 403, "{method} {path}");
        }

        let response = app
            .request(Method::DELETE, &format!("/webhooks/{webhook}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 204);
        assert_eq!(app.get(&format!("/webhooks/{webhook}")).await.status(), 404);
    }
);

both_stores!(
    a_retried_create_shows_the_same_secret,
    |backend| async move {
        let app = spawn(backend).await;
        let input = json!({"url": "https://hooks.example.com/in", "event_types": ["bookstore.book.created"]});
        let mut answers = Vec::new();
        for _ in 0..2 {
            let response = app
                .request(Method::POST, "/webhooks")
                .header("Idempotency-Key", "hook-create-1")
                .json(&input)
                .send()
                .await
                .expect("create");
            assert_eq!(response.status(), 201);
            answers.push(body(response).await);
        }
        assert_eq!(answers[0]["id"], answers[1]["id"]);
        assert_eq!(answers[0]["secret"], answers[1]["secret"]);
        assert_eq!(app.count("webhooks").await, 1);
    }
);
