//! Sign-in, tokens, revocation, throttling and user management, against the real binary.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{header, Method};
use serde_json::json;

const STAFF_PASSWORD: &str = "tram orbit velvet quinoa";

both_stores!(sign_in_and_refresh_rotation, |backend| async move {
    let app = spawn(backend).await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, header::CACHE_CONTROL), "no-store");
    let pair = body(response).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["refresh_expires_in"].as_i64().expect("secs") > 40_000);
    let first_refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();

    // The access token works; the refresh token is no access token.
    let access = pair["access_token"].as_str().expect("access");
    let me = app
        .anonymous(Method::GET, "/auth/me")
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me = body(me).await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none());
    let refused = app
        .anonymous(Method::GET, "/auth/me")
        .bearer_auth(&first_refresh)
        .send()
        .await
        .expect("me");
    assert_eq!(refused.status(), 401);

    // Rotation: the old refresh token is spent.
    let refresh = |token: String| {
        app.anonymous(Method::POST, "/auth/refresh")
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let second = refresh(first_refresh.clone()).await.expect("refresh");
    assert_eq!(second.status(), 200);
    let second_refresh = body(second).await["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(second_refresh, first_refresh);
    // Replaying the spent token revokes the family: the newer token dies too.
    assert_eq!(refresh(first_refresh).await.expect("refresh").status(), 401);
    assert_eq!(
        refresh(second_refresh).await.expect("refresh").status(),
        401
    );
    assert!(app.logs().contains("refresh_token_reuse"));

    // Logout revokes the family of the token given.
    let pair = body(app.login("admin", ADMIN_PASSWORD).await).await;
    let response = app
        .anonymous(Method::POST, "/auth/logout")
        .bearer_auth(pair["access_token"].as_str().expect("access"))
        .json(&json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);
    let refresh_after_logout = refresh(pair["refresh_token"].as_str().expect("r").to_owned())
        .await
        .expect("refresh");
    assert_eq!(refresh_after_logout.status(), 401);
});

both_stores!(
    wrong_password_and_unknown_user_look_the_same,
    |backend| async move {
        let app = spawn(backend).await;
        let wrong = app.login("admin", "not the password at all").await;
        let unknown = app.login("nobody-here", "not the password at all").await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(unknown.status(), 401);
        let (mut wrong, mut unknown) = (body(wrong).await, body(unknown).await);
        wrong["request_id"] = json!(null);
        unknown["request_id"] = json!(null);
        assert_eq!(wrong, unknown);
        let logs = app.logs();
        assert!(logs.contains("sign-in failed"));
        assert!(
            !logs.contains("not the password at all"),
            "a password reached the logs"
        );
        assert!(!logs.contains("$argon2id$"), "a hash reached the logs");
    }
);

both_stores!(
    failed_sign_ins_are_throttled_and_admins_unlock,
    |backend| async move {
        let app = spawn(backend).await;
        let user_id = app.add_user("clerk", STAFF_PASSWORD, "staff").await;
        for attempt in 1..=6 {
            let response = app.login("clerk", "wrong wrong wrong wrong").await;
            assert_eq!(response.status(), 401, "attempt {attempt}");
        }
        // Sixth failure: 2 s wait; even the right password must wait.
        let response = app.login("clerk", STAFF_PASSWORD).await;
        assert_eq!(response.status(), 429);
        let retry: u64 = header(&response, header::RETRY_AFTER)
            .parse()
            .expect("Retry-After");
        assert!((1..=2).contains(&retry), "{retry}");
        assert!(app.logs().contains("sign-in throttled"));

        let response = app
            .request(Method::POST, &format!("/users/{user_id}/unlock"))
            .send()
            .await
            .expect("unlock");
        assert_eq!(response.status(), 204);
        // The per-client counter still runs (every test client is 127.0.0.1), so wait it out.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let response = app.login("clerk", STAFF_PASSWORD).await;
        assert_eq!(response.status(), 200);
    }
);

both_stores!(revocation_bites_at_once, |backend| async move {
    let app = spawn(backend).await;
    let id = app.add_user("clerk", STAFF_PASSWORD, "staff").await;
    let app = &app;
    let me = |token: String| async move {
        app.anonymous(Method::GET, "/auth/me")
            .bearer_auth(token)
            .send()
            .await
            .expect("me")
            .status()
    };
    let patch = |change: serde_json::Value| {
        app.request(Method::PATCH, &format!("/users/{id}"))
            .json(&change)
            .send()
    };

    // Role change.
    let token = app.sign_in("clerk", STAFF_PASSWORD).await;
    assert_eq!(me(token.clone()).await, 200);
    assert_eq!(
        patch(json!({"role": "admin"}))
            .await
            .expect("patch")
            .status(),
        200
    );
    assert_eq!(me(token).await, 401);

    // Password reset.
    let token = app.sign_in("clerk", STAFF_PASSWORD).await;
    let new_password = "saffron lighthouse kettle";
    assert_eq!(
        patch(json!({"password": new_password}))
            .await
            .expect("patch")
            .status(),
        200
    );
    assert_eq!(me(token).await, 401);
    assert_eq!(app.login("clerk", STAFF_PASSWORD).await.status(), 401);

    // Disable.
    let token = app.sign_in("clerk", new_password).await;
    let response = app
        .request(Method::DELETE, &format!("/users/{id}"))
        .send()
        .await
        .expect("disable");
    assert_eq!(response.status(), 204);
    assert_eq!(me(token).await, 401);
    assert_eq!(app.login("clerk", new_password).await.status(), 401);

    // Own password change ends one's own sessions, and checks the current password.
    let token = app.sign_in("admin", ADMIN_PASSWORD).await;
    let response = app
        .anonymous(Method::PUT, "/auth/me/password")
        .bearer_auth(&token)
        .json(&json!({"current_password": "wrong", "new_password": "mosaic harbour lantern"}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 422);
    let response = app
        .anonymous(Method::PUT, "/auth/me/password")
        .bearer_auth(&token)
        .json(&json!({"current_password": ADMIN_PASSWORD, "new_password": "password12345"}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 422, "a common password was accepted");
    let response = app
        .anonymous(Method::PUT, "/auth/me/password")
        .bearer_auth(&token)
        .json(
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "mosaic harbour lantern"}),
        )
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 204);
    // The sign-in that made the change goes on (sessions.rs: the others end).
    assert_eq!(me(token).await, 200);
    app.sign_in("admin", "mosaic harbour lantern").await;
});

both_stores!(user_management_is_for_admins_only, |backend| async move {
    let app = spawn(backend).await;
    let staff_id = app.add_user("clerk", STAFF_PASSWORD, "staff").await;
    let staff = app.sign_in("clerk", STAFF_PASSWORD).await;
    for (method, path) in [
        (Method::GET, "/users".to_owned()),
        (Method::GET, format!("/users/{staff_id}")),
        (Method::PATCH, format!("/users/{staff_id}")),
    ] {
        let response = app
            .anonymous(method.clone(), &path)
            .bearer_auth(&staff)
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    // Mass assignment of server-owned fields is refused, not ignored.
    for payload in [
        json!({"username": "eve", "password": STAFF_PASSWORD, "role": "staff", "id": staff_id}),
        json!({"username": "eve", "password": STAFF_PASSWORD, "role": "staff", "password_hash": "x"}),
        json!({"username": "eve", "password": STAFF_PASSWORD, "role": "root"}),
        json!({"username": "eve", "password": "short", "role": "staff"}),
    ] {
        let response = app.post_json("/users", &payload).await;
        assert_eq!(response.status(), 422, "{payload}");
    }
    let response = app
        .request(Method::PATCH, &format!("/users/{staff_id}"))
        .json(&json!({"password_hash": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 422);
    assert_eq!(
        app.post_json(
            "/users",
            &json!({"username": "CLERK", "password": STAFF_PASSWORD, "role": "staff"})
        )
        .await
        .status(),
        409
    );
    let users = body(app.get("/users").await).await;
    assert_eq!(users["items"].as_array().expect("items").len(), 2);
    assert!(users["items"][0].get("password_hash").is_none());
    // Admins cannot lock themselves out.
    let me = body(app.get("/auth/me").await).await;
    let response = app
        .request(
            Method::DELETE,
            &format!("/users/{}", me["id"].as_str().expect("id")),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 409);
});

both_stores!(keys_are_published_for_gateways, |backend| async move {
    let app = spawn(backend).await;
    let jwks = body(
        app.anonymous(Method::GET, "/.well-known/jwks.json")
            .send()
            .await
            .expect("jwks"),
    )
    .await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    let header = jsonwebtoken::decode_header(&app.admin_token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), keys[0]["kid"].as_str());
    // The published key verifies our token.
    let key = jsonwebtoken::DecodingKey::from_ed_components(keys[0]["x"].as_str().expect("x"))
        .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["bookstore-api"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&app.admin_token, &key, &validation)
        .expect("verifies")
        .claims;
    for claim in [
        "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "role", "name",
    ] {
        assert!(claims.get(claim).is_some(), "{claim} missing");
    }
    assert_eq!(claims["role"], "admin");
    let discovery = body(
        app.anonymous(Method::GET, "/.well-known/openid-configuration")
            .send()
            .await
            .expect("discovery"),
    )
    .await;
    assert_eq!(discovery["issuer"], claims["iss"]);
    assert!(discovery["jwks_uri"]
        .as_str()
        .expect("uri")
        .ends_with("/.well-known/jwks.json"));
});

/// Runs the binary's CLI against the test server's store, feeding `stdin`.
fn cli(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut command = std::process::Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    let mut child = command.spawn().expect("run cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    child.wait_with_output().expect("output")
}

both_stores!(
    operators_manage_users_and_keys_from_the_cli,
    |backend| async move {
        let app = spawn(backend).await;
        let out = cli(
            &app,
            &[
                "user",
                "add",
                "Clerk",
                "--role",
                "staff",
                "--password-stdin",
            ],
            "tram orbit velvet quinoa\n",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let staff = app.sign_in("clerk", "tram orbit velvet quinoa").await;
        let out = cli(
            &app,
            &["user", "add", "weak", "--password-stdin"],
            "password1234\n",
        );
        assert!(!out.status.success(), "a common password was accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

        let out = cli(&app, &["user", "list"], "");
        let listing = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(listing.contains("clerk\tstaff\tactive"), "{listing}");
        assert!(!listing.contains("argon2"), "{listing}");

        // A role change from the CLI revokes the running server's view of the old token.
        let out = cli(&app, &["user", "set-role", "clerk", "admin"], "");
        assert!(out.status.success());
        let status = app
            .anonymous(Method::GET, "/auth/me")
            .bearer_auth(&staff)
            .send()
            .await
            .expect("me")
            .status();
        assert_eq!(status, 401);

        let out = cli(&app, &["user", "disable", "clerk"], "");
        assert!(out.status.success());
        assert_eq!(
            app.login("clerk", "tram orbit velvet quinoa")
                .await
                .status(),
            401
        );
        let out = cli(&app, &["user", "enable", "clerk"], "");
        assert!(out.status.success());
        assert_eq!(
            app.login("clerk", "tram orbit velvet quinoa")
                .await
                .status(),
            200
        );

        // Emergency key rotation: the next token is signed by the new key, old tokens keep
        // working, and the JWKS lists both (signin.rs has the ordinary, delayed rotation).
        let old = app.sign_in("admin", ADMIN_PASSWORD).await;
        let old_kid = jsonwebtoken::decode_header(&old)
            .expect("header")
            .kid
            .expect("kid");
        let out = cli(&app, &["keys", "rotate", "--immediately"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let new = app.sign_in("admin", ADMIN_PASSWORD).await;
        let new_kid = jsonwebtoken::decode_header(&new)
            .expect("header")
            .kid
            .expect("kid");
        assert_ne!(old_kid, new_kid);
        for token in [&old, &new] {
            let status = app
                .anonymous(Method::GET, "/auth/me")
                .bearer_auth(token)
                .send()
                .await
                .expect("me")
                .status();
            assert_eq!(status, 200);
        }
        let jwks = body(
            app.anonymous(Method::GET, "/.well-known/jwks.json")
                .send()
                .await
                .expect("jwks"),
        )
        .await;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert!(
            kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
            "{kids:?}"
        );
    }
);

both_stores!(sessions_end_after_their_lifetime, |backend| async move {
    let app = spawn_with(backend, &[("BOOKSTORE_SESSION_LIFETIME", "2")]).await;
    let pair = body(app.login("admin", ADMIN_PASSWORD).await).await;
    assert!(pair["refresh_expires_in"].as_i64().expect("secs") <= 2);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let response = app
        .anonymous(Method::POST, "/auth/refresh")
        .json(&json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(response.status(), 401);
});
