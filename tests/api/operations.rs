//! Health, request ids, logs, API documents and shutdown.

use crate::both_stores;
use crate::helpers::*;
use reqwest::Method;

both_stores!(health_and_readiness, |backend| async move {
    let app = spawn(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await["status"], "ok");
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
});

both_stores!(request_ids_are_echoed_and_logged, |backend| async move {
    let app = spawn(backend).await;
    let response = app
        .request(Method::GET, "/books/not-a-uuid")
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        header(&response, "x-request-id".parse().expect("name")),
        "trace-me-123"
    );
    assert_eq!(body(response).await["request_id"], "trace-me-123");

    // A hostile id is replaced, not echoed.
    let response = app
        .request(Method::GET, "/healthz")
        .header("x-request-id", "<script>")
        .send()
        .await
        .expect("GET");
    let generated = header(&response, "x-request-id".parse().expect("name"));
    assert!(!generated.is_empty() && generated != "<script>");

    app.post_json("/books", &hobbit()).await;
    // Every log line of a request carries its id.
    let logs = app.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let tagged: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "trace-me-123")
        .collect();
    assert!(
        !tagged.is_empty(),
        "no log line with the request id:\n{logs}"
    );
    let completions = lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .count();
    assert!(completions >= 3, "{logs}");
    assert!(lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .all(|l| l["span"]["request_id"].is_string()));
});

both_stores!(
    openapi_and_docs_are_served_from_the_binary,
    |backend| async move {
        let app = spawn(backend).await;
        let response = app.get("/openapi.json").await;
        assert_eq!(response.status(), 200);
        let doc = body(response).await;
        assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));
        for path in [
            "/books",
            "/books/{id}",
            "/books/isbn/{isbn}",
            "/books/{id}/history",
            "/authors",
            "/authors/{id}",
            "/genres",
            "/genres/{id}",
            "/healthz",
            "/readyz",
        ] {
            assert!(
                doc["paths"][path].is_object(),
                "{path} missing from OpenAPI"
            );
        }
        let response = app.get("/docs/").await;
        assert_eq!(response.status(), 200);
        let html = response.text().await.expect("html");
        assert!(html.contains("swagger"), "{html}");
        assert!(
            !html.contains("://"),
            "docs page loads something from elsewhere: {html}"
        );
        let response = app.get("/docs/swagger-ui-bundle.js").await;
        assert_eq!(response.status(), 200);
    }
);

both_stores!(sigterm_stops_cleanly, |backend| async move {
    let mut app = spawn(backend).await;
    app.create_book(hobbit()).await;
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
    assert!(app.logs().contains("stopped"));
});

#[tokio::test]
async fn help_reads_well() {
    let output = std::process::Command::new(binary())
        .arg("--help")
        .output()
        .expect("run");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for word in [
        "serve",
        "migrate",
        "--database-url",
        "DATABASE_URL",
        "BOOKSTORE_LISTEN",
    ] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}
