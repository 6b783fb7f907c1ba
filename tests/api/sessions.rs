//! Sign-ins as sessions (issue 11): logout and refresh-token reuse end that sign-in's access
//! tokens at once, only one's own sign-ins can be ended, changing one's own password keeps the
//! sign-in that did it, a user change that changes nothing ends nothing, and one's own
//! password always needs the current one.

use crate::both_stores;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CLERK_PASSWORD: &str = "tram orbit velvet quinoa";

async fn me(app: &TestApp, access: &str) -> StatusCode {
    app.anonymous(Method::GET, "/auth/me")
        .bearer_auth(access)
        .send()
        .await
        .expect("me")
        .status()
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    app.anonymous(Method::POST, "/auth/refresh")
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("refresh")
}

async fn pair(app: &TestApp, username: &str, password: &str) -> Value {
    let response = app.login(username, password).await;
    assert_eq!(response.status(), 200, "sign-in of {username}");
    body(response).await
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().expect("access_token")
}

async fn logout(app: &TestApp, access: &str, refresh_token: &Value) -> StatusCode {
    app.anonymous(Method::POST, "/auth/logout")
        .bearer_auth(access)
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("logout")
        .status()
}

both_stores!(
    logout_and_refresh_reuse_end_that_sign_ins_access_tokens,
    |backend| async move {
        let app = spawn(backend).await;
        let here = pair(&app, "admin", ADMIN_PASSWORD).await;
        let elsewhere = pair(&app, "admin", ADMIN_PASSWORD).await;
        assert_eq!(me(&app, access(&here)).await, 200);

        assert_eq!(
            logout(&app, access(&here), &here["refresh_token"]).await,
            204
        );
        assert_eq!(me(&app, access(&here)).await, 401, "signed out, still in");
        assert_eq!(refresh(&app, &here["refresh_token"]).await.status(), 401);
        assert_eq!(me(&app, access(&elsewhere)).await, 200);

        // A spent refresh token presented again ends the sign-in: its access tokens, the one
        // issued with it and the one issued by the refresh, stop working at once.
        let stolen = pair(&app, "admin", ADMIN_PASSWORD).await;
        let rotated = body(refresh(&app, &stolen["refresh_token"]).await).await;
        assert_eq!(me(&app, access(&rotated)).await, 200);
        assert_eq!(refresh(&app, &stolen["refresh_token"]).await.status(), 401);
        assert_eq!(me(&app, access(&stolen)).await, 401);
        assert_eq!(me(&app, access(&rotated)).await, 401);
        assert_eq!(me(&app, access(&elsewhere)).await, 200);
    }
);

both_stores!(
    logout_with_someone_elses_refresh_token_ends_nothing,
    |backend| async move {
        let app = spawn(backend).await;
        app.add_user("clerk", CLERK_PASSWORD, "staff").await;
        let admin = pair(&app, "admin", ADMIN_PASSWORD).await;
        let clerk = pair(&app, "clerk", CLERK_PASSWORD).await;
        assert_eq!(
            logout(&app, access(&clerk), &admin["refresh_token"]).await,
            204
        );
        assert_eq!(me(&app, access(&admin)).await, 200);
        assert_eq!(refresh(&app, &admin["refresh_token"]).await.status(), 200);
        assert!(app.logs().contains("not the caller's"));
        // The clerk's own sign-in is not ended by it either.
        assert_eq!(me(&app, access(&clerk)).await, 200);
    }
);

both_stores!(
    changing_ones_password_keeps_this_sign_in_and_ends_the_others,
    |backend| async move {
        let app = spawn(backend).await;
        let here = pair(&app, "admin", ADMIN_PASSWORD).await;
        let elsewhere = pair(&app, "admin", ADMIN_PASSWORD).await;
        let new_password = "mosaic harbour lantern";
        let response = app
            .anonymous(Method::PUT, "/auth/me/password")
            .bearer_auth(access(&here))
            .json(&json!({"current_password": ADMIN_PASSWORD, "new_password": new_password}))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 204);
        assert_eq!(me(&app, access(&here)).await, 200);
        assert_eq!(refresh(&app, &here["refresh_token"]).await.status(), 200);
        assert_eq!(me(&app, access(&elsewhere)).await, 401);
        assert_eq!(
            refresh(&app, &elsewhere["refresh_token"]).await.status(),
            401
        );
        assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), 401);
        pair(&app, "admin", new_password).await;
    }
);

both_stores!(
    ones_own_password_needs_the_current_one_through_patch_too,
    |backend| async move {
        let app = spawn(backend).await;
        let here = pair(&app, "admin", ADMIN_PASSWORD).await;
        let elsewhere = pair(&app, "admin", ADMIN_PASSWORD).await;
        let id = body(app.get("/auth/me").await).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let patch = |change: Value| {
            app.anonymous(Method::PATCH, &format!("/users/{id}"))
                .bearer_auth(access(&here))
                .json(&change)
                .send()
        };
        let new_password = "mosaic harbour lantern";

        // A stolen admin token alone cannot take the account over.
        let response = patch(json!({"password": new_password}))
            .await
            .expect("patch");
        assert_eq!(response.status(), 422);
        assert_eq!(
            body(response).await["errors"][0]["field"],
            "current_password"
        );
        let response = patch(json!({"password": new_password, "current_password": "a guess"}))
            .await
            .expect("patch");
        assert_eq!(response.status(), 422);
        assert_eq!(
            body(response).await["errors"][0]["field"],
            "current_password"
        );
        assert_eq!(app.login("admin", new_password).await.status(), 401);
        assert_eq!(me(&app, access(&elsewhere)).await, 200);

        // With it, the change is made like PUT /auth/me/password's.
        let response = patch(json!({"password": new_password, "current_password": ADMIN_PASSWORD}))
            .await
            .expect("patch");
        assert_eq!(response.status(), 200);
        assert_eq!(me(&app, access(&here)).await, 200);
        assert_eq!(me(&app, access(&elsewhere)).await, 401);
        pair(&app, "admin", new_password).await;
    }
);

both_stores!(
    a_user_patch_that_changes_nothing_ends_no_sign_in,
    |backend| async move {
        let app = spawn(backend).await;
        let id = app.add_user("clerk", CLERK_PASSWORD, "staff").await;
        let clerk = pair(&app, "clerk", CLERK_PASSWORD).await;
        let before = body(app.get(&format!("/users/{id}")).await).await;
        for change in [
            json!({}),
            json!({"role": "staff"}),
            json!({"disabled": false}),
            json!({"role": "staff", "disabled": false}),
        ] {
            let response = app
                .request(Method::PATCH, &format!("/users/{id}"))
                .json(&change)
                .send()
                .await
                .expect("patch");
            assert_eq!(response.status(), 200, "{change}");
            assert_eq!(body(response).await, before, "{change} changed the user");
            assert_eq!(
                me(&app, access(&clerk)).await,
                200,
                "{change} ended the sign-in"
            );
        }
        assert_eq!(refresh(&app, &clerk["refresh_token"]).await.status(), 200);
        // The admin's own no-op PATCH (the fuzzer's favourite) keeps the admin signed in.
        let admin_id = body(app.get("/auth/me").await).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let response = app
            .request(Method::PATCH, &format!("/users/{admin_id}"))
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 200);
        assert_eq!(me(&app, &app.admin_token).await, 200);
        // A change that matters still ends it at once.
        let clerk = pair(&app, "clerk", CLERK_PASSWORD).await;
        let response = app
            .request(Method::PATCH, &format!("/users/{id}"))
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 200);
        assert_eq!(me(&app, access(&clerk)).await, 401);
    }
);
