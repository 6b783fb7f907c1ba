//! Sign-in hardening (issue 11): names bounded before they are stored or logged, no lock-out
//! of clients that have signed in before, no detail in `WWW-Authenticate`, and key rotation
//! that publishes before it signs.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const CLERK_PASSWORD: &str = "tram orbit velvet quinoa";

both_stores!(
    sign_in_names_that_cannot_be_accounts_are_neither_stored_nor_logged,
    |backend| async move {
        let app = spawn(backend).await;
        let typed_password = "my secret Passw0rd goes here";
        let long = "x".repeat(100_000);
        for username in [typed_password, long.as_str()] {
            let response = app.login(username, "whatever it is").await;
            assert_eq!(response.status(), 401);
        }
        // Only the client address counted those failures: no key was made of the names.
        assert_eq!(app.count("login_failures").await, 2);
        // A NUL cannot be stored at all: refused at the boundary, before any sign-in work.
        let response = app.login("bad\u{0}name", "whatever it is").await;
        assert_eq!(response.status(), 422);
        assert_eq!(app.count("login_failures").await, 2);
        let logs = app.logs();
        assert!(
            !logs.contains(typed_password),
            "a typed password was logged"
        );
        assert!(!logs.contains(&"x".repeat(100)), "a long name was logged");
        assert!(logs.contains("sign-in failed"));
        // A name that parses is an account key; a failed sign-in logs no name at all (the
        // audit log names existing accounts only), a successful one the folded name.
        let response = app.login(" Clerk ", "whatever it is").await;
        assert_eq!(response.status(), 401);
        assert_eq!(app.count("login_failures").await, 4);
        assert!(!app.logs().contains(r#""username":"clerk""#));
        assert!(app.logs().contains(r#""username":"admin""#));
    }
);

/// A sign-in from `address` (the server trusts 127.0.0.1 as a proxy).
async fn login_from(
    app: &TestApp,
    address: &str,
    username: &str,
    password: &str,
    device_token: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"username": username, "password": password});
    if let Some(token) = device_token {
        body["device_token"] = json!(token);
    }
    app.anonymous(Method::POST, "/auth/login")
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .expect("login")
}

fn device_token(pair: &Value) -> String {
    pair["device_token"]
        .as_str()
        .expect("device_token")
        .to_owned()
}

/// Guesses at `username` from ever new addresses until the account is throttled for at least
/// two more seconds (each failure past the fifth doubles the wait), so that what follows sees
/// it locked however slow the machine.
async fn lock_out(app: &TestApp, username: &str, next_address: &mut u32) {
    loop {
        *next_address += 1;
        let address = format!("10.{}.{}.1", *next_address / 250, *next_address % 250);
        let response = login_from(app, &address, username, "guess guess guess", None).await;
        match response.status().as_u16() {
            401 => continue,
            429 => {
                let retry: u64 = header(&response, header::RETRY_AFTER)
                    .parse()
                    .expect("Retry-After");
                if retry >= 3 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
}

both_stores!(
    failures_elsewhere_do_not_lock_out_a_client_that_signed_in_before,
    |backend| async move {
        let app = spawn_with(
            backend,
            &[("BOOKSTORE_TRUSTED_PROXIES", "127.0.0.1/32, ::1")],
        )
        .await;
        app.add_user("clerk", CLERK_PASSWORD, "staff").await;
        let till = "198.51.100.10";
        let response = login_from(&app, till, "clerk", CLERK_PASSWORD, None).await;
        assert_eq!(response.status(), 200);
        let device = device_token(&body(response).await);
        assert!(device.starts_with("dt_"));
        let admin_device = {
            let response = login_from(&app, "198.51.100.20", "admin", ADMIN_PASSWORD, None).await;
            device_token(&body(response).await)
        };

        // An attacker guesses from many addresses until the account is throttled: a new
        // client is slowed down, even with the right password...
        let mut addresses = 0;
        lock_out(&app, "clerk", &mut addresses).await;
        let response = login_from(&app, "192.0.2.50", "clerk", CLERK_PASSWORD, None).await;
        assert_eq!(response.status(), 429);
        // ...but the till that signed in before is not, and gets a new device token.
        let response = login_from(&app, till, "clerk", CLERK_PASSWORD, Some(&device)).await;
        assert_eq!(response.status(), 200);
        let renewed = device_token(&body(response).await);
        assert_ne!(renewed, device);

        // The device token was replaced: the old one is a stranger's again; and a device token
        // only vouches for its own account.
        lock_out(&app, "clerk", &mut addresses).await;
        let response = login_from(&app, till, "clerk", CLERK_PASSWORD, Some(&device)).await;
        assert_eq!(response.status(), 429);
        let response = login_from(&app, till, "clerk", CLERK_PASSWORD, Some(&admin_device)).await;
        assert_eq!(response.status(), 429);
        let response = login_from(&app, till, "clerk", CLERK_PASSWORD, Some(&renewed)).await;
        assert_eq!(response.status(), 200);
        let renewed = device_token(&body(response).await);

        // A stolen device token guesses no faster: it has a throttle of its own (five free
        // failures, then the same curve).
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let response = login_from(
                &app,
                "203.0.113.99",
                "clerk",
                "guess guess guess",
                Some(&renewed),
            )
            .await;
            statuses.push(response.status().as_u16());
        }
        assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
        assert_eq!(statuses[6], 429, "{statuses:?}");
    }
);

both_stores!(
    refused_tokens_get_one_generic_challenge,
    |backend| async move {
        let app = spawn(backend).await;
        let mut parts: Vec<String> = app.admin_token.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        let bad_signature = parts.join(".");
        let expected = r#"Bearer realm="bookstore", error="invalid_token", error_description="The access token is invalid, expired or revoked.""#;
        for token in [
            bad_signature.as_str(),
            "not.a.token",
            "eyJhbGciOiJFZERTQSJ9.e30.x",
            "a.b",
        ] {
            let response = app
                .anonymous(Method::GET, "/books")
                .bearer_auth(token)
                .send()
                .await
                .expect("get");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
            assert_eq!(
                header(&response, header::WWW_AUTHENTICATE),
                expected,
                "{token}"
            );
            let problem = body(response).await;
            assert_eq!(
                problem["detail"],
                "The access token is invalid, expired or revoked."
            );
        }
        // The detail is for the operator.
        let logs = app.logs();
        assert!(logs.contains("access token refused"));
        assert!(
            logs.contains("InvalidSignature") || logs.contains("malformed"),
            "{logs}"
        );
    }
);

/// Runs the binary's CLI against the test server's store.
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

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

async fn jwks(app: &TestApp) -> (Vec<String>, String) {
    let response = app
        .anonymous(Method::GET, "/.well-known/jwks.json")
        .send()
        .await
        .expect("jwks");
    let cache = header(&response, header::CACHE_CONTROL);
    let kids = body(response).await["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    (kids, cache)
}

both_stores!(
    a_rotated_key_is_published_before_it_signs,
    |backend| async move {
        let app = spawn(backend).await;
        let old = kid(&app.admin_token);
        let rotated_at = chrono::Utc::now();
        let out = cli(&app, &["keys", "rotate"]);
        assert!(out.contains("published in the JWKS now"), "{out}");

        // The next token is still signed with the old key, while the JWKS already lists the
        // new one (a sign-in re-reads the keys; so does the server every 30 s).
        let token = app.sign_in("admin", ADMIN_PASSWORD).await;
        assert_eq!(kid(&token), old);
        let (kids, cache) = jwks(&app).await;
        assert_eq!(kids.len(), 2, "{kids:?}");
        let new = kids.iter().find(|k| **k != old).expect("new kid").clone();
        assert_eq!(cache, "public, max-age=300");

        // `keys list` says when the new key signs: after every cached JWKS has expired.
        let listing = cli(&app, &["keys", "list"]);
        let row = |kid: &str| -> Vec<String> {
            listing
                .lines()
                .find(|l| l.starts_with(kid))
                .unwrap_or_else(|| panic!("{kid} missing:\n{listing}"))
                .split('\t')
                .map(str::to_owned)
                .collect()
        };
        let (new_row, old_row) = (row(&new), row(&old));
        assert_eq!(new_row[1], "published", "{listing}");
        assert_eq!(old_row[1], "signing", "{listing}");
        let signs_from = chrono::DateTime::parse_from_rfc3339(&new_row[2]).expect("time");
        assert!(
            signs_from >= rotated_at + chrono::Duration::seconds(300),
            "{listing}"
        );
        assert_eq!(
            old_row[3], new_row[2],
            "the old key retires when the new signs"
        );

        // An emergency rotation signs at once.
        let out = cli(&app, &["keys", "rotate", "--immediately"]);
        assert!(out.contains("signing now"), "{out}");
        let token = app.sign_in("admin", ADMIN_PASSWORD).await;
        let newest = kid(&token);
        assert!(newest != old && newest != new);
        let (kids, _) = jwks(&app).await;
        assert!(kids.contains(&newest) && kids.contains(&old) && kids.contains(&new));
        for token in [&app.admin_token, &token] {
            let status = app
                .anonymous(Method::GET, "/auth/me")
                .bearer_auth(token)
                .send()
                .await
                .expect("me")
                .status();
            assert_eq!(status, 200);
        }
    }
);

/// Signs `header.payload` with the server's own current key, read from its store and opened
/// with its key-encryption key: tokens only the server could have made.
async fn sign_as_the_server(app: &TestApp, header: serde_json::Value, payload: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let kek_text = std::fs::read_to_string(app.data_dir.path().join("kek")).expect("kek");
    let kek = bookstore_auth::Kek::from_base64(&kek_text).expect("kek");
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let stored = app
        .store()
        .await
        .users()
        .signing_keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.kid == kid)
        .expect("the token's key");
    let pkcs8 = kek.open(&stored.sealed_private_key, &kid).expect("open");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).expect("pair");
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let signature = pair.sign(format!("{h}.{payload}").as_bytes());
    format!(
        "{h}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

both_stores!(
    our_own_tokens_with_a_foreign_typ_or_crit_are_refused,
    |backend| async move {
        let app = spawn(backend).await;
        let payload = app
            .admin_token
            .split('.')
            .nth(1)
            .expect("payload")
            .to_owned();
        let kid = kid(&app.admin_token);
        let me = |token: String| {
            let request = app.anonymous(Method::GET, "/auth/me").bearer_auth(token);
            async move { request.send().await.expect("me").status() }
        };
        // The control: the same header the server writes verifies.
        let same = json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"});
        assert_eq!(
            me(sign_as_the_server(&app, same, &payload).await).await,
            200
        );
        for header in [
            json!({"alg": "EdDSA", "kid": kid, "typ": "refresh+jwt"}),
            json!({"alg": "EdDSA", "kid": kid, "typ": "dpop+jwt"}),
            json!({"alg": "EdDSA", "kid": kid, "crit": ["urn:x"], "urn:x": true}),
        ] {
            let token = sign_as_the_server(&app, header.clone(), &payload).await;
            assert_eq!(me(token).await, 401, "{header} was accepted");
        }
    }
);

both_stores!(
    passwords_over_a_kibibyte_are_refused_before_any_hashing,
    |backend| async move {
        let app = spawn(backend).await;
        let clerk = app.add_user("clerk", CLERK_PASSWORD, "staff").await;
        // 257 four-byte characters: 1028 bytes, although only 257 characters.
        let over = "\u{1F511}".repeat(257);
        let huge = "x".repeat(100_000);

        // Sign-in: answered exactly as a wrong password is (one answer for every failure),
        // and counted as one, for the account and the address.
        let wrong = app.login("clerk", "not the password at all").await;
        assert_eq!(wrong.status(), 401);
        let mut wrong = body(wrong).await;
        for password in [over.as_str(), huge.as_str()] {
            let response = app.login("clerk", password).await;
            assert_eq!(response.status(), 401);
            let mut answer = body(response).await;
            for problem in [&mut wrong, &mut answer] {
                problem
                    .as_object_mut()
                    .expect("problem")
                    .remove("request_id");
            }
            assert_eq!(answer, wrong);
        }
        assert_eq!(app.count("login_failures").await, 6);
        app.sign_in("clerk", CLERK_PASSWORD).await;

        // Changing one's own password: the current one is bounded, the new one too.
        let token = app.sign_in("admin", ADMIN_PASSWORD).await;
        let refused = |method: Method, path: String, body: Value| {
            let request = app.anonymous(method, &path).bearer_auth(&token).json(&body);
            async move {
                let response = request.send().await.expect("request");
                assert_eq!(response.status(), 422, "{path} {body}");
                let problem = crate::helpers::body(response).await;
                problem["errors"][0]["field"]
                    .as_str()
                    .expect("field")
                    .to_owned()
            }
        };
        let me = "/auth/me/password".to_owned();
        let change = json!({"current_password": over, "new_password": "mosaic harbour lantern"});
        assert_eq!(
            refused(Method::PUT, me.clone(), change).await,
            "current_password"
        );
        let change = json!({"current_password": ADMIN_PASSWORD, "new_password": huge});
        assert_eq!(refused(Method::PUT, me, change).await, "new_password");
        let admin_id = body(
            app.anonymous(Method::GET, "/auth/me")
                .bearer_auth(&token)
                .send()
                .await
                .expect("me"),
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let own = json!({"password": "mosaic harbour lantern", "current_password": huge});
        let path = format!("/users/{admin_id}");
        assert_eq!(refused(Method::PATCH, path, own).await, "current_password");

        // Creating a user and resetting a password.
        let create = json!({"username": "clerk2", "password": huge, "role": "staff"});
        assert_eq!(
            refused(Method::POST, "/users".into(), create).await,
            "password"
        );
        let reset = json!({"password": over});
        let path = format!("/users/{clerk}");
        assert_eq!(refused(Method::PATCH, path, reset).await, "password");

        // Nothing changed.
        app.sign_in("admin", ADMIN_PASSWORD).await;
        app.sign_in("clerk", CLERK_PASSWORD).await;
        assert_eq!(app.count("users").await, 2);
    }
);
