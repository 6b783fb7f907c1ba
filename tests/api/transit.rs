//! Access tokens signed by an OpenBao transit key (`BOOKSTORE_SIGNING=vault-transit:…`), with
//! the real `bao` dev server: the private key never enters the process (nothing in the store,
//! Vault signs), the JWKS lists the key's versions, a rotation in Vault is picked up without a
//! restart (the new version published first, then signing; the old one verifying on), and
//! tokens are verified locally (they still verify with Vault gone).

use crate::helpers::*;
use crate::openbao::OpenBao;
use base64::Engine;
use reqwest::Method;
use serde_json::Value;
use sha2::Digest;
use std::time::{Duration, Instant};

const KEY: &str = "bookstore-tokens";

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64");
    let header: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(header["alg"], "EdDSA");
    header["kid"].as_str().expect("kid").to_owned()
}

/// The RFC 7638 thumbprint of an Ed25519 public key (base64 as Vault gives it): our kid.
fn thumbprint(public_key_b64: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .expect("base64");
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        engine.encode(raw)
    );
    engine.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// The kids of the transit key's versions, by version.
fn version_kids(bao: &OpenBao) -> Vec<String> {
    let out = bao.root(&["read", "-format=json", &format!("transit/keys/{KEY}")]);
    let answer: Value = serde_json::from_str(&out).expect("json");
    let keys = answer["data"]["keys"].as_object().expect("keys");
    let mut versions: Vec<(u64, String)> = keys
        .iter()
        .map(|(n, k)| {
            (
                n.parse().expect("version"),
                thumbprint(k["public_key"].as_str().expect("public key")),
            )
        })
        .collect();
    versions.sort();
    versions.into_iter().map(|(_, kid)| kid).collect()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks = body(
        app.anonymous(Method::GET, "/.well-known/jwks.json")
            .send()
            .await
            .expect("jwks"),
    )
    .await;
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

/// An OpenBao with the deploy policies and an ed25519 transit key; the service's token.
async fn transit_vault(test: &str) -> Option<(OpenBao, String)> {
    let bao = OpenBao::start(test).await?;
    bao.root(&["secrets", "enable", "transit"]);
    bao.root(&[
        "write",
        "-f",
        &format!("transit/keys/{KEY}"),
        "type=ed25519",
    ]);
    bao.policies();
    let token = bao.token("bookstore-service", "1h");
    Some((bao, token))
}

fn transit_env<'a>(bao: &'a OpenBao, token_path: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("BOOKSTORE_VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN_FILE", token_path),
        (
            "BOOKSTORE_SIGNING",
            "vault-transit:transit/bookstore-tokens",
        ),
    ]
}

#[tokio::test]
async fn tokens_are_signed_by_the_transit_key_and_follow_its_rotation() {
    let Some((bao, token)) =
        transit_vault("tokens_are_signed_by_the_transit_key_and_follow_its_rotation").await
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("vault-token");
    std::fs::write(&token_file, &token).expect("token file");
    let token_path = token_file.display().to_string();
    let mut env = transit_env(&bao, &token_path);
    // A short publish lead, so that the rotated version signs within the test.
    env.push(("BOOKSTORE_KEY_PUBLISH_LEAD", "2s"));
    let app = spawn_with(Backend::Postgres, &env).await;

    // Signed by version 1 (spawn signed the admin in); the JWKS is the key's versions only,
    // and no signing key of ours was made: the private key is Vault's.
    let v1 = version_kids(&bao);
    assert_eq!(v1.len(), 1);
    assert_eq!(kid_of(&app.admin_token), v1[0]);
    assert_eq!(jwks_kids(&app).await, v1);
    assert_eq!(app.count("signing_keys").await, 0);
    assert_eq!(app.get("/books").await.status(), 200);
    assert!(app.logs().contains("signed by the Vault transit key"));

    // The service's token may sign but not rotate.
    let refused = bao.run(
        &token,
        &["write", "-f", &format!("transit/keys/{KEY}/rotate")],
    );
    assert!(!refused.status.success());
    // The operator rotates in Vault; the service picks it up at the next sign-in.
    let operator = bao.token("bookstore-operator", "1h");
    let rotated = bao.run(
        &operator,
        &["write", "-f", &format!("transit/keys/{KEY}/rotate")],
    );
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let both = version_kids(&bao);
    assert_eq!(both.len(), 2);
    let old_token = app.admin_token.clone();
    app.sign_in("admin", ADMIN_PASSWORD).await;
    let mut expected = both.clone();
    expected.sort();
    assert_eq!(jwks_kids(&app).await, expected, "both versions published");
    // Once the lead has passed, version 2 signs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_token = loop {
        let token = app.sign_in("admin", ADMIN_PASSWORD).await;
        if kid_of(&token) == both[1] {
            break token;
        }
        assert_eq!(kid_of(&token), both[0]);
        assert!(Instant::now() < deadline, "version 2 never signed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Tokens of both versions verify; the command line does not rotate a key it lacks.
    for token in [&old_token, &new_token] {
        let response = app
            .anonymous(Method::GET, "/books")
            .bearer_auth(token)
            .send()
            .await
            .expect("books");
        assert_eq!(response.status(), 200);
    }
    let out = std::process::Command::new(binary())
        .args(["keys", "rotate"])
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("DATABASE_URL", app.database_url.as_deref().expect("url"))
        .env("BOOKSTORE_VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN_FILE", &token_path)
        .env(
            "BOOKSTORE_SIGNING",
            "vault-transit:transit/bookstore-tokens",
        )
        .env("BOOKSTORE_LOG", "warn")
        .output()
        .expect("keys rotate");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rotate that key where it is kept"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Verification is local: with Vault gone, tokens still verify (signing needs Vault).
    drop(bao);
    let response = app
        .anonymous(Method::GET, "/books")
        .bearer_auth(&new_token)
        .send()
        .await
        .expect("books");
    assert_eq!(response.status(), 200);
    for secret in [&token, &operator] {
        assert!(
            !app.logs().contains(secret.as_str()),
            "a token is in the log"
        );
    }
}

/// Sign-in latency, keys of our own against the transit key: `cargo test -p bookstore --test
/// api transit::sign_in_latency -- --ignored --nocapture` (`BENCH_SIGN_INS`, default 100).
/// Prints the median and 95th percentile of sequential sign-ins (the argon2id hash included)
/// and of refreshes (a token signed, no hash).
#[tokio::test]
#[ignore = "a measurement, not a test: run by hand"]
async fn sign_in_latency() {
    let Some((bao, token)) = transit_vault("sign_in_latency").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("vault-token");
    std::fs::write(&token_file, &token).expect("token file");
    let token_path = token_file.display().to_string();
    let limits = [
        ("BOOKSTORE_RATE_LIMIT_SIGN_IN", "100000/s"),
        ("BOOKSTORE_RATE_LIMIT_SIGN_IN_BURST", "100000"),
    ];
    let mut transit = transit_env(&bao, &token_path);
    transit.extend(limits);
    let rounds: usize = std::env::var("BENCH_SIGN_INS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let percentiles = |mut times: Vec<Duration>| {
        times.sort();
        (times[times.len() / 2], times[times.len() * 95 / 100])
    };
    for (name, env) in [("local", limits.to_vec()), ("transit", transit)] {
        let app = spawn_with(Backend::Sqlite, &env).await;
        let (mut sign_ins, mut refreshes) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let started = Instant::now();
            let response = app.login("admin", ADMIN_PASSWORD).await;
            assert_eq!(response.status(), 200);
            sign_ins.push(started.elapsed());
            let pair = body(response).await;
            // A refresh signs a token without the password hash: the signing cost shows.
            let started = Instant::now();
            let response = app
                .anonymous(Method::POST, "/auth/refresh")
                .json(&serde_json::json!({ "refresh_token": pair["refresh_token"] }))
                .send()
                .await
                .expect("refresh");
            assert_eq!(response.status(), 200);
            refreshes.push(started.elapsed());
        }
        let (sign_in, sign_in_95) = percentiles(sign_ins);
        let (refresh, refresh_95) = percentiles(refreshes);
        println!(
            "{name} signing, {rounds} sequential: sign-in median {sign_in:?} (p95 {sign_in_95:?}), \
             refresh median {refresh:?} (p95 {refresh_95:?})"
        );
    }
}
