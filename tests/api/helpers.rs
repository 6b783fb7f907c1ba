//! Starts the real `bookstore` binary against a fresh store, and talks HTTP to it. The server
//! binds port 0 and writes the address it got to `BOOKSTORE_ADDRESS_FILE`: no port is picked
//! here and then raced for.

use bookstore_store::{Store, StoreConfig};
use reqwest::{header, Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The first admin's password in every test server.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// An access token of the bootstrap admin, sent by [`TestApp::request`].
    pub admin_token: String,
    child: Option<Child>,
    pub data_dir: TempDir,
    pub database_url: Option<String>,
    log_path: PathBuf,
    store: tokio::sync::OnceCell<Store>,
}

/// The binary under test: `BOOKSTORE_TEST_BINARY` when set (another build of it, or a copy
/// that a concurrent build into a shared target directory cannot replace mid-run), else the
/// one cargo built for these tests.
pub fn binary() -> PathBuf {
    std::env::var_os("BOOKSTORE_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_bookstore")))
}

/// A loopback port that refuses connections for as long as the returned socket lives: bound,
/// so no one else gets it, but not listening.
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("address").port();
    (socket, port)
}

/// The Redis that `./scripts/test` starts, or `BOOKSTORE_TEST_REDIS_URL`.
pub fn redis_url() -> String {
    std::env::var("BOOKSTORE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses, so that tests sharing one Redis never share counters.
pub fn fresh_redis_prefix() -> String {
    format!("bookstore-test:{}:", uuid::Uuid::now_v7().simple())
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, &[]).await
}

pub async fn spawn_with(backend: Backend, env: &[(&str, &str)]) -> TestApp {
    launch(backend, env, plain_client(), "http").await
}

fn plain_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Starts the binary on a fresh store with `env` on top of the defaults; `client` (which
/// must trust the server's certificate when `scheme` is https) waits for it to be ready.
pub async fn launch(
    backend: Backend,
    env: &[(&str, &str)],
    client: Client,
    scheme: &str,
) -> TestApp {
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(bookstore_store::testing::fresh_postgres_url().await),
    };
    start(database_url, env, client, scheme).await
}

/// Starts the binary on the store at `database_url` (SQLite in a fresh data directory when
/// `None`; a restored database, or the caller's own server), with `env` on top of the
/// defaults; also for tests that hand the server its database URL some other way (a Vault
/// entry, a file) and still want to look at the database.
pub async fn spawn_on(database_url: Option<String>, env: &[(&str, &str)]) -> TestApp {
    start(database_url, env, plain_client(), "http").await
}

async fn start(
    database_url: Option<String>,
    env: &[(&str, &str)],
    client: Client,
    scheme: &str,
) -> TestApp {
    let mut app = start_in(
        tempfile::tempdir().expect("temp dir"),
        database_url,
        env,
        client,
        scheme,
    )
    .await;
    app.become_ready().await;
    app
}

/// Starts the binary on the database at `database_url` without waiting for it to be ready
/// (its database may not be up yet): [`TestApp::become_ready`] waits.
pub async fn spawn_unready(database_url: String, env: &[(&str, &str)]) -> TestApp {
    start_in(
        tempfile::tempdir().expect("temp dir"),
        Some(database_url),
        env,
        plain_client(),
        "http",
    )
    .await
}

/// Starts the binary on the SQLite store already in `data_dir` (a restored one, say).
pub async fn spawn_in(data_dir: TempDir, env: &[(&str, &str)]) -> TestApp {
    let mut app = start_in(data_dir, None, env, plain_client(), "http").await;
    app.become_ready().await;
    app
}

async fn start_in(
    data_dir: TempDir,
    database_url: Option<String>,
    env: &[(&str, &str)],
    client: Client,
    scheme: &str,
) -> TestApp {
    let address_file = data_dir.path().join("address");
    let log_path = data_dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BOOKSTORE_LISTEN", "127.0.0.1:0")
        .env("BOOKSTORE_ADDRESS_FILE", &address_file)
        .env("BOOKSTORE_DATA_DIR", data_dir.path())
        .env("BOOKSTORE_LOG", "info")
        .env("BOOKSTORE_LOG_FORMAT", "json")
        .env("BOOKSTORE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        // No load balancer to wait for at SIGTERM (tests/api/graceful.rs sets one).
        .env("BOOKSTORE_SHUTDOWN_DRAIN", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(url) = &database_url {
        command.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start bookstore");
    let address = read_address(&mut child, &address_file, &log_path).await;
    TestApp {
        admin_token: String::new(),
        base: format!("{scheme}://{address}"),
        client,
        child: Some(child),
        data_dir,
        database_url,
        log_path,
        store: tokio::sync::OnceCell::new(),
    }
}

/// The address the server wrote once listening; panics with its log if it stopped instead.
async fn read_address(child: &mut Child, file: &Path, log: &Path) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.trim().parse().expect("an address");
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited ({status}) before listening; log:\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "server did not listen; log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    /// Waits until `/readyz` answers 200 (within a minute), then signs the admin in.
    pub async fn become_ready(&mut self) {
        self.wait_until_ready().await;
        self.admin_token = self.sign_in("admin", ADMIN_PASSWORD).await;
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A second server process on the same store and key-encryption key, with `env` on top:
    /// a replica. (Replicas must also share their issuer: give both the same
    /// `BOOKSTORE_PUBLIC_URL`.)
    pub async fn replica(&self, env: &[(&str, &str)]) -> TestApp {
        let data_dir = self.data_dir.path().display().to_string();
        let kek = self.data_dir.path().join("kek").display().to_string();
        let mut all = vec![
            ("BOOKSTORE_DATA_DIR", data_dir.as_str()),
            ("BOOKSTORE_KEK_FILE", kek.as_str()),
        ];
        all.extend_from_slice(env);
        start(self.database_url.clone(), &all, plain_client(), "http").await
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// Sends a signal (`HUP`, `TERM`...) to the server process.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A request as the bootstrap admin.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path).bearer_auth(&self.admin_token)
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.anonymous(Method::POST, "/auth/login")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login")
    }

    /// Signs in and returns the access token; panics unless it works.
    pub async fn sign_in(&self, username: &str, password: &str) -> String {
        let response = self.login(username, password).await;
        assert_eq!(
            response.status(),
            200,
            "sign-in of {username} failed:\n{}",
            self.logs()
        );
        body(response).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Creates a user as the admin and returns its id.
    pub async fn add_user(&self, username: &str, password: &str, role: &str) -> String {
        let response = self
            .post_json(
                "/users",
                &json!({"username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(response.status(), 201);
        body(response).await["id"].as_str().expect("id").to_owned()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a book and returns its v1 body; panics unless 201.
    pub async fn create_book(&self, body: Value) -> Value {
        let response = self.post_json("/books", &body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 201, "create failed: {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// A store handle on the same database, for asserting rows.
    pub async fn store(&self) -> &Store {
        self.store
            .get_or_init(|| async {
                Store::open(&StoreConfig {
                    database_url: self.database_url.clone(),
                    data_dir: self.data_dir.path().to_path_buf(),
                    max_connections: 2,
                    ..Default::default()
                })
                .await
                .expect("open store")
            })
            .await
    }

    pub async fn count(&self, table: &str) -> i64 {
        bookstore_store::testing::count_rows(self.store().await, table).await
    }

    /// Kills the process (SIGKILL: no shutdown at all) and waits for it to exit.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("did not exit in {limit:?}; log:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().expect("wait").is_none())
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop after SIGTERM; log:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub async fn body(response: Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

pub fn header(response: &Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

/// A valid ISBN-13 (978 prefix) numbered `n`.
pub fn isbn(n: u32) -> String {
    bookstore_core::Isbn::numbered(n).as_str().to_owned()
}

pub fn hobbit() -> Value {
    json!({
        "isbn": "978-0-261-10334-4",
        "title": "The Hobbit",
        "subtitle": "or There and Back Again",
        "authors": ["J. R. R. Tolkien"],
        "genres": ["Fantasy"],
        "publisher": "HarperCollins",
        "published_year": 1937,
        "language": "en",
        "format": "paperback",
        "page_count": 310,
        "price": {"amount_minor": 1299, "currency": "EUR"},
        "quantity": 4,
        "reorder_point": 2,
        "location": "F-12"
    })
}

/// Runs one async test body against each store: `sqlite` and `postgres` tests in a module.
#[macro_export]
macro_rules! both_stores {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

/// Tests that load the machine for many seconds (several servers under steady load, a database
/// restarted under load) take turns: two of them at once on a two-core machine starve each
/// other's servers and fail on time limits that hold when each runs beside the light tests.
pub async fn heavy_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}
