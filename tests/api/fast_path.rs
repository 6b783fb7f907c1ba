//! The fast path of cached reads (`BOOKSTORE_FAST_PATH`) answers exactly as the router and
//! its layers do: two processes on one store, one with the fast path and one without, get the
//! same requests one after the other, and every answer must be the same (status, every header
//! name and value, the body) but for what differs per request (the request id, the trace's
//! span, the date), and both must record the same series. The fast path must have answered
//! the requests it should: its own counter says how many.

use crate::helpers::*;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const READER_PASSWORD: &str = "lantern quarry mosaic violet";
/// Each process's budget of the reader: small, so that the test reaches the 429 in a few
/// requests; refilled once an hour, so that no refill lands between the two processes' turns.
const BURST: usize = 40;

/// An answer as compared: status, headers (per-request ones replaced by what they must look
/// like), body (a problem's `request_id` replaced likewise).
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

async fn answer(response: Response, request_id: Option<&str>) -> Answer {
    let status = response.status().as_u16();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = value.to_str().expect("ascii").to_owned();
        let value = match name.as_str() {
            "date" => "<date>".to_owned(),
            "x-request-id" => match request_id {
                Some(sent) => {
                    assert_eq!(value, sent, "the request id sent is echoed");
                    value
                }
                None => {
                    assert_eq!(value.len(), 32, "a generated request id: {value}");
                    "<generated>".to_owned()
                }
            },
            // 00-<trace id>-<our span id>-<flags>: our span is new for every request.
            "traceparent" => {
                let parts: Vec<&str> = value.split('-').collect();
                assert_eq!(parts.len(), 4, "{value}");
                assert_eq!(parts[2].len(), 16, "{value}");
                let trace = if request_id.is_some() {
                    parts[1].to_owned()
                } else {
                    "<trace>".to_owned()
                };
                format!("{}-{trace}-<span>-{}", parts[0], parts[3])
            }
            // The seconds until the budget refills count down while the test runs.
            "retry-after" => {
                assert!(value.parse::<u64>().is_ok(), "{value}");
                "<seconds>".to_owned()
            }
            // What is left of the anonymous budget (by address) depends on the unsigned
            // readiness probes of each process's start, which the test does not control.
            "ratelimit" => value
                .split(';')
                .filter(|part| !part.starts_with("t="))
                .map(|part| {
                    if value.starts_with("\"anonymous\"") && part.starts_with("r=") {
                        "r=<left>"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join(";"),
            _ => value,
        };
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let body = response.bytes().await.expect("body").to_vec();
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(mut problem) if problem.get("request_id").is_some() => {
            problem["request_id"] = json!("<request id>");
            if status == 429 {
                // "try again in N s": the seconds count down, as in Retry-After.
                let detail = problem["detail"].as_str().unwrap_or_default();
                let detail: String = detail.chars().filter(|c| !c.is_ascii_digit()).collect();
                problem["detail"] = json!(detail);
            }
            serde_json::to_vec(&problem).expect("json")
        }
        _ => body,
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends the same request to both processes, one right after the other, and asserts that
/// the answers are the same; returns the status.
async fn same(
    fast: &TestApp,
    full: &TestApp,
    what: &str,
    request: impl Fn(&TestApp) -> RequestBuilder,
    request_id: Option<&str>,
) -> u16 {
    let a = answer(request(fast).send().await.expect("send"), request_id).await;
    let b = answer(request(full).send().await.expect("send"), request_id).await;
    assert_eq!(
        a,
        b,
        "{what}: the fast path (left) and the whole stack (right) differ; body: {} / {}",
        String::from_utf8_lossy(&a.body),
        String::from_utf8_lossy(&b.body)
    );
    a.status
}

/// The series that both processes must have recorded alike, from a scrape: the HTTP series of
/// the two reads (counts, not durations), and the cache's, token checks' and rate limit's.
fn recorded(scrape: &str) -> BTreeMap<String, f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let reads = line.contains("route=\"/books/{id}\"")
                || line.contains("route=\"/books/isbn/{isbn}\"");
            (reads
                && matches!(
                    name,
                    "bookstore_http_requests_total"
                        | "bookstore_http_request_duration_seconds_count"
                        | "bookstore_http_response_body_bytes_total"
                ))
                || matches!(
                    name,
                    "bookstore_book_cache_requests_total"
                        | "bookstore_auth_token_validations_total"
                        | "bookstore_rate_limit_rejections_total"
                )
        })
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("scrape")
}

fn fast_path_answers(scrape: &str) -> f64 {
    scrape
        .lines()
        .find(|line| line.starts_with("bookstore_http_fast_path_answers_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

fn changes(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(series, value)| {
            let was = before.get(series).copied().unwrap_or(0.0);
            (series.clone(), value - was)
        })
        .filter(|(_, change)| *change != 0.0)
        .collect()
}

#[tokio::test]
async fn the_fast_path_answers_as_the_whole_stack_does() {
    let burst = BURST.to_string();
    let env = [
        ("BOOKSTORE_PUBLIC_URL", "http://bookstore.test"),
        ("BOOKSTORE_CACHE_MB", "16"),
        ("BOOKSTORE_METRICS", "on"),
        ("BOOKSTORE_RATE_LIMIT_USER", "1/h"),
        ("BOOKSTORE_RATE_LIMIT_USER_BURST", burst.as_str()),
    ];
    let fast = spawn_with(Backend::Postgres, &env).await;
    let mut without = env.to_vec();
    without.push(("BOOKSTORE_FAST_PATH", "off"));
    let full = fast.replica(&without).await;

    let book = fast.create_book(hobbit()).await;
    let by_id = format!("/books/{}", book["id"].as_str().expect("id"));
    let by_isbn = "/books/isbn/9780261103344";
    fast.add_user("reader", READER_PASSWORD, "staff").await;
    fast.add_user("leaver", READER_PASSWORD, "staff").await;
    // Each process's own sign-ins: the budgets and the revocations are each process's.
    let reader = [
        fast.sign_in("reader", READER_PASSWORD).await,
        full.sign_in("reader", READER_PASSWORD).await,
    ];
    let token = |app: &TestApp| {
        if std::ptr::eq(app, &fast) {
            reader[0].clone()
        } else {
            reader[1].clone()
        }
    };
    let get = |path: &'static str| {
        let path = path.to_owned();
        move |app: &TestApp| app.anonymous(Method::GET, &path).bearer_auth(token(app))
    };
    let by_id: &'static str = Box::leak(by_id.into_boxed_str());
    // One scrape of each before and after: a scrape is a request too (its token is checked).
    let fast_before = scrape(&fast).await;
    let answered_before = fast_path_answers(&fast_before);
    let before = [recorded(&fast_before), recorded(&scrape(&full).await)];

    let mut sent = 0;

    // The first read of each is the store's, in both processes; the rest are the cache's.
    for _ in 0..2 {
        assert_eq!(same(&fast, &full, "by id", get(by_id), None).await, 200);
        assert_eq!(same(&fast, &full, "by ISBN", get(by_isbn), None).await, 200);
        sent += 2;
    }
    let etag = header(
        &get(by_id)(&full).send().await.expect("GET"),
        reqwest::header::ETAG,
    );
    let etag_get = get(by_id)(&fast).send().await.expect("GET");
    assert_eq!(header(&etag_get, reqwest::header::ETAG), etag);
    sent += 1;
    let v2 = "application/vnd.bookstore.v2+json";
    // The status each must get; `None`: whatever the store says, the same in both.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<u16>);
    let cases: Vec<Case> = vec![
        ("v2", vec![("accept", v2)], Some(200)),
        (
            "plain JSON",
            vec![("accept", "application/json")],
            Some(200),
        ),
        (
            "v2 preferred",
            vec![("accept", "application/vnd.bookstore.v2+json, */*;q=0.1")],
            Some(200),
        ),
        (
            "no version served",
            vec![("accept", "text/html")],
            Some(406),
        ),
        (
            "not modified",
            vec![("if-none-match", etag.as_str())],
            Some(304),
        ),
        (
            "not modified, v2",
            vec![("if-none-match", etag.as_str()), ("accept", v2)],
            Some(304),
        ),
        ("not modified, any", vec![("if-none-match", "*")], Some(304)),
        (
            "modified",
            vec![("if-none-match", "\"0\", W/\"12345\"")],
            Some(200),
        ),
        (
            "compression asked",
            vec![("accept-encoding", "gzip, br")],
            Some(200),
        ),
        (
            "a consistency token",
            vec![("consistency-token", "0/1")],
            Some(200),
        ),
        (
            "a token the entry cannot satisfy",
            vec![("consistency-token", "FFFF/FFFFFFFF")],
            None,
        ),
        (
            "a malformed token",
            vec![("consistency-token", "yesterday")],
            Some(400),
        ),
        (
            "an origin",
            vec![("origin", "https://elsewhere.example")],
            Some(200),
        ),
        (
            "a forwarded address",
            vec![("x-forwarded-for", "192.0.2.7")],
            Some(200),
        ),
    ];
    for path in [by_id, by_isbn] {
        for (what, headers, status) in &cases {
            let request = |app: &TestApp| {
                headers
                    .iter()
                    .fold(get(path)(app), |request, (name, value)| {
                        request.header(*name, *value)
                    })
            };
            let what = format!("{path}, {what}");
            let got = same(&fast, &full, &what, request, None).await;
            if let Some(status) = status {
                assert_eq!(got, *status, "{what}");
            }
            sent += 1;
        }
        // Sent request id and trace: both continued.
        let traced = |app: &TestApp| {
            get(path)(app)
                .header("x-request-id", "parity-check-1")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
        };
        assert_eq!(
            same(&fast, &full, "traced", traced, Some("parity-check-1")).await,
            200
        );
        sent += 1;
    }
    // HEAD and an unknown id go the whole way, and are the same.
    let head = |app: &TestApp| app.anonymous(Method::HEAD, by_id).bearer_auth(token(app));
    assert_eq!(same(&fast, &full, "HEAD", head, None).await, 200);
    let missing = "/books/0190b6a4-5f1e-7c3a-9d2b-3e4f5a6b7c8d";
    assert_eq!(
        same(&fast, &full, "unknown id", get(missing), None).await,
        404
    );
    sent += 2;

    // A token whose sign-in ended (after a read that the fast path answered): refused alike.
    let mut ended = Vec::new();
    for app in [&fast, &full] {
        let pair = body(app.login("leaver", READER_PASSWORD).await).await;
        let access = pair["access_token"].as_str().expect("access").to_owned();
        let read = app
            .anonymous(Method::GET, by_id)
            .bearer_auth(&access)
            .send()
            .await
            .expect("GET");
        assert_eq!(read.status(), 200);
        let logout = app
            .anonymous(Method::POST, "/auth/logout")
            .bearer_auth(&access)
            .json(&json!({ "refresh_token": pair["refresh_token"] }))
            .send()
            .await
            .expect("logout");
        assert_eq!(logout.status(), 204);
        ended.push(access);
    }
    let revoked = |app: &TestApp| {
        let access = if std::ptr::eq(app, &fast) {
            &ended[0]
        } else {
            &ended[1]
        };
        app.anonymous(Method::GET, by_id).bearer_auth(access)
    };
    assert_eq!(
        same(&fast, &full, "an ended sign-in", revoked, None).await,
        401
    );
    let forged = |app: &TestApp| app.anonymous(Method::GET, by_id).bearer_auth("not-a-token");
    assert_eq!(same(&fast, &full, "a bad token", forged, None).await, 401);
    let anonymous = |app: &TestApp| app.anonymous(Method::GET, by_id);
    assert_eq!(same(&fast, &full, "no token", anonymous, None).await, 401);

    // The rest of the budget, then the 429 alike.
    let mut refused = None;
    for n in sent..BURST + 2 {
        let status = same(&fast, &full, &format!("request {n}"), get(by_id), None).await;
        if status == 429 {
            refused = Some(n);
            break;
        }
        assert_eq!(status, 200, "request {n}");
    }
    assert!(refused.is_some(), "the budget of {BURST} ran out");

    // The same series recorded, and the fast path did answer.
    let fast_scrape = scrape(&fast).await;
    let full_scrape = scrape(&full).await;
    let after = [recorded(&fast_scrape), recorded(&full_scrape)];
    assert_eq!(
        changes(&before[0], &after[0]),
        changes(&before[1], &after[1]),
        "the series recorded by the fast path's process (left) and the other's (right)"
    );
    // Of the budget's plain cached reads (the rest fell through on purpose), at least half.
    let answered = fast_path_answers(&fast_scrape) - answered_before;
    assert!(
        answered >= 20.0,
        "the fast path answered only {answered} of the requests"
    );
    assert_eq!(fast_path_answers(&full_scrape), 0.0);
}
