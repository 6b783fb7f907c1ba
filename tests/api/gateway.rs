//! The gateway layers on the real server: security headers, no server version, compression,
//! trace context, the header limit, the request timeout and CORS. They sit in front of the
//! routes and do not touch the store: these run on SQLite only.

use crate::helpers::*;
use reqwest::{header, Method};
use std::io::{Read, Write};
use std::time::Duration;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn security_headers_compression_and_trace_context() {
    let app = spawn(Backend::Sqlite).await;

    // nosniff everywhere, no server name or version, no HSTS over plain HTTP.
    for path in ["/healthz", "/books", "/nothing-here", "/docs/"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(!headers.contains_key(header::SERVER), "{path}");
        assert!(!headers.contains_key("x-powered-by"), "{path}");
        assert!(
            !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "{path}"
        );
    }
    // The API docs get a Content-Security-Policy that allows only their own assets, and
    // the assets they load are served.
    let response = app.get("/docs/").await;
    let csp = header(&response, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = response.text().await.expect("html");
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "{html}"
    );
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/index.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui-standalone-preset.js",
        "/docs/swagger-initializer.js",
    ] {
        assert_eq!(app.get(asset).await.status(), 200, "{asset}");
    }
    // JSON is not HTML: no policy needed.
    let response = app.get("/healthz").await;
    assert!(!response
        .headers()
        .contains_key(header::CONTENT_SECURITY_POLICY));

    // Compression by Accept-Encoding, for bodies worth it.
    let plain = app.get("/openapi.json").await.bytes().await.expect("body");
    for encoding in ["gzip", "br"] {
        let response = app
            .request(Method::GET, "/openapi.json")
            .header(header::ACCEPT_ENCODING, encoding)
            .send()
            .await
            .expect("GET");
        assert_eq!(header(&response, header::CONTENT_ENCODING), encoding);
        assert!(header(&response, header::VARY).contains("accept-encoding"));
        let compressed = response.bytes().await.expect("body");
        assert!(
            compressed.len() * 3 < plain.len(),
            "{encoding}: {} of {}",
            compressed.len(),
            plain.len()
        );
    }
    let response = app
        .request(Method::GET, "/healthz")
        .header(header::ACCEPT_ENCODING, "gzip, br")
        .send()
        .await
        .expect("GET");
    assert!(header(&response, header::CONTENT_ENCODING).is_empty());

    // traceparent: a caller's trace is continued, its trace id is on every log line of the
    // request, and the response names the trace and our span.
    let response = app
        .request(Method::POST, "/books")
        .header("traceparent", TRACEPARENT)
        .json(&hobbit())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let echoed = header(&response, "traceparent".parse().expect("name"));
    assert!(
        echoed.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && echoed.ends_with("-01"),
        "{echoed}"
    );
    assert!(
        !echoed.contains("00f067aa0ba902b7"),
        "our span, not the caller's"
    );
    let request_id = header(&response, "x-request-id".parse().expect("name"));
    let logs = app.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == request_id.as_str())
        .collect();
    assert!(!of_request.is_empty(), "{logs}");
    assert!(
        of_request
            .iter()
            .all(|l| l["span"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"),
        "{logs}"
    );
    // Without one (or with a malformed one), a new trace starts.
    let response = app
        .request(Method::GET, "/healthz")
        .header("traceparent", "00-zzzz-00f067aa0ba902b7-01")
        .send()
        .await
        .expect("GET");
    let generated = header(&response, "traceparent".parse().expect("name"));
    assert_eq!(generated.len(), 55, "{generated}");
    assert!(!generated.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    let trace_id = &generated[3..35];
    assert!(app.logs().lines().any(|l| l.contains(trace_id)));
    assert!(lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .all(|l| l["span"]["trace_id"].is_string()));
}

#[tokio::test]
async fn header_limit_timeout_and_cors() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_HEADER_LIMIT", "4096"),
            ("BOOKSTORE_REQUEST_TIMEOUT", "1"),
            (
                "BOOKSTORE_CORS_ORIGINS",
                "https://shop.example,https://staff.example:8443",
            ),
        ],
    )
    .await;

    // Headers over the limit: 431 with a problem document.
    let response = app
        .request(Method::GET, "/books")
        .header("x-padding", "a".repeat(5000))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 431);
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/problem+json"
    );
    assert_eq!(body(response).await["status"], 431);
    // Far over it, hyper refuses before any handler runs; still 431.
    let response = app
        .request(Method::GET, "/books")
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 431);
    // Under it: served.
    let response = app
        .request(Method::GET, "/books")
        .header("x-padding", "a".repeat(2000))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);

    // A request that takes longer than the timeout (its body arrives too slowly) gets 504.
    let port = app.port();
    let token = app.admin_token.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            stream,
            "POST /books HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"isbn\""
        )
        .expect("send");
        // The rest of the body never comes; the server answers at its deadline.
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("join");
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"request_id\""), "{answer}");
    assert!(app.logs().contains("request timed out"));

    // CORS: a preflight from a listed origin is answered without a token...
    let preflight = |origin: &str| {
        app.anonymous(Method::OPTIONS, "/books")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type, if-match",
            )
            .send()
    };
    let response = preflight("https://staff.example:8443")
        .await
        .expect("OPTIONS");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "https://staff.example:8443"
    );
    assert!(header(&response, header::ACCESS_CONTROL_ALLOW_HEADERS).contains("authorization"));
    // ...one from elsewhere is not allowed.
    let response = preflight("https://evil.example").await.expect("OPTIONS");
    assert!(header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
    // Actual requests from a listed origin may read the response and its ETag.
    let response = app
        .request(Method::GET, "/books")
        .header(header::ORIGIN, "https://shop.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "https://shop.example"
    );
    assert!(header(&response, header::ACCESS_CONTROL_EXPOSE_HEADERS).contains("etag"));
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = spawn(Backend::Sqlite).await;
    let response = app
        .request(Method::GET, "/books")
        .header(header::ORIGIN, "https://shop.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert!(header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
    let response = app
        .anonymous(Method::OPTIONS, "/books")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .expect("OPTIONS");
    assert!(header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
}

#[tokio::test]
async fn requests_in_flight_finish_after_sigterm() {
    let mut app = spawn(Backend::Sqlite).await;
    let port = app.port();
    let token = app.admin_token.clone();
    let book = serde_json::to_vec(&hobbit()).expect("json");
    let (first_half, second_half) = book.split_at(book.len() / 2);
    let (first_half, second_half) = (first_half.to_vec(), second_half.to_vec());

    // A create whose body is half sent when the server is told to stop...
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "POST /books HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        book.len()
    )
    .expect("send head");
    stream.write_all(&first_half).expect("send half");
    stream.flush().expect("flush");
    app.signal("TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !app.logs().contains("shutting down") {
        assert!(std::time::Instant::now() < deadline, "{}", app.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...is finished and answered, and no new connection is taken.
    let answer = tokio::task::spawn_blocking(move || {
        stream.write_all(&second_half).expect("send rest");
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).expect("read");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .expect("join");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "{answer}\n{}",
        app.logs()
    );
    let status = app.terminate();
    assert!(status.success(), "{status:?}\n{}", app.logs());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
