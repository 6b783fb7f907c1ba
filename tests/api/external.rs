//! Tokens from an outside OIDC issuer (Cognito-style groups), verified against a JWKS that
//! this test serves itself.

use crate::both_stores;
use crate::helpers::*;
use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const ISSUER: &str = "https://cognito-idp.test/pool-1";
const AUDIENCE: &str = "bookstore-client";

struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn new_key(kid: &str) -> Key {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
    Key {
        kid: kid.into(),
        public: pair.public_key().as_ref().to_vec(),
        pkcs8: pkcs8.as_ref().to_vec(),
    }
}

fn jwk(key: &Key) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": key.kid, "alg": "EdDSA", "use": "sig",
           "x": URL_SAFE_NO_PAD.encode(&key.public)})
}

fn token(key: &Key, kid: &str, claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut full = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "exp": now + 600,
                          "iat": now, "cognito:username": "maria"});
    json_patch::merge(&mut full, &claims);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &full, &EncodingKey::from_ed_der(&key.pkcs8)).expect("sign")
}

/// Serves `/jwks` from shared state and counts the fetches.
async fn jwks_server(keys: Arc<Mutex<Value>>, hits: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        get(move || {
            let keys = keys.clone();
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(keys.lock().expect("lock").clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/jwks")
}

both_stores!(
    outside_issuer_tokens_map_groups_to_roles,
    |backend| async move {
        let first = new_key("key-1");
        let keys = Arc::new(Mutex::new(json!({"keys": [jwk(&first)]})));
        let hits = Arc::new(AtomicU64::new(0));
        let jwks_url = jwks_server(keys.clone(), hits.clone()).await;
        let trusted = json!([{
            "issuer": ISSUER, "jwks_url": jwks_url, "audience": AUDIENCE,
            "role_claim": "cognito:groups", "admin_values": ["admins"], "staff_values": ["clerks"],
            "min_refresh_secs": 1
        }])
        .to_string();
        let app = spawn_with(backend, &[("BOOKSTORE_TRUSTED_ISSUERS", &trusted)]).await;
        let call = |method: Method, path: &str, token: String| {
            app.anonymous(method, path)
                .bearer_auth(token)
                .json(&hobbit())
                .send()
        };

        let clerk = token(&first, "key-1", json!({"cognito:groups": ["clerks"]}));
        assert_eq!(
            call(Method::GET, "/books", clerk.clone())
                .await
                .expect("get")
                .status(),
            200
        );
        assert_eq!(
            call(Method::POST, "/books", clerk)
                .await
                .expect("post")
                .status(),
            403
        );
        let admin = token(
            &first,
            "key-1",
            json!({"cognito:groups": ["admins", "clerks"]}),
        );
        let response = call(Method::POST, "/books", admin).await.expect("post");
        assert_eq!(response.status(), 201);
        let id = body(response).await["id"].as_str().expect("id").to_owned();
        let history = body(app.get(&format!("/books/{id}/history")).await).await;
        assert_eq!(history["items"][0]["actor"], "maria");

        for (name, bad) in [
            (
                "no group",
                token(&first, "key-1", json!({"cognito:groups": ["visitors"]})),
            ),
            (
                "wrong audience",
                token(
                    &first,
                    "key-1",
                    json!({"aud": "another-app", "cognito:groups": ["admins"]}),
                ),
            ),
            (
                "expired",
                token(
                    &first,
                    "key-1",
                    json!({"exp": 1_000_000, "cognito:groups": ["admins"]}),
                ),
            ),
            (
                "other key, same kid",
                token(
                    &new_key("key-1"),
                    "key-1",
                    json!({"cognito:groups": ["admins"]}),
                ),
            ),
        ] {
            let status = call(Method::GET, "/books", bad)
                .await
                .expect("get")
                .status();
            assert_eq!(status, 401, "{name}");
        }

        // A flood of unknown key ids costs at most one fetch per interval.
        let before = hits.load(Ordering::SeqCst);
        for i in 0..20 {
            let forged = token(
                &first,
                &format!("forged-{i}"),
                json!({"cognito:groups": ["admins"]}),
            );
            assert_eq!(
                call(Method::GET, "/books", forged)
                    .await
                    .expect("get")
                    .status(),
                401
            );
        }
        assert!(
            hits.load(Ordering::SeqCst) - before <= 1,
            "JWKS fetched {} times",
            hits.load(Ordering::SeqCst) - before
        );

        // The issuer rotates: a new kid is fetched once the interval has passed.
        let second = new_key("key-2");
        *keys.lock().expect("lock") = json!({"keys": [jwk(&first), jwk(&second)]});
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let rotated = token(&second, "key-2", json!({"cognito:groups": ["clerks"]}));
        assert_eq!(
            call(Method::GET, "/books", rotated)
                .await
                .expect("get")
                .status(),
            200
        );
    }
);

/// A token with exactly this header and these claims, signed with `key`: what `jsonwebtoken`
/// cannot write (`crit`, claims of the wrong type).
fn raw_token(key: &Key, header: Value, claims: Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let pair = Ed25519KeyPair::from_pkcs8(&key.pkcs8).expect("pair");
    let signature = pair.sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

both_stores!(outside_tokens_are_read_strictly, |backend| async move {
    let key = new_key("key-1");
    let keys = Arc::new(Mutex::new(json!({"keys": [jwk(&key)]})));
    let jwks_url = jwks_server(keys, Arc::new(AtomicU64::new(0))).await;
    let trusted = json!([{
        "issuer": ISSUER, "jwks_url": jwks_url, "audience": AUDIENCE,
        "role_claim": "cognito:groups", "admin_values": ["admins"], "staff_values": ["clerks"]
    }])
    .to_string();
    let app = spawn_with(backend, &[("BOOKSTORE_TRUSTED_ISSUERS", &trusted)]).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "exp": now + 600,
                            "iat": now, "cognito:groups": ["clerks"]});
    let header = json!({"alg": "EdDSA", "kid": "key-1"});
    let status = |token: String| {
        let request = app.anonymous(Method::GET, "/books").bearer_auth(token);
        async move { request.send().await.expect("get").status() }
    };
    let with = |base: &Value, field: &str, value: Value| {
        let mut changed = base.clone();
        changed[field] = value;
        changed
    };

    // Accepted as they should be: no typ, the generic JWT, RFC 9068's access-token type.
    for typ in [
        None,
        Some("JWT"),
        Some("at+jwt"),
        Some("application/at+jwt"),
    ] {
        let header = match typ {
            Some(typ) => with(&header, "typ", json!(typ)),
            None => header.clone(),
        };
        assert_eq!(
            status(raw_token(&key, header, claims.clone())).await,
            200,
            "{typ:?}"
        );
    }
    for (name, token) in [
        (
            "nbf a string",
            raw_token(&key, header.clone(), with(&claims, "nbf", json!("later"))),
        ),
        (
            "exp a string",
            raw_token(
                &key,
                header.clone(),
                with(&claims, "exp", json!((now + 600).to_string())),
            ),
        ),
        (
            "iat an object",
            raw_token(&key, header.clone(), with(&claims, "iat", json!({}))),
        ),
        (
            "sub a number",
            raw_token(&key, header.clone(), with(&claims, "sub", json!(42))),
        ),
        (
            "an unknown critical extension",
            raw_token(
                &key,
                with(&header, "crit", json!(["http://example.com/ext"])),
                claims.clone(),
            ),
        ),
        (
            "a refresh token",
            raw_token(
                &key,
                with(&header, "typ", json!("refresh+jwt")),
                claims.clone(),
            ),
        ),
        (
            "an ID token's type",
            raw_token(&key, with(&header, "typ", json!("id+jwt")), claims.clone()),
        ),
    ] {
        assert_eq!(status(token).await, 401, "{name} was accepted");
    }
});
