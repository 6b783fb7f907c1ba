//! Where webhooks may go: without `BOOKSTORE_WEBHOOK_ALLOW_PRIVATE`, internal addresses are
//! refused at creation (IP literals) and at delivery (names that resolve to them); and one
//! endpoint that never answers does not hold up another's deliveries.

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use crate::webhooks::{create_webhook, id_of};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn internal_targets_are_refused_unless_allowed() {
    let app = spawn(Backend::Sqlite).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00:ec2::254]/",
        "http://2130706433/",
    ] {
        let response = app
            .post_json(
                "/webhooks",
                &json!({"url": url, "event_types": ["bookstore.book.created"]}),
            )
            .await;
        assert_eq!(response.status(), 422, "{url}");
        let problem = body(response).await;
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    }
    assert_eq!(app.count("webhooks").await, 0);

    // A name is accepted, and refused at delivery when it resolves to loopback: the attempt
    // fails at once with the reason, and nothing reaches the receiver.
    let receiver = Receiver::start().await;
    let created = create_webhook(&app, &format!("http://localhost:{}/hook", receiver.port)).await;
    let webhook = id_of(&created);
    let response = app
        .request(Method::POST, &format!("/webhooks/{webhook}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(response.status(), 200);
    let delivery = body(response).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert!(delivery["next_attempt_at"].is_null());
    let reason = delivery["error"].as_str().unwrap_or_default();
    assert!(reason.contains("loopback"), "{reason}");
    let log = body(app.get(&format!("/webhooks/{webhook}/deliveries")).await).await;
    assert_eq!(log["items"][0]["status"], "failed");
    assert_eq!(log["items"][0]["error"], reason);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn private_targets_are_allowed_when_configured() {
    let app = spawn_with(
        Backend::Sqlite,
        &[("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true")],
    )
    .await;
    let receiver = Receiver::start().await;
    let created = create_webhook(&app, &format!("http://localhost:{}/hook", receiver.port)).await;
    let response = app
        .request(Method::POST, &format!("/webhooks/{}/ping", id_of(&created)))
        .send()
        .await
        .expect("ping");
    assert_eq!(body(response).await["status"], "delivered");
    assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = spawn_with(
        Backend::Sqlite,
        &[("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true")],
    )
    .await;
    let target = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    target.always(Answer::Redirect(elsewhere.url.clone()));
    let created = create_webhook(&app, &target.url).await;
    let response = app
        .request(Method::POST, &format!("/webhooks/{}/ping", id_of(&created)))
        .send()
        .await
        .expect("ping");
    let delivery = body(response).await;
    assert_eq!(delivery["status"], "pending", "{delivery}");
    assert_eq!(delivery["response_code"], 307);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
}

async fn redeliver(app: &TestApp, webhook: &str, delivery: &str) {
    let response = app
        .request(
            Method::POST,
            &format!("/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
        )
        .send()
        .await
        .expect("redeliver");
    assert_eq!(response.status(), 202);
}

/// Every slot but the per-endpoint bound stays free for other endpoints: with two slots per
/// endpoint and four in all, seven deliveries to an endpoint that never answers leave two
/// slots for a healthy one, whose deliveries arrive at once instead of after the 10 s
/// attempt timeouts.
#[tokio::test]
async fn a_hung_endpoint_does_not_delay_a_healthy_one() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("BOOKSTORE_WEBHOOK_CONCURRENCY", "4"),
            ("BOOKSTORE_WEBHOOK_PER_ENDPOINT", "2"),
            ("BOOKSTORE_WEBHOOK_RETRY_FIRST_MS", "200"),
        ],
    )
    .await;
    let hung = Receiver::start().await;
    let healthy = Receiver::start().await;
    let hung_hook = id_of(&create_webhook(&app, &hung.url).await);
    let healthy_hook = id_of(&create_webhook(&app, &healthy.url).await);

    // One delivery to each, made by a ping answered quickly.
    for hook in [&hung_hook, &healthy_hook] {
        let response = app
            .request(Method::POST, &format!("/webhooks/{hook}/ping"))
            .send()
            .await
            .expect("ping");
        assert_eq!(body(response).await["status"], "delivered");
    }
    let first = |hook: String| {
        let app = &app;
        async move {
            let log: Value = body(app.get(&format!("/webhooks/{hook}/deliveries")).await).await;
            log["items"][0]["id"].as_str().expect("delivery").to_owned()
        }
    };
    let hung_delivery = first(hung_hook.clone()).await;
    let healthy_delivery = first(healthy_hook.clone()).await;

    // From now on the first endpoint accepts and never answers; it gets seven deliveries.
    hung.always(Answer::Hang);
    for _ in 0..7 {
        redeliver(&app, &hung_hook, &hung_delivery).await;
    }
    hung.wait_for(1 + 2, Duration::from_secs(5)).await;
    let started = Instant::now();
    for _ in 0..5 {
        redeliver(&app, &healthy_hook, &healthy_delivery).await;
    }
    healthy.wait_for(1 + 5, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "healthy deliveries took {:?}",
        started.elapsed()
    );
    // The hung endpoint never had more than its two slots.
    assert_eq!(hung.received().len(), 1 + 2);
}
