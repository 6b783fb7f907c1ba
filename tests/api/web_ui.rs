//! The web UI (issue 14): served from the binary at `/` with strict headers and caching by
//! content, within its size budget; and the cookie mode of `/auth/login`, `/auth/refresh` and
//! `/auth/logout` that keeps the refresh token out of scripts' reach (the browser tests are in
//! tests/ui, run by scripts/ui-test).

use crate::both_stores;
use crate::helpers::*;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Response};
use serde_json::json;

/// First load: the page, its style sheet and every module, compressed.
const BUDGET_BYTES: usize = 150 * 1024;

fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `name=value` of a `Set-Cookie`, for sending back.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.anonymous(Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn the_ui_is_served_with_strict_headers_cached_by_content_and_within_budget() {
    let app = spawn(Backend::Sqlite).await;
    let page = get_with(&app, "/", &[]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        header(&page, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    let csp = header(&page, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(&page, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header(&page, header::CACHE_CONTROL), "no-cache");
    let page_etag = header(&page, header::ETAG);
    assert!(page_etag.starts_with("W/\""), "{page_etag}");
    let html = page.text().await.expect("page");
    // Nothing inline for the policy to block.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );

    let revalidated = get_with(&app, "/", &[("if-none-match", page_etag.as_str())]).await;
    assert_eq!(revalidated.status(), 304);

    // The assets, under the version the page names.
    let start = html.find("/ui/").expect("an asset URL");
    let version = html[start + 4..]
        .split('/')
        .next()
        .expect("version")
        .to_owned();
    assert_eq!(version.len(), 16, "{version}");
    let mut files = vec!["app.css".to_owned(), "app.js".to_owned()];
    let mut seen = std::collections::HashSet::new();
    let mut compressed = html.len();
    while let Some(file) = files.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let path = format!("/ui/{version}/{file}");
        let plain = get_with(&app, &path, &[]).await;
        assert_eq!(plain.status(), 200, "{path}");
        let expected = if file.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(header(&plain, header::CONTENT_TYPE), expected, "{path}");
        assert_eq!(
            header(&plain, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        let etag = header(&plain, header::ETAG);
        let source = plain.text().await.expect("asset");
        let again = get_with(&app, &path, &[("if-none-match", etag.as_str())]).await;
        assert_eq!(again.status(), 304, "{path}");
        let brotli = get_with(&app, &path, &[("accept-encoding", "br")]).await;
        let size = brotli.bytes().await.expect("asset").len();
        compressed += size;
        // Every module it imports, statically or lazily, is there too; the screens are
        // imported by name from the routes table (`[/^\/…$/, 'name']`).
        if file == "app.js" {
            for route in source.split(", '").skip(1) {
                if let Some((name, _)) = route.split_once("']") {
                    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()) {
                        files.push(format!("views/{name}.js"));
                    }
                }
            }
        }
        let dir = file
            .rsplit_once('/')
            .map(|(d, _)| format!("{d}/"))
            .unwrap_or_default();
        for quote in source.split(['\'', '`']).skip(1).step_by(2) {
            if let Some(relative) = quote.strip_suffix(".js") {
                let joined = match relative.strip_prefix("../") {
                    Some(up) => up.to_owned(),
                    None => format!("{dir}{}", relative.trim_start_matches("./")),
                };
                if !joined.contains("${") && relative.starts_with('.') {
                    files.push(format!("{joined}.js"));
                }
            }
        }
    }
    assert!(seen.len() >= 16, "the modules found: {seen:?}");
    assert!(
        compressed < BUDGET_BYTES,
        "{compressed} bytes compressed for {seen:?}"
    );
    let large = get_with(
        &app,
        &format!("/ui/{version}/app.js"),
        &[("accept-encoding", "br")],
    )
    .await;
    assert_eq!(header(&large, header::CONTENT_ENCODING), "br");

    // Another version's files, or a file that is not the UI's: 404, never a mix.
    for path in [
        "/ui/0000000000000000/app.js".to_owned(),
        format!("/ui/{version}/nothing.js"),
        format!("/ui/{version}/../Cargo.toml"),
    ] {
        let missing = get_with(&app, &path, &[]).await;
        assert_eq!(missing.status(), 404, "{path}");
    }
}

both_stores!(
    cookie_mode_keeps_the_refresh_token_out_of_the_body_and_needs_the_header,
    |backend| async move {
        let app = spawn(backend).await;
        // Body mode as before.
        let plain = app.login("admin", ADMIN_PASSWORD).await;
        assert!(set_cookie(&plain).is_none());
        assert!(body(plain).await["refresh_token"].is_string());

        let login = app
            .anonymous(Method::POST, "/auth/login")
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "refresh_cookie": true}))
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), 200);
        let cookie = set_cookie(&login).expect("Set-Cookie");
        assert!(cookie.starts_with("bookstore_refresh=rt_"), "{cookie}");
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/auth",
            "Max-Age=",
        ] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert_eq!(header(&login, header::CACHE_CONTROL), "no-store");
        let tokens = body(login).await;
        assert!(tokens.get("refresh_token").is_none(), "{tokens}");
        let first = cookie_pair(&cookie);

        let refresh = |cookie: String, csrf: bool| {
            let mut request = app
                .anonymous(Method::POST, "/auth/refresh")
                .header(
                    header::COOKIE,
                    HeaderValue::from_str(&cookie).expect("cookie"),
                )
                .json(&json!({"refresh_cookie": true}));
            if csrf {
                request = request.header("x-requested-with", "bookstore-ui");
            }
            request.send()
        };

        // No token at all: the field is named, as before the cookie mode.
        let none = app
            .anonymous(Method::POST, "/auth/refresh")
            .json(&json!({}))
            .send()
            .await
            .expect("refresh");
        assert_eq!(none.status(), 422);
        assert_eq!(body(none).await["errors"][0]["field"], "refresh_token");
        let both = app
            .anonymous(Method::POST, "/auth/refresh")
            .json(&json!({"refresh_token": "rt_x", "refresh_cookie": true}))
            .send()
            .await
            .expect("refresh");
        assert_eq!(both.status(), 422);
        // Cookie mode without the cookie: nothing to refresh.
        let cookieless = app
            .anonymous(Method::POST, "/auth/refresh")
            .header("x-requested-with", "bookstore-ui")
            .json(&json!({"refresh_cookie": true}))
            .send()
            .await
            .expect("refresh");
        assert_eq!(cookieless.status(), 401);

        // The cookie alone authorises nothing: not a refresh without the header...
        let refused = refresh(first.clone(), false).await.expect("refresh");
        assert_eq!(refused.status(), 401);
        assert!(body(refused).await["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Requested-With"));
        // ...nor any other route (they need the bearer token).
        let write = app
            .anonymous(Method::POST, "/books")
            .header(
                header::COOKIE,
                HeaderValue::from_str(&first).expect("cookie"),
            )
            .json(&hobbit())
            .send()
            .await
            .expect("write");
        assert_eq!(write.status(), 401);

        // With the header: a new access token, and the new refresh token in the cookie.
        let renewed = refresh(first.clone(), true).await.expect("refresh");
        assert_eq!(renewed.status(), 200);
        let second = cookie_pair(&set_cookie(&renewed).expect("a new cookie"));
        assert_ne!(first, second);
        let pair = body(renewed).await;
        assert!(pair.get("refresh_token").is_none(), "{pair}");
        let access = pair["access_token"].as_str().expect("access").to_owned();
        let me = app
            .anonymous(Method::GET, "/auth/me")
            .bearer_auth(&access)
            .send()
            .await
            .expect("me");
        assert_eq!(body(me).await["username"], "admin");

        // The spent cookie again: refused and removed, and (reuse) the whole sign-in ends.
        let replayed = refresh(first, true).await.expect("refresh");
        assert_eq!(replayed.status(), 401);
        assert!(set_cookie(&replayed)
            .expect("removal")
            .contains("Max-Age=0"));
        assert_eq!(refresh(second, true).await.expect("refresh").status(), 401);

        // Sign-out in cookie mode: ends the sign-in named by the cookie, and removes it.
        let login = app
            .anonymous(Method::POST, "/auth/login")
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "refresh_cookie": true}))
            .send()
            .await
            .expect("login");
        let cookie = cookie_pair(&set_cookie(&login).expect("Set-Cookie"));
        let access = body(login).await["access_token"]
            .as_str()
            .expect("access")
            .to_owned();
        let out = app
            .anonymous(Method::POST, "/auth/logout")
            .bearer_auth(&access)
            .header(
                header::COOKIE,
                HeaderValue::from_str(&cookie).expect("cookie"),
            )
            .json(&json!({"refresh_cookie": true}))
            .send()
            .await
            .expect("logout");
        assert_eq!(out.status(), 204);
        assert!(set_cookie(&out).expect("removal").contains("Max-Age=0"));
        assert_eq!(refresh(cookie, true).await.expect("refresh").status(), 401);
        let me = app
            .anonymous(Method::GET, "/auth/me")
            .bearer_auth(&access)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), 401);
    }
);
