//! Rate limits, against the real binary: budgets per address, per user and for sign-in; the
//! RateLimit fields; trusted proxies; counters shared through Redis, and life without it.
//! The limiter does not touch the store, so these run on SQLite only.

use crate::helpers::*;
use reqwest::{header, Method, Response, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

const CHEAP: &str = "/.well-known/jwks.json";
const RATE_LIMITED: &str = "https://bookstore.dev/problems/rate-limited";

fn policy(response: &Response) -> String {
    header(response, "ratelimit-policy".parse().expect("name"))
}

fn limit(response: &Response) -> String {
    header(response, "ratelimit".parse().expect("name"))
}

/// The integer parameter `name` of a structured field like `"user";r=3;t=1`.
fn param(field: &str, name: &str) -> u64 {
    field
        .split(';')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {field:?}"))
}

async fn get_as(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> Response {
    let mut request = app.anonymous(Method::GET, path);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("GET")
}

async fn assert_rate_limited(response: Response, policy_name: &str) -> Value {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, header::CONTENT_TYPE),
        "application/problem+json"
    );
    let retry: u64 = header(&response, header::RETRY_AFTER)
        .parse()
        .expect("Retry-After");
    assert!(retry >= 1);
    assert!(policy(&response).starts_with(&format!("\"{policy_name}\";")));
    let field = limit(&response);
    assert_eq!(param(&field, "r"), 0, "{field}");
    assert_eq!(param(&field, "t"), retry, "{field}");
    let problem = body(response).await;
    assert_eq!(problem["type"], RATE_LIMITED);
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["violated-policies"][0], policy_name);
    assert!(problem["request_id"].is_string());
    problem
}

#[tokio::test]
async fn headers_on_success_and_on_429() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "4"),
        ],
    )
    .await;
    // The document says so (and, being public, counts against the address).
    let doc = body(app.get("/openapi.json").await).await;
    assert!(doc["paths"]["/books"]["get"]["responses"]["429"].is_object());
    assert!(doc["paths"]["/healthz"]["get"]["responses"]["429"].is_null());
    assert!(doc["components"]["responses"]["RateLimited"]["headers"]["RateLimit"].is_object());
    for remaining in [2, 1, 0] {
        let response = get_as(&app, CHEAP, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(policy(&response), "\"anonymous\";q=4;w=240");
        let field = limit(&response);
        assert!(field.starts_with("\"anonymous\";"), "{field}");
        assert_eq!(param(&field, "r"), remaining, "{field}");
        assert!((1..=60).contains(&param(&field, "t")), "{field}");
    }
    let retry = header(&get_as(&app, CHEAP, None).await, header::RETRY_AFTER);
    assert!(!retry.is_empty());
    assert_rate_limited(get_as(&app, CHEAP, None).await, "anonymous").await;
    // Unknown paths count against the address too.
    assert_rate_limited(get_as(&app, "/no/such/thing", None).await, "anonymous").await;

    // Health probes are never limited and carry no fields.
    let response = get_as(&app, "/healthz", None).await;
    assert_eq!(response.status(), 200);
    assert!(policy(&response).is_empty());
    // A signed-in user has a budget of their own, advertised the same way.
    let response = app.get("/books").await;
    assert_eq!(response.status(), 200);
    assert_eq!(policy(&response), "\"user\";q=200;w=2");
    assert!(limit(&response).starts_with("\"user\";r="));
}

#[tokio::test]
async fn the_sign_in_budget_is_stricter_than_the_general_one() {
    // Defaults: nothing configured.
    let started = Instant::now();
    let app = spawn(Backend::Sqlite).await;
    let general = get_as(&app, CHEAP, None).await;
    let general = policy(&general);
    let refresh = |token: &'static str| {
        app.anonymous(Method::POST, "/auth/refresh")
            .json(&serde_json::json!({"refresh_token": token}))
            .send()
    };
    let first = refresh("not-a-refresh-token").await.expect("refresh");
    assert_eq!(first.status(), 401);
    let sign_in = policy(&first);
    assert!(sign_in.starts_with("\"sign-in\";"), "{sign_in}");
    let per_second = |field: &str| param(field, "q") as f64 / param(field, "w") as f64;
    assert!(
        per_second(&sign_in) * 50.0 < per_second(&general),
        "{sign_in} vs {general}"
    );
    assert!(param(&sign_in, "q") < param(&general, "q"));

    // The spawn signed in once, and one refresh is spent: the rest of the burst of 20,
    // then 429, plus one refill for every 2 s the test has run (more on a busy machine).
    let most = |started: Instant| 20 + started.elapsed().as_secs() / 2 + 1;
    let mut allowed = 2;
    let refused = loop {
        let response = refresh("not-a-refresh-token").await.expect("refresh");
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 401);
        allowed += 1;
        assert!(allowed <= most(started), "no limit on sign-in: {allowed}");
    };
    assert!((20..=most(started)).contains(&allowed), "{allowed}");
    assert_rate_limited(refused, "sign-in").await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 429);
    // Everything else from the same address goes on.
    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);
    assert_eq!(app.get("/books").await.status(), 200);
}

#[tokio::test]
async fn users_have_budgets_of_their_own_and_bad_tokens_cannot_spend_them() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_RATE_LIMIT_USER", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_USER_BURST", "10"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "5"),
        ],
    )
    .await;
    app.add_user("clerk", "tram orbit velvet quinoa", "staff")
        .await;
    let clerk = app.sign_in("clerk", "tram orbit velvet quinoa").await;

    // Tokens that claim to be the admin but are not: a broken signature, and garbage. They
    // are refused (401) and counted against the address, never against the admin.
    let mut forged = app.admin_token.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    for token in [forged.as_str(), "garbage"].iter().cycle().take(5) {
        let response = app
            .anonymous(Method::GET, "/books")
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 401);
        assert!(policy(&response).starts_with("\"anonymous\";"));
    }
    let response = app
        .anonymous(Method::GET, "/books")
        .bearer_auth(&forged)
        .send()
        .await
        .expect("GET");
    assert_rate_limited(response, "anonymous").await;

    // The admin spent one request (creating the clerk) and has the rest.
    let response = app.get("/books").await;
    assert_eq!(response.status(), 200);
    assert_eq!(param(&limit(&response), "r"), 8);
    for _ in 0..8 {
        assert_eq!(app.get("/books").await.status(), 200);
    }
    assert_rate_limited(app.get("/books").await, "user").await;
    // The clerk's budget is untouched.
    let response = app
        .anonymous(Method::GET, "/books")
        .bearer_auth(&clerk)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(param(&limit(&response), "r"), 9);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_decides_the_bucket() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_TRUSTED_PROXIES", "127.0.0.1/32, ::1"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "2"),
        ],
    )
    .await;
    let a = Some("203.0.113.5");
    assert_eq!(get_as(&app, CHEAP, a).await.status(), 200);
    assert_eq!(get_as(&app, CHEAP, a).await.status(), 200);
    assert_rate_limited(get_as(&app, CHEAP, a).await, "anonymous").await;
    // Another client behind the same proxy has its own budget.
    assert_eq!(get_as(&app, CHEAP, Some("203.0.113.6")).await.status(), 200);
    // A client that prepends an address of its choosing is still itself: the right-most
    // address the trusted proxy appended decides.
    assert_rate_limited(
        get_as(&app, CHEAP, Some("198.51.100.1, 203.0.113.5")).await,
        "anonymous",
    )
    .await;
    // Without the header, the proxy itself is the client.
    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);

    // The sign-in throttle and its log see the real client too.
    let response = app
        .anonymous(Method::POST, "/auth/login")
        .header("x-forwarded-for", "203.0.113.77")
        .json(&serde_json::json!({"username": "admin", "password": "not the password at all"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 401);
    let logs = app.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("sign-in failed"))
        .unwrap_or_else(|| panic!("no sign-in log:\n{logs}"));
    let line: Value = serde_json::from_str(line).expect("json log");
    assert_eq!(line["client"], "203.0.113.77", "{line}");
    assert_eq!(line["span"]["client"], "203.0.113.77", "{line}");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "2"),
        ],
    )
    .await;
    assert_eq!(get_as(&app, CHEAP, Some("203.0.113.1")).await.status(), 200);
    assert_eq!(get_as(&app, CHEAP, Some("203.0.113.2")).await.status(), 200);
    // A new address in the header every time does not buy a new budget.
    assert_rate_limited(get_as(&app, CHEAP, Some("203.0.113.3")).await, "anonymous").await;
    let response = app
        .anonymous(Method::GET, CHEAP)
        .header("forwarded", "for=203.0.113.4")
        .send()
        .await
        .expect("GET");
    assert_rate_limited(response, "anonymous").await;
}

/// A server counting in Redis. The Redis timeout is long: a busy machine easily makes Redis
/// take longer than the default 200 ms, and each such timeout counts in memory for a while,
/// which these tests would read as the shared limit failing.
async fn spawn_on_redis(url: &str, prefix: &str, rate: &str, burst: &str) -> TestApp {
    spawn_with(
        Backend::Sqlite,
        &[
            ("REDIS_URL", url),
            ("BOOKSTORE_REDIS_PREFIX", prefix),
            ("BOOKSTORE_REDIS_TIMEOUT_MS", "5000"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", rate),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", burst),
        ],
    )
    .await
}

async fn readiness(app: &TestApp) -> Value {
    let response = get_as(app, "/readyz", None).await;
    assert_eq!(response.status(), 200);
    body(response).await
}

#[tokio::test]
async fn two_servers_share_one_limit_through_redis() {
    let prefix = fresh_redis_prefix();
    let a = spawn_on_redis(&redis_url(), &prefix, "1/min", "4").await;
    let b = spawn_on_redis(&redis_url(), &prefix, "1/min", "4").await;
    for app in [&a, &b] {
        assert_eq!(
            readiness(app).await["status"],
            "ok",
            "is Redis running at {}?\n{}",
            redis_url(),
            app.logs()
        );
    }
    for (app, remaining) in [(&a, 3), (&b, 2), (&a, 1), (&b, 0)] {
        let response = get_as(app, CHEAP, None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(param(&limit(&response), "r"), remaining);
    }
    assert_rate_limited(get_as(&a, CHEAP, None).await, "anonymous").await;
    assert_rate_limited(get_as(&b, CHEAP, None).await, "anonymous").await;
    assert!(a.logs().contains("rate-limit counters are in Redis"));
}

/// The limiter's rate under 64 clients as fast as they can for 4 s, against 50/s with a
/// burst of 50. GCRA admits at most the burst plus the rate times the time elapsed, whatever
/// the load: that bound is exact. A busy machine can only lower the count (a server that is
/// not scheduled serves no one, and a stall longer than the burst's second loses tokens), so
/// from below the test asks for half; bench/ measures throughput.
async fn holds_its_rate_under_64_concurrent_clients(app: &TestApp) {
    const CLIENTS: usize = 64;
    const RATE: f64 = 50.0;
    const BURST: f64 = 50.0;
    let window = Duration::from_secs(4);
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = app.client.clone();
        let url = app.url(CHEAP);
        tasks.push(tokio::spawn(async move {
            let (mut passed, mut refused) = (0u32, 0u32);
            while Instant::now() < deadline {
                match client.get(&url).send().await.map(|r| r.status()) {
                    Ok(StatusCode::OK) => passed += 1,
                    Ok(StatusCode::TOO_MANY_REQUESTS) => refused += 1,
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            (passed, refused)
        }));
    }
    let (mut passed, mut refused) = (0, 0);
    for task in tasks {
        let (p, r) = task.await.expect("client");
        passed += p;
        refused += r;
    }
    // Every decision was taken between `started` and now.
    let elapsed = started.elapsed().as_secs_f64();
    let most = BURST + RATE * elapsed + 1.0;
    let least = (BURST + RATE * window.as_secs_f64()) / 2.0;
    let passed = f64::from(passed);
    assert!(
        passed <= most,
        "{passed} passed in {elapsed:.2} s: more than the burst plus the rate ({most:.0})"
    );
    assert!(
        passed >= least,
        "{passed} passed in {elapsed:.2} s: fewer than half of what the rate allows ({least:.0}), \
         {refused} refused"
    );
    assert!(refused > 0, "the clients never met the limit");
}

#[tokio::test]
async fn the_shared_limit_holds_its_rate_under_64_concurrent_clients() {
    let app = spawn_on_redis(&redis_url(), &fresh_redis_prefix(), "50/s", "50").await;
    assert_eq!(readiness(&app).await["status"], "ok", "{}", app.logs());
    holds_its_rate_under_64_concurrent_clients(&app).await;
    assert_eq!(readiness(&app).await["status"], "ok", "{}", app.logs());
}

#[tokio::test]
async fn the_local_limit_holds_its_rate_under_64_concurrent_clients() {
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "50/s"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "50"),
        ],
    )
    .await;
    holds_its_rate_under_64_concurrent_clients(&app).await;
}

#[tokio::test]
async fn without_redis_the_service_keeps_serving_with_local_limits() {
    let (_reserved, port) = closed_port();
    let closed = format!("redis://127.0.0.1:{port}");
    let app = spawn_on_redis(&closed, &fresh_redis_prefix(), "1/min", "2").await;
    let ready = readiness(&app).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    let detail = ready["detail"].as_str().expect("detail");
    assert!(detail.contains("Redis is unreachable"), "{detail}");
    assert!(detail.contains("this replica alone"), "{detail}");
    // Names, not the Redis client's error text (which names hosts and ports).
    assert_eq!(ready["failed"], serde_json::json!(["redis"]), "{ready}");
    assert!(!ready.to_string().contains("127.0.0.1"), "{ready}");
    assert!(
        !ready.to_string().to_lowercase().contains("refused"),
        "{ready}"
    );

    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);
    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);
    for _ in 0..20 {
        assert_rate_limited(get_as(&app, CHEAP, None).await, "anonymous").await;
    }
    // Let the background probe fail a few more times: still one warning for the outage.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.get("/books").await.status(), 200);
    // One warning per outage for each use of Redis (the shared limits and the shared book
    // cache each say what they fall back to), never one per failed call or probe.
    let logs = app.logs();
    for consequence in [
        "Redis is unreachable: each replica counts rate limits on its own",
        "Redis is unreachable: books are read from the store",
    ] {
        assert_eq!(
            logs.matches(consequence).count(),
            1,
            "one warning per outage:\n{logs}"
        );
    }
    assert_eq!(logs.matches("Redis is unreachable").count(), 2, "{logs}");
    // A book read tried the shared cache too: readiness names both consequences, once.
    let created = app.create_book(hobbit()).await;
    let path = format!("/books/{}", created["id"].as_str().expect("id"));
    assert_eq!(app.get(&path).await.status(), 200);
    let ready = readiness(&app).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["failed"], serde_json::json!(["redis"]), "{ready}");
    let detail = ready["detail"].as_str().expect("detail");
    assert!(detail.contains("this replica alone"), "{detail}");
    assert!(detail.contains("read from the store"), "{detail}");
}

/// A Redis that takes connections and never answers costs every call the whole timeout. The
/// timeout here is long (3 s) so that the bound holds on a busy machine: a request that waited
/// for Redis even once would take 3 s, 20 requests served from memory take milliseconds.
#[tokio::test]
async fn a_hung_redis_does_not_slow_requests_down() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://{}", silent.local_addr().expect("address"));
    let prefix = fresh_redis_prefix();
    let app = spawn_with(
        Backend::Sqlite,
        &[
            ("REDIS_URL", url.as_str()),
            ("BOOKSTORE_REDIS_PREFIX", prefix.as_str()),
            ("BOOKSTORE_REDIS_TIMEOUT_MS", "3000"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS", "1/min"),
            ("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "2"),
        ],
    )
    .await;
    assert_eq!(readiness(&app).await["status"], "degraded");
    let started = Instant::now();
    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);
    assert_eq!(get_as(&app, CHEAP, None).await.status(), 200);
    for _ in 0..18 {
        assert_rate_limited(get_as(&app, CHEAP, None).await, "anonymous").await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a hung Redis slowed requests down: {:?}",
        started.elapsed()
    );
    drop(silent);
}
