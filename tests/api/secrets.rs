//! Secrets from Vault (OpenBao): read at start, re-read when their version changes, the
//! token renewed before it expires, AppRole; each load audited; no value in any log.

use crate::helpers::{binary, body, hobbit, spawn_on, TestApp, ADMIN_PASSWORD};
use crate::openbao::{OpenBao, ROOT_TOKEN};
use base64::Engine;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn secret_loads(app: &TestApp) -> Vec<Value> {
    let response = app.get("/audit?limit=100&action=secret_loaded").await;
    assert_eq!(response.status(), 200);
    body(response).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The newest `secret_loaded` entry of `name`.
pub async fn latest_load(app: &TestApp, name: &str) -> Value {
    secret_loads(app)
        .await
        .into_iter()
        .find(|e| e["target"] == name)
        .unwrap_or_else(|| panic!("no secret_loaded entry for {name}"))
}

/// Waits until the newest `secret_loaded` entry of `name` has `version`.
pub async fn wait_for_version(app: &TestApp, name: &str, version: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entry = latest_load(app, name).await;
        if entry["details"]["version"] == version {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached version {version}: {entry}; log:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fails when any of `secrets` is in the server's log or its audit log.
pub async fn assert_nowhere(app: &TestApp, secrets: &[&str]) {
    let logs = app.logs();
    let audit = serde_json::to_string(&secret_loads(app).await).expect("json");
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret is in the log:\n{logs}");
        assert!(!audit.contains(secret), "a secret is in the audit log");
    }
}

/// 32 random bytes, base64: a key-encryption key.
fn random_kek() -> String {
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn vault_secrets_are_read_renewed_reloaded_and_audited() {
    let Some(bao) = OpenBao::start("vault_secrets_are_read_renewed_reloaded_and_audited").await
    else {
        return;
    };
    bao.policies();
    let url = bookstore_store::testing::fresh_postgres_url().await;
    let kek = random_kek();
    bao.root(&[
        "kv",
        "put",
        "kv/bookstore",
        &format!("database_url={url}"),
        &format!("admin_password={ADMIN_PASSWORD}"),
        &format!("kek={kek}"),
    ]);
    // A short-lived service token: the server must renew it to go on reading.
    let token = bao.token("bookstore-service", "6s");
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("vault-token");
    std::fs::write(&token_file, &token).expect("token file");
    let token_path = token_file.display().to_string();
    let app = spawn_on(
        Some(url.clone()),
        &[
            ("DATABASE_URL", "vault:kv/bookstore#database_url"),
            (
                "BOOKSTORE_ADMIN_PASSWORD",
                "vault:kv/bookstore#admin_password",
            ),
            ("BOOKSTORE_KEK", "vault:kv/bookstore#kek"),
            ("BOOKSTORE_VAULT_ADDR", &bao.addr),
            ("VAULT_TOKEN_FILE", &token_path),
            ("BOOKSTORE_SECRET_RELOAD_INTERVAL", "1"),
        ],
    )
    .await;
    // Signed in with the password from Vault (spawn did), on the database Vault named.
    app.create_book(hobbit()).await;
    assert_eq!(app.count("books").await, 1);
    let loaded = latest_load(&app, "DATABASE_URL").await;
    assert_eq!(
        loaded["details"]["source"],
        "vault:kv/bookstore#database_url"
    );
    assert_eq!(loaded["details"]["version"], "1");
    assert_eq!(loaded["actor"]["type"], "system");
    let kek_loaded = latest_load(&app, "BOOKSTORE_KEK").await;
    assert_eq!(kek_loaded["details"]["source"], "vault:kv/bookstore#kek");
    let token_loaded = latest_load(&app, "VAULT_TOKEN").await;
    assert_eq!(
        token_loaded["details"]["source"],
        format!("file {token_path}")
    );

    // Least privilege: the service's token reads but cannot write; the operator's can.
    let refused = bao.run(&token, &["kv", "put", "kv/bookstore", "x=1"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let operator = bao.token("bookstore-operator", "1h");

    // Past the token's first lifetime, a new version is still seen: the token was renewed.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let patched = bao.run(&operator, &["kv", "patch", "kv/bookstore", "note=rotated"]);
    assert!(
        patched.status.success(),
        "{}",
        String::from_utf8_lossy(&patched.stderr)
    );
    let reloaded = wait_for_version(&app, "DATABASE_URL", "2").await;
    assert_eq!(reloaded["details"]["reloaded"], true);
    assert!(
        app.logs().contains("renewed the Vault token"),
        "{}",
        app.logs()
    );
    // The service goes on with the (same) credentials re-read.
    assert_eq!(app.get("/books").await.status(), 200);

    assert_nowhere(&app, &[ADMIN_PASSWORD, &kek, &token, &operator, ROOT_TOKEN]).await;
}

#[tokio::test]
async fn approle_signs_in_with_the_deploy_setup() {
    let Some(bao) = OpenBao::start("approle_signs_in_with_the_deploy_setup").await else {
        return;
    };
    // The operator's setup script of deploy/openbao, as the README runs it.
    let setup =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/openbao/setup.sh");
    let out = std::process::Command::new("sh")
        .arg(&setup)
        .env("VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN", ROOT_TOKEN)
        .env("BAO", bao_bin(&bao))
        .output()
        .expect("setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bao.root(&[
        "kv",
        "put",
        "kv/bookstore",
        &format!("admin_password={ADMIN_PASSWORD}"),
    ]);
    let role_id = bao.root(&[
        "read",
        "-field=role_id",
        "auth/approle/role/bookstore/role-id",
    ]);
    let secret_id = bao.root(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/bookstore/secret-id",
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let role_file = dir.path().join("role-id");
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&role_file, &role_id).expect("write");
    std::fs::write(&secret_file, &secret_id).expect("write");
    let (role_path, secret_path) = (
        role_file.display().to_string(),
        secret_file.display().to_string(),
    );
    // spawn_on signs in with ADMIN_PASSWORD: only Vault gave it to the server.
    let app = spawn_on(
        None,
        &[
            (
                "BOOKSTORE_ADMIN_PASSWORD",
                "vault:kv/bookstore#admin_password",
            ),
            ("BOOKSTORE_VAULT_ADDR", &bao.addr),
            ("BOOKSTORE_VAULT_ROLE_ID_FILE", &role_path),
            ("BOOKSTORE_VAULT_SECRET_ID_FILE", &secret_path),
        ],
    )
    .await;
    let loaded = latest_load(&app, "BOOKSTORE_ADMIN_PASSWORD").await;
    assert_eq!(
        loaded["details"]["source"],
        "vault:kv/bookstore#admin_password"
    );
    assert!(
        latest_load(&app, "BOOKSTORE_VAULT_SECRET_ID").await["details"]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("file "))
    );
    assert_nowhere(&app, &[ADMIN_PASSWORD, &role_id, &secret_id]).await;
}

fn bao_bin(_bao: &OpenBao) -> String {
    crate::openbao::find_tool(
        "BOOKSTORE_BAO",
        &format!("openbao-{}", crate::openbao::OPENBAO_VERSION),
        "bao",
    )
    .expect("bao")
    .display()
    .to_string()
}

/// A `vault:` value without a Vault configured stops the start with a clear error, and the
/// reference, not any secret, is what it names.
#[test]
fn a_vault_reference_without_a_vault_is_a_clear_error() {
    let out = std::process::Command::new(binary())
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", "vault:kv/bookstore#database_url")
        .env("BOOKSTORE_LOG_FORMAT", "text")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL names a Vault entry")
            && stderr.contains("BOOKSTORE_VAULT_ADDR is not set"),
        "{stderr}"
    );
    let out = std::process::Command::new(binary())
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", "vault:kv/bookstore")
        .env("BOOKSTORE_VAULT_ADDR", "http://127.0.0.1:9")
        .env("VAULT_TOKEN", "t")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the field after # is missing"), "{stderr}");
}

/// A full run with secrets in values and files (a database password, the key-encryption
/// key, the admin password): started, used, a failed sign-in, a key rotation from the command
/// line, a SIGHUP that re-reads every secret, stopped. None of the values is in any line the
/// server wrote, nor in the errors of a database that cannot be reached.
#[tokio::test]
async fn no_secret_value_reaches_a_log_line_or_an_error() {
    let url = bookstore_store::testing::fresh_postgres_url().await;
    // The test server trusts local connections, so any password is taken: a distinctive one
    // stands for a real password here.
    let password = format!("dbpw-{}", uuid::Uuid::new_v4().simple());
    let with_password = url.replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert_ne!(with_password, url, "the test URL has the user postgres");
    let kek = random_kek();
    let dir = tempfile::tempdir().expect("temp dir");
    let url_file = dir.path().join("database_url");
    let kek_file = dir.path().join("kek");
    std::fs::write(&url_file, &with_password).expect("write");
    std::fs::write(&kek_file, &kek).expect("write");
    let (url_path, kek_path) = (
        url_file.display().to_string(),
        kek_file.display().to_string(),
    );
    let mut app = spawn_on(
        None,
        &[
            ("DATABASE_URL_FILE", &url_path),
            ("BOOKSTORE_KEK_FILE", &kek_path),
            ("BOOKSTORE_LOG", "debug,hyper=info,h2=info,sqlx=debug"),
        ],
    )
    .await;
    app.create_book(hobbit()).await;
    assert_eq!(
        app.login("admin", "not the password at all").await.status(),
        401
    );
    app.signal("HUP");
    // The SIGHUP's re-reads are audited: the database URL twice (start and reload).
    let deadline = Instant::now() + Duration::from_secs(20);
    while secret_loads(&app)
        .await
        .iter()
        .filter(|e| e["target"] == "DATABASE_URL")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no reload after SIGHUP:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/books").await.status(), 200);
    let rotate = std::process::Command::new(binary())
        .args(["keys", "rotate"])
        .env_clear()
        .env("BOOKSTORE_DATA_DIR", app.data_dir.path())
        .env("DATABASE_URL_FILE", &url_path)
        .env("BOOKSTORE_KEK_FILE", &kek_path)
        .env("BOOKSTORE_LOG", "debug")
        .output()
        .expect("keys rotate");
    assert!(rotate.status.success());
    let status = app.terminate();
    assert!(status.success());
    let mut everything = app.logs();
    everything.push_str(&String::from_utf8_lossy(&rotate.stdout));
    everything.push_str(&String::from_utf8_lossy(&rotate.stderr));

    // Errors: a database that refuses, a URL that does not parse, a wrong key-encryption key.
    let unreachable = format!("postgres://bookstore:{password}@127.0.0.1:1/books");
    let unparsable = format!("postgres://bookstore:{password}@[::1/books");
    for (name, value) in [
        ("DATABASE_URL", unreachable.as_str()),
        ("DATABASE_URL", unparsable.as_str()),
        ("BOOKSTORE_KEK", password.as_str()),
    ] {
        let out = std::process::Command::new(binary())
            .arg("migrate")
            .env_clear()
            .env("BOOKSTORE_DATA_DIR", dir.path())
            .env(name, value)
            .output()
            .expect("run");
        everything.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(everything.contains("secret loaded"), "{everything}");
    for secret in [password.as_str(), kek.as_str(), ADMIN_PASSWORD] {
        assert!(
            !everything.contains(secret),
            "a secret value is in:\n{everything}"
        );
    }
}
