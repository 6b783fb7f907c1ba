//! Every route of the served OpenAPI document, walked with every kind of caller and forged
//! token. New routes join the walk by themselves.

use crate::both_stores;
use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_auth::Kek;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    SignedIn,
    Admin,
}

/// What the route should allow, decided here independently of the server's own table.
fn class(method: &str, path: &str) -> Class {
    let public = [
        ("post", "/auth/login"),
        ("post", "/auth/refresh"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/.well-known/openid-configuration"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    ];
    if public.contains(&(method, path)) {
        return Class::Public;
    }
    let own = [
        ("get", "/auth/me"),
        ("put", "/auth/me/password"),
        ("post", "/auth/logout"),
        // The live event stream: staff and admins alike.
        ("get", "/events"),
        // Reorder suggestions: staff order books too.
        ("get", "/reorder-suggestions"),
    ];
    let catalog_read = method == "get"
        && ["/books", "/authors", "/genres", "/locations", "/stocktakes"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if own.contains(&(method, path)) || catalog_read {
        Class::SignedIn
    } else {
        Class::Admin
    }
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
}

fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("json"));
    format!("{}.{}.{}", parts[0], encoded, parts[2])
}

struct Forger {
    kid: String,
    key: EncodingKey,
    public_key: Vec<u8>,
    claims: Value,
}

impl Forger {
    /// Reads the server's own signing key (sealed in the store, KEK in the data directory),
    /// so that tokens with bad claims can carry a valid signature.
    async fn new(app: &TestApp) -> Self {
        let kek_text = std::fs::read_to_string(app.data_dir.path().join("kek")).expect("kek file");
        let kek = Kek::from_base64(&kek_text).expect("kek");
        let keys = app
            .store()
            .await
            .users()
            .signing_keys()
            .await
            .expect("keys");
        let current = keys
            .iter()
            .find(|k| k.retired_at.is_none())
            .expect("current key");
        let pkcs8 = kek
            .open(&current.sealed_private_key, &current.kid)
            .expect("open");
        Self {
            kid: current.kid.clone(),
            key: EncodingKey::from_ed_der(&pkcs8),
            public_key: current.public_key.clone(),
            claims: payload(&app.admin_token),
        }
    }

    fn sign(&self, changes: Value) -> String {
        let mut claims = self.claims.clone();
        json_patch::merge(&mut claims, &changes);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn variants(app: &TestApp, staff: &str) -> Vec<(&'static str, Option<String>)> {
    let forger = Forger::new(app).await;
    let unknown_key = {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("a-key-nobody-published".into());
        jsonwebtoken::encode(
            &header,
            &forger.claims,
            &EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .expect("sign")
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": forger.kid}).to_string()),
        URL_SAFE_NO_PAD.encode(forger.claims.to_string()),
    );
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(forger.kid.clone());
        jsonwebtoken::encode(
            &header,
            &forger.claims,
            &EncodingKey::from_secret(&forger.public_key),
        )
        .expect("sign")
    };
    let mut elevated = payload(staff);
    elevated["role"] = json!("admin");
    vec![
        ("no token", None),
        (
            "expired",
            Some(
                forger.sign(json!({"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200})),
            ),
        ),
        ("unknown key", Some(unknown_key)),
        ("alg none", Some(alg_none)),
        ("HS256 with the public key", Some(hs256)),
        (
            "staff edited to admin",
            Some(with_payload(staff, &elevated)),
        ),
        (
            "wrong aud",
            Some(forger.sign(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong iss",
            Some(forger.sign(json!({"iss": "https://evil.example"}))),
        ),
        (
            "future nbf",
            Some(forger.sign(json!({"nbf": now() + 3600}))),
        ),
        ("garbage", Some("not.a.jwt".into())),
    ]
}

both_stores!(every_route_with_every_caller, |backend| async move {
    // Hundreds of requests with bad tokens from one address within seconds: exactly what the
    // anonymous rate limit is there to stop (tests/api/ratelimits.rs); raised here.
    let app = spawn_with(
        backend,
        &[("BOOKSTORE_RATE_LIMIT_ANONYMOUS_BURST", "100000")],
    )
    .await;
    app.add_user("clerk", "tram orbit velvet quinoa", "staff")
        .await;
    let staff = app.sign_in("clerk", "tram orbit velvet quinoa").await;
    let doc = body(
        app.anonymous(Method::GET, "/openapi.json")
            .send()
            .await
            .expect("doc"),
    )
    .await;
    let bad = variants(&app, &staff).await;

    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{id}", "0192f8a0-0000-7000-8000-000000000000")
            .replace("{isbn}", "9780261103344");
        for method in operations.as_object().expect("operations").keys() {
            let class = class(method, path);
            let http_method: Method = method.to_uppercase().parse().expect("method");
            let send = |token: Option<&str>| {
                let mut request = app.anonymous(http_method.clone(), &concrete);
                if http_method != Method::GET && http_method != Method::DELETE {
                    request = request.json(&json!({}));
                }
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.send()
            };
            for (name, token) in &bad {
                let status = send(token.as_deref()).await.expect("send").status();
                if class == Class::Public {
                    assert_ne!(status, 401, "{method} {path} with {name}");
                } else {
                    assert_eq!(status, 401, "{method} {path} with {name}");
                }
            }
            let status = send(Some(&staff)).await.expect("send").status().as_u16();
            match class {
                Class::Admin => assert_eq!(status, 403, "{method} {path} as staff"),
                _ => assert!(
                    ![401, 403].contains(&status),
                    "{method} {path} as staff: {status}"
                ),
            }
            let status = send(Some(&app.admin_token))
                .await
                .expect("send")
                .status()
                .as_u16();
            assert!(
                ![401, 403].contains(&status),
                "{method} {path} as admin: {status}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} operations in the OpenAPI document"
    );
    // Nothing refused (or invalid) left anything behind.
    for table in ["books", "book_history", "outbox", "authors", "genres"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
});

both_stores!(a_refused_write_changes_nothing, |backend| async move {
    let app = spawn(backend).await;
    app.add_user("clerk", "tram orbit velvet quinoa", "staff")
        .await;
    let staff = app.sign_in("clerk", "tram orbit velvet quinoa").await;
    let response = app
        .anonymous(Method::POST, "/books")
        .bearer_auth(&staff)
        .json(&hobbit())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    let response = app
        .anonymous(Method::POST, "/books")
        .json(&hobbit())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 401);
    assert!(header(&response, reqwest::header::WWW_AUTHENTICATE).starts_with("Bearer"));
    for table in ["books", "book_history", "outbox", "authors", "genres"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
});
