//! Signing keys rotated on a schedule (`BOOKSTORE_KEY_ROTATION`) by several replicas at once:
//! one key per period, never two; and `bookstore kek rotate`: every signing key and webhook
//! secret re-sealed under a new key-encryption key, which a running server takes over from
//! its file, and the old key refused at start.

use crate::both_stores;
use crate::helpers::*;
use crate::receiver::{signed_by, Receiver};
use crate::webhooks::{create_webhook, id_of, FAST_RETRIES};
use base64::Engine;
use bookstore_auth::Kek;
use reqwest::Method;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn audit_entries(app: &TestApp, action: &str) -> Vec<Value> {
    let response = app.get(&format!("/audit?limit=100&action={action}")).await;
    assert_eq!(response.status(), 200);
    body(response).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// `bookstore ARGS` on the app's store with `env`; its standard output, or a panic with its
/// standard error.
fn cli(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_LOG", "warn");
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run cli");
    assert!(
        out.status.success(),
        "bookstore {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn random_kek() -> String {
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Waits (up to 30 s) until the server's log has `needle`.
async fn wait_for_log(app: &TestApp, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !app.logs().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_stores!(
    scheduled_rotation_adds_one_key_per_period_across_replicas,
    |backend| async move {
        let period = Duration::from_secs(3);
        // Tokens of one replica verify on the other: one issuer.
        let schedule = [
            ("BOOKSTORE_KEY_ROTATION", "3s"),
            ("BOOKSTORE_ISSUER", "https://bookstore.test"),
        ];
        let first = spawn_with(backend, &schedule).await;
        let second = first.replica(&schedule).await;
        // Both replicas look every second; wait for a few periods' keys.
        let deadline = Instant::now() + Duration::from_secs(60);
        let keys = loop {
            let keys = first
                .store()
                .await
                .users()
                .signing_keys()
                .await
                .expect("keys");
            if keys.len() >= 4 {
                break keys;
            }
            assert!(
                Instant::now() < deadline,
                "only {} keys after a minute; log:\n{}",
                keys.len(),
                first.logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        // Never two keys within a period: of the replicas that found the newest key too
        // old, one added a key.
        let mut created: Vec<_> = keys.iter().map(|k| k.created_at).collect();
        created.sort();
        for pair in created.windows(2) {
            let gap = (pair[1] - pair[0]).to_std().expect("ordered");
            assert!(gap >= period, "two keys {gap:?} apart: {created:?}");
        }
        // Each is published at once (either replica's JWKS lists it within its reload).
        let jwks: Value = body(
            second
                .anonymous(Method::GET, "/.well-known/jwks.json")
                .send()
                .await
                .expect("jwks"),
        )
        .await;
        assert!(jwks["keys"].as_array().expect("keys").len() >= 2, "{jwks}");
        // Audited as the service's scheduled doing.
        let scheduled = audit_entries(&first, "keys_rotated")
            .await
            .into_iter()
            .filter(|e| e["details"]["scheduled"] == true)
            .count();
        assert!(scheduled >= 3, "{scheduled} scheduled rotations audited");
        // The command line still rotates.
        let out = cli(&first, &["keys", "rotate"], &[]);
        assert!(out.contains("new signing key"), "{out}");
        // And tokens keep working on both.
        assert_eq!(first.get("/books").await.status(), 200);
        let token = second.sign_in("admin", ADMIN_PASSWORD).await;
        let response = first
            .anonymous(Method::GET, "/books")
            .bearer_auth(token)
            .send()
            .await
            .expect("books");
        assert_eq!(response.status(), 200);
    }
);

/// Starts `bookstore serve` on the app's store with `env` and waits (up to a minute) for it to
/// exit by itself: its status and standard error.
async fn serve_expecting_exit(app: &TestApp, env: &[(&str, &str)]) -> (bool, String) {
    let log = app.data_dir.path().join("refused.log");
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .env_clear()
        .env("BOOKSTORE_LISTEN", "127.0.0.1:0")
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("BOOKSTORE_SHUTDOWN_DRAIN", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    if let Some(url) = &app.database_url {
        command.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server did not refuse to start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

fn write(path: &Path, text: &str) {
    // Written whole and renamed into place: the server never reads half a key.
    let next = path.with_extension("tmp");
    std::fs::write(&next, text).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

both_stores!(
    kek_rotation_reseals_everything_and_the_old_key_is_refused,
    |backend| async move {
        let keys = tempfile::tempdir().expect("temp dir");
        let (old, new) = (random_kek(), random_kek());
        let kek_file = keys.path().join("kek");
        let old_file = keys.path().join("old-kek");
        let new_file = keys.path().join("new-kek");
        std::fs::write(&kek_file, &old).expect("kek");
        std::fs::write(&old_file, &old).expect("old kek");
        std::fs::write(&new_file, &new).expect("new kek");
        let kek_path = kek_file.display().to_string();
        let mut env: Vec<(&str, &str)> = FAST_RETRIES.to_vec();
        env.extend([
            ("BOOKSTORE_KEK_FILE", kek_path.as_str()),
            ("BOOKSTORE_SECRET_RELOAD_INTERVAL", "1"),
            // The restarted server verifies the first one's tokens: one issuer.
            ("BOOKSTORE_ISSUER", "https://bookstore.test"),
        ]);
        let receiver = Receiver::start().await;
        let mut app = spawn_with(backend, &env).await;
        let created = create_webhook(&app, &receiver.url).await;
        let webhook = id_of(&created);
        let secret = created["secret"].as_str().expect("secret").to_owned();
        // A second signing key, so that "every key" is more than one.
        cli(
            &app,
            &["keys", "rotate"],
            &[("BOOKSTORE_KEK_FILE", &kek_path)],
        );
        let before = app
            .store()
            .await
            .users()
            .signing_keys()
            .await
            .expect("keys");
        assert_eq!(before.len(), 2);

        let new_path = new_file.display().to_string();
        let out = cli(
            &app,
            &["kek", "rotate"],
            &[
                ("BOOKSTORE_KEK_FILE", &kek_path),
                ("BOOKSTORE_NEW_KEK_FILE", &new_path),
            ],
        );
        assert!(
            out.contains("re-sealed 2 signing keys and 1 webhook secrets"),
            "{out}"
        );
        // Every key opens with the new key-encryption key, none with the old.
        let (old_kek, new_kek) = (
            Kek::from_base64(&old).expect("old"),
            Kek::from_base64(&new).expect("new"),
        );
        let after = app
            .store()
            .await
            .users()
            .signing_keys()
            .await
            .expect("keys");
        assert_eq!(after.len(), 2);
        for key in &after {
            assert!(new_kek.open(&key.sealed_private_key, &key.kid).is_ok());
            assert!(old_kek.open(&key.sealed_private_key, &key.kid).is_err());
        }
        let rotated = audit_entries(&app, "kek_rotated").await;
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        assert_eq!(rotated[0]["details"]["signing_keys"], 2);
        assert_eq!(rotated[0]["details"]["webhook_secrets"], 1);
        assert_eq!(rotated[0]["actor"]["type"], "system");

        // The running server takes the new key from its file, without a restart, and goes
        // on signing in (its keys re-read under the new key).
        write(&kek_file, &new);
        wait_for_log(&app, "key-encryption key changed").await;
        app.sign_in("admin", ADMIN_PASSWORD).await;
        let old_token = app.admin_token.clone();
        app.terminate();

        // The old key is refused at start, saying why.
        let old_path = old_file.display().to_string();
        let (started, log) = serve_expecting_exit(&app, &[("BOOKSTORE_KEK_FILE", &old_path)]).await;
        assert!(!started);
        assert!(log.contains("not the key-encryption key in use"), "{log}");
        for value in [&old, &new] {
            assert!(!log.contains(value.as_str()), "a key is in the log");
        }

        // The new one starts: old tokens verify, the webhook's secret (re-sealed) still signs.
        let again = app.replica(&env).await;
        let response = again
            .anonymous(Method::GET, "/books")
            .bearer_auth(&old_token)
            .send()
            .await
            .expect("books");
        assert_eq!(response.status(), 200);
        let response = again
            .request(Method::POST, &format!("/webhooks/{webhook}/ping"))
            .send()
            .await
            .expect("ping");
        assert_eq!(response.status(), 200);
        let received = receiver.wait_for(1, Duration::from_secs(30)).await;
        assert!(signed_by(&secret, &received[0]), "bad signature");
        for value in [&old, &new] {
            assert!(
                !again.logs().contains(value.as_str()),
                "a key is in the log"
            );
        }
    }
);
