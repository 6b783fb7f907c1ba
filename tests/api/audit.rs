//! The security audit log (issue 15, item 3): every action of API.md's list driven through the
//! API (or the command line and the start, where that is what does it) and found in
//! `GET /audit` with its actor, target, client address and request id; filters and pages;
//! admins only; a password typed as a username in no entry and no log line; retention.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CLERK_PASSWORD: &str = "tram orbit velvet quinoa";
const NEW_PASSWORD: &str = "kettle saffron lighthouse ember";
/// A password, typed into the username field: it parses as a username, and names nobody.
const TYPED_PASSWORD: &str = "hunter2.correct.zebra.staple";

/// A request from `address` (the server trusts 127.0.0.1 as a proxy) with request id `id`.
fn from(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    address: &str,
    id: &str,
) -> reqwest::RequestBuilder {
    let request = app
        .anonymous(method, path)
        .header("x-forwarded-for", address)
        .header("x-request-id", id);
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

async fn send(request: reqwest::RequestBuilder) -> Response {
    request.send().await.expect("request")
}

async fn login(app: &TestApp, username: &str, password: &str, address: &str, id: &str) -> Response {
    send(
        from(app, Method::POST, "/auth/login", None, address, id)
            .json(&json!({"username": username, "password": password})),
    )
    .await
}

/// Every entry of `query` (all pages).
async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = format!("/audit?limit=100&{query}");
    loop {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page = body(response).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit?limit=100&{query}&cursor={cursor}"),
            None => return items,
        }
    }
}

/// The one entry of `action` whose request id is `id`.
async fn the_entry(app: &TestApp, action: &str, id: &str) -> Value {
    let found: Vec<Value> = entries(app, &format!("action={action}"))
        .await
        .into_iter()
        .filter(|e| e["request_id"] == id)
        .collect();
    assert_eq!(found.len(), 1, "{action} {id}: {found:?}");
    found.into_iter().next().expect("entry")
}

fn assert_actor(entry: &Value, name: &str) {
    assert_eq!(entry["actor"]["type"], "user", "{entry}");
    assert_eq!(entry["actor"]["name"], name, "{entry}");
    assert!(
        entry["actor"]["id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{entry}"
    );
}

both_stores!(
    every_action_is_recorded_with_who_what_and_where,
    |backend| async move {
        let app = spawn_with(
            backend,
            &[("BOOKSTORE_TRUSTED_PROXIES", "127.0.0.1/32, ::1")],
        )
        .await;
        let admin = app.admin_token.clone();

        // user_created, by the admin.
        let response = send(
            from(
                &app,
                Method::POST,
                "/users",
                Some(&admin),
                "192.0.2.1",
                "audit-create",
            )
            .json(&json!({"username": "clerk", "password": CLERK_PASSWORD, "role": "staff"})),
        )
        .await;
        assert_eq!(response.status(), 201);
        let clerk_id = body(response).await["id"].as_str().expect("id").to_owned();
        let created = the_entry(&app, "user_created", "audit-create").await;
        assert_actor(&created, "admin");
        assert_eq!(created["target"], "clerk");
        assert_eq!(created["client_ip"], "192.0.2.1");
        assert_eq!(
            created["details"],
            json!({"user_id": clerk_id, "role": "staff"})
        );

        // sign_in: the user's own doing.
        let response = login(&app, "clerk", CLERK_PASSWORD, "192.0.2.2", "audit-sign-in").await;
        assert_eq!(response.status(), 200);
        let pair = body(response).await;
        let clerk = pair["access_token"].as_str().expect("token").to_owned();
        let signed_in = the_entry(&app, "sign_in", "audit-sign-in").await;
        assert_actor(&signed_in, "clerk");
        assert_eq!(signed_in["target"], "clerk");
        assert_eq!(signed_in["client_ip"], "192.0.2.2");

        // access_denied: staff asking for the audit log itself.
        let response = send(from(
            &app,
            Method::GET,
            "/audit",
            Some(&clerk),
            "192.0.2.3",
            "audit-403",
        ))
        .await;
        assert_eq!(response.status(), 403);
        let denied = the_entry(&app, "access_denied", "audit-403").await;
        assert_actor(&denied, "clerk");
        assert_eq!(denied["target"], "GET /audit");
        assert_eq!(denied["client_ip"], "192.0.2.3");
        assert_eq!(denied["details"]["role"], "staff");

        // refresh_reuse: a spent refresh token presented again.
        let spent = pair["refresh_token"].clone();
        let refresh = |id: &'static str| {
            from(&app, Method::POST, "/auth/refresh", None, "192.0.2.4", id)
                .json(&json!({"refresh_token": spent}))
        };
        assert_eq!(send(refresh("audit-refresh-1")).await.status(), 200);
        assert_eq!(send(refresh("audit-refresh-2")).await.status(), 401);
        let reuse = the_entry(&app, "refresh_reuse", "audit-refresh-2").await;
        assert_eq!(reuse["actor"]["type"], "anonymous");
        assert_eq!(reuse["target"], "clerk");
        assert_eq!(reuse["client_ip"], "192.0.2.4");
        assert_eq!(reuse["details"]["user_id"], clerk_id.as_str());

        // password_changed: the clerk's own change.
        let clerk = body(
            login(
                &app,
                "clerk",
                CLERK_PASSWORD,
                "192.0.2.2",
                "audit-sign-in-2",
            )
            .await,
        )
        .await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let response = send(
            from(
                &app,
                Method::PUT,
                "/auth/me/password",
                Some(&clerk),
                "192.0.2.5",
                "audit-password",
            )
            .json(&json!({"current_password": CLERK_PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
        assert_eq!(response.status(), 204);
        let changed = the_entry(&app, "password_changed", "audit-password").await;
        assert_actor(&changed, "clerk");
        assert_eq!(changed["target"], "clerk");
        assert_eq!(changed["client_ip"], "192.0.2.5");
        assert_eq!(changed["details"]["reset"], false);

        // role_changed, then user_disabled, by the admin.
        let user_path = format!("/users/{clerk_id}");
        let response = send(
            from(
                &app,
                Method::PATCH,
                &user_path,
                Some(&admin),
                "192.0.2.6",
                "audit-role",
            )
            .json(&json!({"role": "admin"})),
        )
        .await;
        assert_eq!(response.status(), 200);
        let role = the_entry(&app, "role_changed", "audit-role").await;
        assert_actor(&role, "admin");
        assert_eq!(role["target"], "clerk");
        assert_eq!(role["client_ip"], "192.0.2.6");
        assert_eq!(
            (&role["details"]["from"], &role["details"]["to"]),
            (&json!("staff"), &json!("admin"))
        );
        let response = send(from(
            &app,
            Method::DELETE,
            &user_path,
            Some(&admin),
            "192.0.2.7",
            "audit-disable",
        ))
        .await;
        assert_eq!(response.status(), 204);
        let disabled = the_entry(&app, "user_disabled", "audit-disable").await;
        assert_actor(&disabled, "admin");
        assert_eq!(disabled["target"], "clerk");
        assert_eq!(disabled["client_ip"], "192.0.2.7");

        // webhook_created and webhook_deleted; the URL's path (a receiver's token) is not kept.
        let response = send(
            from(
                &app,
                Method::POST,
                "/webhooks",
                Some(&admin),
                "192.0.2.8",
                "audit-hook",
            )
            .json(
                &json!({"url": "https://hooks.example.com/T0/B0/hook-path-token",
                          "event_types": ["bookstore.book.created"]}),
            ),
        )
        .await;
        assert_eq!(response.status(), 201);
        let webhook = body(response).await;
        let hook_id = webhook["id"].as_str().expect("id").to_owned();
        let secret = webhook["secret"].as_str().expect("secret").to_owned();
        let response = send(from(
            &app,
            Method::DELETE,
            &format!("/webhooks/{hook_id}"),
            Some(&admin),
            "192.0.2.9",
            "audit-unhook",
        ))
        .await;
        assert_eq!(response.status(), 204);
        for (action, id, address) in [
            ("webhook_created", "audit-hook", "192.0.2.8"),
            ("webhook_deleted", "audit-unhook", "192.0.2.9"),
        ] {
            let entry = the_entry(&app, action, id).await;
            assert_actor(&entry, "admin");
            assert_eq!(entry["target"], hook_id.as_str());
            assert_eq!(entry["client_ip"], address);
        }
        let created = the_entry(&app, "webhook_created", "audit-hook").await;
        assert_eq!(created["details"]["host"], "hooks.example.com");

        // sign_in_failed and locked_out of an account: wrong passwords from ever new addresses.
        app.add_user("clerk2", CLERK_PASSWORD, "staff").await;
        for i in 0..6 {
            let id = format!("audit-guess-{i}");
            let response = login(
                &app,
                "clerk2",
                "a wrong guess",
                &format!("198.51.100.{i}"),
                &id,
            )
            .await;
            assert_eq!(response.status(), 401);
            let failed = the_entry(&app, "sign_in_failed", &id).await;
            assert_eq!(failed["actor"]["type"], "anonymous");
            assert_eq!(failed["target"], "clerk2");
            assert_eq!(failed["client_ip"], format!("198.51.100.{i}"));
            assert_eq!(failed["details"]["reason"], "wrong_password");
        }
        let locked = the_entry(&app, "locked_out", "audit-guess-5").await;
        assert_eq!(locked["target"], "clerk2");
        assert_eq!(locked["details"]["scope"], "account");
        assert_eq!(locked["client_ip"], "198.51.100.5");

        // keys_rotated and secret_loaded: the command line and the start, the system's doing.
        let out = cli(&app, &["keys", "rotate"]);
        let kid = out
            .split_whitespace()
            .nth(3)
            .expect("kid")
            .trim_end_matches(':')
            .to_owned();
        let rotated = entries(&app, "action=keys_rotated").await;
        // The first key, made at start, and this one.
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        assert_eq!(rotated[0]["target"], kid.as_str(), "{out}");
        assert_eq!(
            rotated[0]["actor"],
            json!({"type": "system", "id": null, "name": null})
        );
        assert_eq!(rotated[0]["client_ip"], Value::Null);
        let loaded = entries(&app, "action=secret_loaded&actor=system").await;
        let names: Vec<&str> = loaded.iter().filter_map(|e| e["target"].as_str()).collect();
        assert!(names.contains(&"BOOKSTORE_ADMIN_PASSWORD"), "{loaded:?}");
        assert!(names.contains(&"BOOKSTORE_KEK"), "{loaded:?}");

        // Nothing secret anywhere in the log.
        let everything = serde_json::to_string(&entries(&app, "").await).expect("json");
        for secret in [
            CLERK_PASSWORD,
            NEW_PASSWORD,
            ADMIN_PASSWORD,
            "hook-path-token",
            secret.as_str(),
        ] {
            assert!(!everything.contains(secret), "{secret} is in the audit log");
        }
        let pair_tokens = [
            pair["access_token"].as_str(),
            pair["refresh_token"].as_str(),
        ];
        for token in pair_tokens.into_iter().flatten() {
            assert!(!everything.contains(token));
        }
    }
);

both_stores!(
    a_password_typed_as_a_username_is_in_no_entry_and_no_log_line,
    |backend| async move {
        let app = spawn_with(
            backend,
            &[("BOOKSTORE_TRUSTED_PROXIES", "127.0.0.1/32, ::1")],
        )
        .await;
        for i in 0..7 {
            let response = login(
                &app,
                TYPED_PASSWORD,
                "whatever",
                "203.0.113.77",
                &format!("typed-{i}"),
            )
            .await;
            assert!([401, 429].contains(&response.status().as_u16()));
        }
        let failed = entries(&app, "action=sign_in_failed").await;
        assert_eq!(failed.len(), 7, "{failed:?}");
        for entry in &failed {
            assert_eq!(entry["target"], Value::Null);
            assert_eq!(entry["details"]["username_known"], false);
            assert_eq!(entry["client_ip"], "203.0.113.77");
            assert!(entry["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("typed-")));
        }
        let locked = entries(&app, "action=locked_out").await;
        assert!(!locked.is_empty());
        // The name is an account key like any name that parses, and the address's: both lock,
        // and neither entry names what was typed.
        assert!(locked.iter().all(|e| e["target"].is_null()), "{locked:?}");
        assert!(
            locked.iter().any(|e| e["details"]["scope"] == "client"),
            "{locked:?}"
        );
        let rows = serde_json::to_string(&entries(&app, "").await).expect("json");
        assert!(!rows.contains(TYPED_PASSWORD), "{rows}");
        assert!(!rows.contains("hunter2"), "{rows}");
        let logs = app.logs();
        assert!(logs.contains("sign-in failed"), "{logs}");
        assert!(
            !logs.contains("hunter2"),
            "a typed password was logged:\n{logs}"
        );
    }
);

both_stores!(filters_pages_and_refusals, |backend| async move {
    let app = spawn(backend).await;
    app.add_user("clerk", CLERK_PASSWORD, "staff").await;
    let clerk = app.sign_in("clerk", CLERK_PASSWORD).await;
    let before = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..5 {
        let response = app
            .anonymous(Method::GET, "/users")
            .bearer_auth(&clerk)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 403);
    }
    // Staff may not read the log (and that, too, is recorded).
    let response = app
        .anonymous(Method::GET, "/audit")
        .bearer_auth(&clerk)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 403);
    assert_eq!(
        entries(&app, "action=access_denied&actor=clerk")
            .await
            .len(),
        6
    );
    assert_eq!(
        entries(&app, "actor=clerk").await.len(),
        7,
        "and the sign-in"
    );
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let after = entries(&app, &format!("since={}", since.replace('+', "%2B"))).await;
    assert_eq!(after.len(), 6);
    let until = entries(&app, &format!("until={since}")).await;
    assert!(until.iter().all(|e| e["action"] != "access_denied"));
    assert!(entries(&app, "until=2000-01-01T00:00:00Z").await.is_empty());

    // Pages of 2, newest first, with a Link to the next.
    let mut path = "/audit?limit=2&action=access_denied".to_owned();
    let mut seen = Vec::new();
    loop {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200);
        let link = header(&response, header::LINK);
        let page = body(response).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(link.contains("rel=\"next\""), "{link}");
                path = format!("/audit?limit=2&action=access_denied&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted);

    // Bad values are 422 problems naming the field.
    for (query, field) in [
        ("action=sign-in", "action"),
        ("actor=not%20a%20name", "actor"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("cursor=garbage", "cursor"),
        ("colour=red", ""),
    ] {
        let response = app.get(&format!("/audit?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "application/problem+json"
        );
        let problem = body(response).await;
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        }
    }
    // A cursor of one filter is refused by another.
    let page = body(app.get("/audit?limit=1&action=access_denied").await).await;
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let response = app.get(&format!("/audit?limit=1&cursor={cursor}")).await;
    assert_eq!(response.status(), 422);
    // Without a token: 401, and no entry.
    let response = app
        .anonymous(Method::GET, "/audit")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    assert_eq!(entries(&app, "actor=anonymous").await.len(), 0);
});

both_stores!(
    the_janitor_prunes_entries_past_their_retention,
    |backend| async move {
        let app = spawn_with(
            backend,
            &[
                ("BOOKSTORE_AUDIT_RETENTION", "3s"),
                ("BOOKSTORE_JANITOR_INTERVAL", "1s"),
            ],
        )
        .await;
        // What the start wrote (the first key, the secrets, the admin) goes once 3 s old.
        assert!(!entries(&app, "actor=system").await.is_empty());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if entries(&app, "actor=system").await.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "not pruned:\n{}", app.logs());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(app.logs().contains("audit_entries"));
    }
);

/// Runs the binary's CLI against the test server's store; its standard output.
fn cli(app: &TestApp, args: &[&str]) -> String {
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn");
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    let out = command.output().expect("run cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
